package b2bua

import (
	"testing"

	"github.com/parley-sip/parley/cdr"
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
