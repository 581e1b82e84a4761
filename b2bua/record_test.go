package b2bua

import (
	"net/netip"
	"testing"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// TestHangupReasons: the records of calls ended by a BYE say so in the
// words the proxy's records use (README's field table): "hung up", with
// the party in hung_up_by; a BYE before the answer ends the call 487.
func TestHangupReasons(t *testing.T) {
	tests := []struct {
		name   string
		end    func(t *testing.T, f *fixture, aTx *serverTx, inv *clientTx)
		answer bool
		by     cdr.Party
		status int
		reason string
	}{
		{"caller hangs up", func(t *testing.T, f *fixture, aTx *serverTx, _ *clientTx) {
			f.deliver(aRequest(t, aTx, "BYE", 11))
		}, true, cdr.Caller, 200, "hung up"},
		{"callee hangs up", func(t *testing.T, f *fixture, _ *serverTx, inv *clientTx) {
			f.deliver(bRequest(t, inv.req, "bob-1", "BYE", 1))
		}, true, cdr.Callee, 200, "hung up"},
		{"callee hangs up before the answer", func(t *testing.T, f *fixture, _ *serverTx, inv *clientTx) {
			f.deliver(bRequest(t, inv.req, "bob-1", "BYE", 1))
		}, false, cdr.Callee, 487, "hung up before the answer"},
		{"server stops", func(t *testing.T, f *fixture, _ *serverTx, _ *clientTx) {
			f.b.Stop()
		}, true, cdr.System, 200, "server stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			aTx, _ := f.call(Plan{}, "sip:bob@203.0.113.9:5060")
			inv := f.txs.all("INVITE")[0]
			inv.answer(180, "bob-1")
			if tt.answer {
				inv.answer(200, "bob-1")
				f.deliver(aRequest(t, aTx, "ACK", 10))
			}
			tt.end(t, f, aTx, inv)
			if len(f.records) != 1 {
				t.Fatalf("%d records", len(f.records))
			}
			r := f.records[0]
			if r.HungUpBy != tt.by || r.Status != tt.status || r.Reason != tt.reason {
				t.Errorf("record: hung_up_by %q, status %d, reason %q; want %q, %d, %q",
					r.HungUpBy, r.Status, r.Reason, tt.by, tt.status, tt.reason)
			}
		})
	}
}

// TestLocatedRouting: a call the Located stage takes (a phone's, or a
// trunk's to a DID) is recorded, and listed, with what Config.Routing
// says of its Request-URI as it arrived, before the dial plan's DID or
// local route rewrote it, and the callee it names (a DID's user); the
// B leg's To stays the caller's. Without Routing the record keeps the
// Request-URI's user as it arrived, and the To.
func TestLocatedRouting(t *testing.T) {
	tests := []struct {
		name                   string
		routing                bool
		dialled, route, callee string
		wantRURI, wantTo       string
		wantCallee             string
	}{
		{"a trunk's DID", true, "+4930123456", "local", "sip:201@example.com", "sip:bob@example.com", "sip:bob@example.com", "sip:201@example.com"},
		{"a local route", true, "*201", "extensions", "", "sip:bob@example.com", "sip:bob@example.com", "sip:bob@example.com"},
		{"no Routing", false, "bob", "", "", "", "", "sip:bob@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []string
			f := newFixture(t, func(c *Config) {
				c.Inbound = func(*transport.Incoming) (string, bool) { return "provider", true }
				if tt.routing {
					c.Routing = func(src netip.Addr, ruri, to sip.URI) Origin {
						asked = append(asked, src.String(), ruri.String(), to.String())
						return Origin{Dialled: tt.dialled, Route: tt.route, Callee: tt.callee}
					}
				}
			})
			msg := golden(t, "invite.sip")
			msg.SetRequestURI("sip:201@example.com") // as the dial plan stage rewrites it
			tx := &serverTx{}
			in := &transport.Incoming{Msg: msg, Proto: transport.UDP, Source: aliceAddr, Listener: listener}
			taken := true
			f.b.serveLocated(&proxy.Request{Tx: tx, In: in, Msg: msg, Targets: []proxy.Target{{URI: "sip:201@203.0.113.9:5060"}}},
				func() { taken = false })
			if !taken {
				t.Fatal("the Located stage passed the call on")
			}
			if tt.routing && (len(asked) != 3 || asked[0] != aliceAddr.Addr().String() || asked[1] != tt.wantRURI || asked[2] != tt.wantTo) {
				t.Errorf("Routing asked with %q, want the source, %s and %s", asked, tt.wantRURI, tt.wantTo)
			}
			inv := f.txs.all("INVITE")[0]
			if to := inv.req.Header("To"); to != "<sip:bob@example.com>" {
				t.Errorf("B leg To %q, want the caller's", to)
			}
			inv.answer(200, "bob-1")
			infos := f.b.Calls()
			if len(infos) != 1 || infos[0].Dialled != tt.dialled || infos[0].Route != tt.route || infos[0].Trunk != "provider" ||
				infos[0].Callee != tt.wantCallee {
				t.Errorf("listed %+v, want dialled %q route %q callee %q trunk provider", infos, tt.dialled, tt.route, tt.wantCallee)
			}
			f.deliver(aRequest(t, tx, "ACK", 10))
			f.deliver(aRequest(t, tx, "BYE", 11))
			if len(f.records) != 1 {
				t.Fatalf("%d records", len(f.records))
			}
			if r := f.records[0]; r.Dialled != tt.dialled || r.Route != tt.route || r.Trunk != "provider" || r.Callee != tt.wantCallee {
				t.Errorf("record dialled %q route %q callee %q trunk %q, want %q %q %q provider",
					r.Dialled, r.Route, r.Callee, r.Trunk, tt.dialled, tt.route, tt.wantCallee)
			}
		})
	}
}
