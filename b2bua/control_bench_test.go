package b2bua

import (
	"testing"
	"time"

	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/sessiontimer"
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
