package server

import (
	"slices"
	"testing"
	"time"

	"github.com/parley-sip/parley/b2bua"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/observe"
	"github.com/parley-sip/parley/sip"
)

// TestTrunksB2BUA: with a b2bua route the B2BUA is built in mode
// stateful, its route stage comes after the dial plan (which rewrites
// local routes and answers 503 for dead gateways) and before location;
// the router takes b2bua routes to gateways only, every gateway route in
// mode b2bua, none in mode stateless; the accounts carry the gateways'
// credentials, a registering account's AOR as From, and the identity
// header asked for.
func TestTrunksB2BUA(t *testing.T) {
	invite := func(t *testing.T, user string) *sip.Message {
		m, err := sip.NewRequestBuilder("INVITE", "sip:"+user+"@example.com").
			Header("Via", "SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK-1").Header("From", "<sip:alice@example.com>;tag=1").
			Header("To", "<sip:"+user+"@example.com>").Header("Call-ID", "c1").Header("CSeq", "1 INVITE").Message("", nil)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tests := []struct {
		mode             config.Mode
		national, direct bool // the router takes the b2bua route, the other one
	}{
		{config.ModeStateful, true, false},
		{config.ModeB2BUA, true, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Mode = tt.mode
			cfg.Gateways = []config.GatewayConfig{
				{Name: "provider", Address: "sip:192.0.2.50:5060", Username: "4930123456", Password: "pw", Register: true, Registrar: "sip:reg.provider.example"},
				{Name: "pbx", Address: "sip:192.0.2.51:5060", FromUser: "office", IdentityHeader: "ppi", IdentityUser: "4930123400"}}
			cfg.Routes = []config.RouteConfig{
				{Name: "extensions", Regex: config.MustRegexp(`^\*(2\d\d)$`), Replace: "$1", Local: true, B2BUA: true},
				{Name: "national", Prefix: "0", CountryCode: "49", Gateways: []string{"provider", "pbx"}, B2BUA: true},
				{Name: "direct", Prefix: "9", Gateways: []string{"pbx"}}}
			s := startServer(t, cfg)
			if s.b2b == nil {
				t.Fatal("no B2BUA for a b2bua route")
			}
			var names []string
			for _, st := range s.proxy.StageStats() {
				names = append(names, st.Name)
			}
			d, r, l := slices.Index(names, "dialplan"), slices.Index(names, b2bua.RouteStageName), slices.Index(names, "location")
			if d < 0 || r < d || l < r {
				t.Errorf("stages %v, want dialplan, then b2bua-route, then location", names)
			}
			route := s.trunks.router(s.Config())
			p, ok := route(t.Context(), invite(t, "0301234"))
			want := []b2bua.Destination{{URI: "sip:+49301234@192.0.2.50:5060", Trunk: "provider"}, {URI: "sip:+49301234@192.0.2.51:5060", Trunk: "pbx"}}
			if ok != tt.national || ok && (p.Route != "national" || p.Trunk != "provider" || p.DialledUser != "0301234" || !slices.Equal(p.Destinations, want)) {
				t.Errorf("national: %+v, %v", p, ok)
			}
			if _, ok := route(t.Context(), invite(t, "9555")); ok != tt.direct {
				t.Errorf("direct route taken: %v, want %v", ok, tt.direct)
			}
			if _, ok := route(t.Context(), invite(t, "*201")); ok {
				t.Error("the router took a local route, which location must resolve")
			}
			if acc, _ := s.trunkAccount("provider"); acc != (b2bua.TrunkAccount{Username: "4930123456", Password: "pw", FromUser: "4930123456", FromHost: "reg.provider.example"}) {
				t.Errorf("provider's account %+v", acc)
			}
			if acc, _ := s.trunkAccount("pbx"); acc != (b2bua.TrunkAccount{FromUser: "office", IdentityHeader: b2bua.HeaderPPI, IdentityUser: "4930123400"}) {
				t.Errorf("pbx's account %+v", acc)
			}
		})
	}
	cfg := testConfig(t)
	cfg.Mode = config.ModeStateless
	cfg.Gateways = []config.GatewayConfig{{Name: "gw", Address: "sip:192.0.2.50:5060"}}
	cfg.Routes = []config.RouteConfig{{Name: "out", Prefix: "0", Gateways: []string{"gw"}, B2BUA: true}}
	s := startServer(t, cfg)
	if p, ok := s.trunks.stage.Table().Plan.Route(t.Context(), invite(t, "0301")); s.b2b != nil || !ok || p.B2BUA {
		t.Errorf("mode stateless: B2BUA built %v, plan %+v: the route must be proxied", s.b2b != nil, p)
	}
}

