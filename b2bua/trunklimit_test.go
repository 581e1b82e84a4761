package b2bua

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/sip"
)

// TestTrunkLimitFailover: a call out through a route's gateways counts
// against the trunk that carries it, not the route's first one. A
// gateway at its limit is skipped like a dead one (the backup is there
// for the calls the provider has no channel for); a failover moves the
// call's slot to the next trunk; only with every trunk of the route full
// does the caller get 503 Trunk Call Limit Reached, before any INVITE.
func TestTrunkLimitFailover(t *testing.T) {
	tests := []struct {
		name     string
		busy     []string // trunks another call already fills
		answers  []int    // the gateways' answers, in the order tried
		tried    []string // the hosts the INVITEs went to
		final    int
		reason   string
		gw1, gw2 int // the trunks' counts while the call is up
	}{
		{"first trunk free", nil, []int{200}, []string{"203.0.113.1"}, 200, "", 1, 0},
		{"first trunk full, the next carries it", []string{"gw1"}, []int{200}, []string{"203.0.113.2"}, 200, "", 1, 1},
		{"503 moves the slot to the next trunk", nil, []int{503, 200}, []string{"203.0.113.1", "203.0.113.2"}, 200, "", 0, 1},
		{"next trunk full after a 503", []string{"gw2"}, []int{503}, []string{"203.0.113.1"}, 503, "Service Unavailable", 0, 1},
		{"every trunk full", []string{"gw1", "gw2"}, nil, nil, 503, "Trunk Call Limit Reached", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := calllimit.New(calllimit.Limits{Trunks: map[string]int{"gw1": 1, "gw2": 1}, RetryAfter: 7 * time.Second})
			for _, name := range tt.busy {
				if _, refused := lim.Admit(calllimit.Keys{Trunk: name}); refused != nil {
					t.Fatal(refused)
				}
			}
			f := newFixture(t, func(c *Config) { c.Limits = lim })
			plan := Plan{Route: "out", Trunk: "gw1", DialledUser: "4930123", Destinations: []Destination{
				{URI: "sip:4930123@203.0.113.1", Trunk: "gw1"}, {URI: "sip:4930123@203.0.113.2", Trunk: "gw2"}}}
			aTx := f.dialPlan(plan)
			for i, code := range tt.answers {
				invs := f.txs.all("INVITE")
				if len(invs) != i+1 {
					t.Fatalf("after %d answers, %d INVITEs", i, len(invs))
				}
				invs[i].answer(code, "gw")
			}
			invs := f.txs.all("INVITE")
			if len(invs) != len(tt.tried) {
				t.Fatalf("%d INVITEs, want %v", len(invs), tt.tried)
			}
			for i, inv := range invs {
				if got := inv.req.RequestURI(); got != "sip:4930123@"+tt.tried[i] {
					t.Errorf("INVITE %d to %s, want %s", i, got, tt.tried[i])
				}
			}
			last := aTx.last()
			if last == nil || last.StatusCode() != tt.final {
				t.Fatalf("alice got %v, want %d", aTx.codes(), tt.final)
			}
			if tt.final == 503 && last.Reason() == "Trunk Call Limit Reached" && last.Header("Retry-After") != "7" {
				t.Errorf("Retry-After %q, want 7", last.Header("Retry-After"))
			}
			if tt.reason != "" && last.Reason() != tt.reason {
				t.Errorf("reason %q, want %q", last.Reason(), tt.reason)
			}
			if n1, n2 := lim.Active(calllimit.Trunk, "gw1"), lim.Active(calllimit.Trunk, "gw2"); n1 != tt.gw1 || n2 != tt.gw2 {
				t.Errorf("trunk counts gw1 %d gw2 %d, want %d %d", n1, n2, tt.gw1, tt.gw2)
			}
			if tt.final != 200 {
				return
			}
			f.deliver(aRequest(t, aTx, "ACK", 10))
			f.deliver(aRequest(t, aTx, "BYE", 11))
			busy := len(tt.busy)
			if n := lim.Active(calllimit.Trunk, "gw1") + lim.Active(calllimit.Trunk, "gw2"); n != busy {
				t.Errorf("after the BYE the trunks hold %d calls, want %d", n, busy)
			}
		})
	}
}

// TestTransferTrunkLimitFailover: a blind transfer out through a route's
// gateways takes the trunk of the gateway it tries, as a call does: a
// full first trunk is skipped for the next, and only with both full does
// the final NOTIFY say 503 Trunk Call Limit Reached, with no INVITE sent.
func TestTransferTrunkLimitFailover(t *testing.T) {
	gw1, gw2 := netip.MustParseAddrPort("127.0.0.1:6009"), netip.MustParseAddrPort("127.0.0.1:6010")
	router := func(_ context.Context, req *sip.Message) (Plan, bool) {
		u, _ := req.RequestURIParsed()
		return Plan{Route: "out", Trunk: "gw1", Destinations: []Destination{
			{URI: "sip:" + u.User + "@" + gw1.String(), Trunk: "gw1"},
			{URI: "sip:" + u.User + "@" + gw2.String(), Trunk: "gw2"}}}, true
	}
	lim := calllimit.New(calllimit.Limits{Trunks: map[string]int{"gw1": 1, "gw2": 1}, RetryAfter: 5 * time.Second})
	if _, refused := lim.Admit(calllimit.Keys{Trunk: "gw1"}); refused != nil {
		t.Fatal(refused)
	}
	h := newHarness(t, Control{}, Config{Router: router, Limits: lim})
	cl := h.dial("alice@example.com", Plan{})
	cl.answer()
	cl.fromB("REFER", 5, "Refer-To: <sip:+15551234@example.com>")
	if n1, n2 := len(h.net.requests("INVITE", gw1)), len(h.net.requests("INVITE", gw2)); n1 != 0 || n2 != 1 {
		t.Fatalf("INVITEs gw1 %d gw2 %d, want the full gw1 skipped", n1, n2)
	}
	if n := lim.Active(calllimit.Trunk, "gw2"); n != 1 {
		t.Fatalf("gw2 holds %d calls, want the transfer's", n)
	}
	transferRefused(t, h, "503 Trunk Call Limit Reached")
	if n1, n2 := len(h.net.requests("INVITE", gw1)), len(h.net.requests("INVITE", gw2)); n1 != 0 || n2 != 1 {
		t.Fatalf("INVITEs gw1 %d gw2 %d after the refused transfer, want 0 1", n1, n2)
	}
}

// dialPlan starts a call from alice's golden INVITE to plan's
// destinations, tried one by one.
func (f *fixture) dialPlan(plan Plan) *serverTx {
	ts := make([]target, len(plan.Destinations))
	for i, d := range plan.Destinations {
		ts[i] = target{uri: d.URI, trunk: d.Trunk}
	}
	aTx := &serverTx{}
	f.b.takeCall(f.t.Context(), aTx, aIncoming(f.t), plan, ts)
	return aTx
}

// transferRefused answers a second call, from bob, whose callee then
// transfers it to a number out through a trunk, and checks the final
// NOTIFY reports status (a limit's refusal).
func transferRefused(t *testing.T, h *harness, status string) {
	t.Helper()
	other := h.dial("bob@example.com", Plan{})
	other.answer()
	other.fromB("REFER", 5, "Refer-To: <sip:+15559999@example.com>")
	if frags := h.sipfrags(calleeAt); frags[len(frags)-1] != "SIP/2.0 "+status+" terminated" {
		t.Fatalf("NOTIFYs %q, want %s last", frags, status)
	}
}
