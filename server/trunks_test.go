package server

import (
	"net/netip"
	"slices"
	"strings"
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
	// After local (requests to Parley itself), before every stage that
	// reads the dialled user (offline messages, location), which must see
	// it rewritten.
	l, i, j := slices.Index(names, "local"), slices.Index(names, "dialplan"), slices.Index(names, "location")
	if i < 0 || i < l || i > j || (slices.Contains(names, "message") && i > slices.Index(names, "message")) {
		t.Errorf("stages %v, want dialplan after local and before message and location", names)
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
	if tb := plain.trunks.stage.Table(); tb.Plan != nil || len(tb.DIDs) != 0 {
		t.Errorf("without trunks configured the dial plan routes %+v", tb)
	}
	if plain.trunkStats() != nil {
		t.Error("trunk stats without gateways")
	}
}

// TestReloadDialPlan: routes and DIDs change on reload; a route naming a
// gateway added since the start fails the reload, since gateways need a
// restart.
func TestReloadDialPlan(t *testing.T) {
	s, _, _ := reloadServer(t, func(cfg *config.Config) {
		cfg.Storage.Engine = config.EngineMemory
		cfg.Gateways = []config.GatewayConfig{{Name: "gw", Address: "sip:192.0.2.50:5060"}}
	})
	if s.trunks.stage.Table().Plan != nil {
		t.Fatal("a plan without routes")
	}
	next := *s.Config()
	next.Routes = []config.RouteConfig{{Name: "out", Prefix: "0", Gateways: []string{"gw"}}}
	next.DIDs = map[string]string{"+4930123": "alice"}
	if err := s.Reload(&next); err != nil {
		t.Fatal(err)
	}
	tb := s.trunks.stage.Table()
	if tb.Plan == nil || tb.DIDs["+4930123"] != "alice" || tb.Domain != "example.com" {
		t.Fatalf("after the reload: %+v", tb)
	}
	if r, _, ok := tb.Plan.Match("0301", "example.com"); !ok || r.Name != "out" {
		t.Errorf("the reloaded route does not match")
	}
	if p := s.ReloadState().PendingRestart; len(p) != 0 {
		t.Errorf("pending restart %v, want none", p)
	}

	bad := next
	bad.Gateways = append([]config.GatewayConfig{}, next.Gateways...)
	bad.Gateways = append(bad.Gateways, config.GatewayConfig{Name: "new", Address: "192.0.2.60"})
	bad.Routes = []config.RouteConfig{{Name: "out", Prefix: "0", Gateways: []string{"new"}}}
	if err := s.Reload(&bad); err == nil || !strings.Contains(err.Error(), "gateways") {
		t.Errorf("a route to a gateway that is not running: reload error %v", err)
	}
	if r, _, _ := s.trunks.stage.Table().Plan.Match("0301", "example.com"); r == nil || r.Gateways[0] != "gw" {
		t.Error("a failed reload changed the dial plan")
	}
}
