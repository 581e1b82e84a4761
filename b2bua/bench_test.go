package b2bua

import (
	"testing"
)

// BenchmarkCall runs whole calls through the B2BUA on fakes: alice's
// INVITE, bob's 180 and 200, alice's ACK, bob's BYE. What it measures is
// the B2BUA's own work per call (both dialogs, the B INVITE, the
// responses rebuilt for alice, the ACK, the BYEs), not the transports'.
func BenchmarkCall(b *testing.B) {
	t := &testing.T{}
	f := newFixture(t)
	f.b.cfg.Record = nil
	f.b.cfg.OnEnd = nil
	b.ReportAllocs()
	for b.Loop() {
		f.txs.txs = f.txs.txs[:0]
		aTx, _ := f.call(Plan{}, "sip:bob@203.0.113.9:5060")
		inv := f.txs.txs[0]
		inv.answer(180, "bob-1")
		inv.answer(200, "bob-1")
		f.deliver(aRequest(t, aTx, "ACK", 10))
		f.deliver(bRequest(t, inv.req, "bob-1", "BYE", 1))
	}
	if f.b.Len() != 0 {
		b.Fatalf("%d calls left", f.b.Len())
	}
}
