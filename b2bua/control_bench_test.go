package b2bua

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/sessiontimer"
	"github.com/parley-sip/parley/transport"
)

// BenchmarkCallControlled is BenchmarkCall with the call control on:
// session timers negotiated and armed on both legs, a maximum duration,
// and the call counted in the user, domain and trunk limits. Set beside
// BenchmarkCall it is what call control costs a call.
func BenchmarkCallControlled(b *testing.B) {
	t := &testing.T{}
	f := newFixture(t, func(c *Config) {
		c.Control = Control{SessionTimer: sessiontimer.Policy{Expires: 1800 * time.Second, MinSE: 90 * time.Second}, MaxDuration: time.Hour}
		c.Limits = calllimit.New(calllimit.Limits{PerUser: 10, PerDomain: 1000})
	})
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
	if f.clk.Pending() != 0 {
		b.Fatalf("%d timers left after every call ended", f.clk.Pending())
	}
}

// BenchmarkActiveCallsControlled is BenchmarkActiveCalls with session
// timers on both legs, a maximum duration and the limits on: the memory
// a held call costs with call control.
func BenchmarkActiveCallsControlled(b *testing.B) {
	t := &testing.T{}
	f := newFixture(t, func(c *Config) {
		c.Control = Control{SessionTimer: sessiontimer.Policy{Expires: 1800 * time.Second, MinSE: 90 * time.Second}, MaxDuration: 4 * time.Hour}
		c.Limits = calllimit.New(calllimit.Limits{PerUser: 1 << 30})
	})
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
		tx.resps = nil
	}
	f.txs.txs, f.tp.acks, f.tp.dsts = nil, nil, nil
	f.clk.Advance(40 * time.Second)
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