// TestInboundVia: gateways' calls go through the B2BUA in mode b2bua,
// and in mode stateful only with b2bua.inbound.
func TestInboundVia(t *testing.T) {
	for _, tt := range []struct {
		mode    config.Mode
		inbound bool
		want    bool
	}{
		{config.ModeStateful, false, false},
		{config.ModeStateful, true, true},
		{config.ModeB2BUA, false, true},
		{config.ModeStateless, true, false},
	} {
		cfg := config.Default()
		cfg.Mode, cfg.B2BUA.Inbound = tt.mode, tt.inbound
		if got := (&Server{}).inboundVia(cfg) != nil; got != tt.want {
			t.Errorf("%s, inbound %v: through the B2BUA %v, want %v", tt.mode, tt.inbound, got, tt.want)
		}
	}
}

// TestProxiedRecordRouting: a proxied call's record names the gateway
// that answered or that the call came from (trunk), the dial plan route
// that took it or "local" for a local user no route took (route), and
// what was dialled: for a trunk's call, the DID as the provider wrote it
// (in the Request-URI or in To), with the user it rang as callee.
func TestProxiedRecordRouting(t *testing.T) {
	cfg := testConfig(t)
	cfg.Gateways = []config.GatewayConfig{{Name: "gw", Address: "sip:192.0.2.50:5060"}}
	cfg.Routes = []config.RouteConfig{{Name: "national", Prefix: "0", Gateways: []string{"gw"}},
		{Name: "extensions", Prefix: "*", Strip: 1, Local: true}}
	cfg.DIDs = map[string]string{"+4930123456": "alice"}
	s := startServer(t, cfg)
	for _, tt := range []struct {
		name                          string
		call                          observe.Call
		trunk, route, dialled, callee string
	}{
		{"out through a gateway", observe.Call{RequestURI: "sip:0301@example.com", Callee: "<sip:0301@example.com>", Source: "192.0.2.7:5062",
			CalleeTarget: "sip:gw@192.0.2.50:5060"}, "gw", "national", "0301", "sip:0301@example.com"},
		{"to a gateway that did not answer", observe.Call{RequestURI: "sip:0301@example.com", Callee: "<sip:0301@example.com>", Source: "192.0.2.7:5062"},
			"", "national", "0301", "sip:0301@example.com"},
		{"DID in the Request-URI", observe.Call{RequestURI: "sip:+4930123456@192.0.2.10", Callee: "<sip:+4930123456@provider.example>",
			Source: "192.0.2.50:5060", CalleeTarget: "sip:alice@192.0.2.8"}, "gw", "local", "+4930123456", "sip:alice@example.com"},
		{"DID in To, to the registered Contact", observe.Call{RequestURI: "sip:office@192.0.2.10", Callee: "Office <sip:4930123456@provider.example>",
			Source: "192.0.2.50:5060", CalleeTarget: "sip:alice@192.0.2.8"}, "gw", "local", "4930123456", "sip:alice@example.com"},
		{"between phones", observe.Call{RequestURI: "sip:bob@example.com", Callee: "<sip:bob@example.com>", Source: "192.0.2.7:5062",
			CalleeTarget: "sip:bob@192.0.2.8"}, "", "local", "bob", "sip:bob@example.com"},
		{"through a local route", observe.Call{RequestURI: "sip:*201@example.com", Callee: "<sip:*201@example.com>", Source: "192.0.2.7:5062",
			CalleeTarget: "sip:201@192.0.2.8"}, "", "extensions", "*201", "sip:*201@example.com"},
		{"relayed to another domain", observe.Call{RequestURI: "sip:carol@elsewhere.example", Callee: "<sip:carol@elsewhere.example>",
			Source: "192.0.2.7:5062", CalleeTarget: "sip:carol@198.51.100.9"}, "", "", "carol", "sip:carol@elsewhere.example"},
	} {
		tt.call.State = observe.CallEnded
		r := s.proxiedRecord(&tt.call, "n1", time.Now())
		if r.Trunk != tt.trunk || r.Route != tt.route || r.Dialled != tt.dialled || r.Callee != tt.callee {
			t.Errorf("%s: trunk %q route %q dialled %q callee %q, want %q %q %q %q", tt.name, r.Trunk, r.Route, r.Dialled, r.Callee,
				tt.trunk, tt.route, tt.dialled, tt.callee)
		}
	}
}
