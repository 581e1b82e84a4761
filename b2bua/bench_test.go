package b2bua

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/parley-sip/parley/transport"
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

// BenchmarkActiveCalls holds b.N answered calls at once, 40 s after
// their answer, and reports the heap each keeps (bytes/call): the
// B2BUA's state of a call in progress, its two dialogs and legs, with the
// fakes' own share (their record of every request sent) let go first.
func BenchmarkActiveCalls(b *testing.B) {
	t := &testing.T{}
	f := newFixture(t)
	f.b.cfg.Record = nil
	f.b.cfg.OnEnd = nil
	invite := golden(t, "invite.sip")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < b.N; i++ {
		tx := &serverTx{}
		in := &transport.Incoming{Msg: invite.Clone(), Proto: transport.UDP, Source: aliceAddr, Listener: listener}
		in.Msg.SetHeader("Call-ID", "call-"+strconv.Itoa(i))
		in.Msg.SetTopVia("SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-" + strconv.Itoa(i))
		f.b.takeCall(context.Background(), tx, in, Plan{}, []target{{uri: "sip:bob@203.0.113.9:5060"}})
		inv := f.txs.txs[len(f.txs.txs)-1]
		inv.answer(200, "bob-"+strconv.Itoa(i))
		f.deliver(aRequest(t, tx, "ACK", 10))
		tx.resps = nil // the fake's copy of what was sent
	}
	f.txs.txs, f.tp.acks, f.tp.dsts = nil, nil, nil
	f.clk.Advance(40 * time.Second) // a long hold: past 64*T1, nothing kept for retransmissions
	runtime.GC()
	runtime.ReadMemStats(&after)
	if f.b.Len() != b.N {
		b.Fatalf("%d calls held, want %d", f.b.Len(), b.N)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "bytes/call")
	// Spans in use: the calls' objects and the free slots of the spans
	// they share with the setup's garbage, which a GC cannot hand back.
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/float64(b.N), "spans-bytes/call")
	runtime.KeepAlive(f)
}
