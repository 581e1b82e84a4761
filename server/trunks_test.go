package server

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/config"
)

// TestTrunksWiring: with gateways and routes configured, the dial plan
// is a stage before location, a gateway's address is trusted (no
// challenge, relay allowed) and nothing else is; without them the
// chain is the default one.
func TestTrunksWiring(t *testing.T) {
	cfg := testConfig(t)
	cfg.Gateways = []config.GatewayConfig{{Name: "gw", Address: "sip:192.0.2.50:5060"}}
	cfg.Routes = []config.RouteConfig{{Name: "out", Prefix: "0", Gateways: []string{"gw"}}}
	s := startServer(t, cfg)
	var names []string
	for _, st := range s.proxy.StageStats() {
		names = append(names, st.Name)
	}
	i, j := slices.Index(names, "dialplan"), slices.Index(names, "location")
	if i < 0 || i+1 != j {
		t.Errorf("stages %v, want dialplan right before location", names)
	}
	pc := s.proxyConfig(s.Config(), nil, auth.Policies{})
	gw, other := netip.MustParseAddr("192.0.2.50"), netip.MustParseAddr("192.0.2.51")
	if !pc.Trusted(gw) || !pc.RelayTrusted(gw) {
		t.Error("the gateway's address is not trusted")
	}
	if pc.Trusted(other) || pc.RelayTrusted(other) {
		t.Error("another address is trusted")
	}
	if !s.guard.Trusted(gw) || s.guard.Trusted(other) {
		t.Error("the guard does not exempt exactly the gateway from rate limits")
	}
	if st := s.trunkStats(); st == nil || len(st.Gateways) != 1 || !st.Gateways[0].Up {
		t.Errorf("trunk stats %+v", st)
	}

	plain := startServer(t, testConfig(t))
	for _, st := range plain.proxy.StageStats() {
		if st.Name == "dialplan" {
			t.Error("a dialplan stage without trunks configured")
		}
	}
	if plain.trunkStats() != nil {
		t.Error("trunk stats without trunks")
	}
}
