package server

import (
	"context"
	"runtime/debug"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/location/redisstore"
	"github.com/parley-sip/parley/memlimit"
)

// releaseEvery is how often the server looks for the end of a burst.
const releaseEvery = 5 * time.Second

// pressureEvery is how often the live heap is held against the limit:
// at 20 000 requests a second, 100 ms lets in a few MB before a 503.
const pressureEvery = 100 * time.Millisecond

// memoryFull reports whether the live heap is near the memory limit, for
// the transaction layer's admission (memlimit.Pressure).
func (s *Server) memoryFull() bool { return s.pressure.Load().Full() }

// startMemoryBound sets the runtime's memory limit from the config and
// starts the Releasers, which hand a burst's memory back once the heap
// allocation, or the live transactions, have fallen (package memlimit).
func (s *Server) startMemoryBound(ctx context.Context) {
	cfg := s.Config()
	limit := memlimit.Apply(cfg.Limits.MaxMemory, memlimit.Bounds{
		MaxInFlight:     cfg.Transaction.MaxInFlight,
		MaxTransactions: cfg.Transaction.MaxTransactions,
		CaptureBytes:    int64(cfg.Admin.CaptureBytes),
	})
	s.log.Debug("memory limit set", "bytes", limit, "configured", cfg.Limits.MaxMemory)
	p := memlimit.NewPressure(limit)
	if memlimit.Derived(cfg.Limits.MaxMemory) {
		p = memlimit.NewStatePressure(limit, heldState{s})
	}
	s.pressure.Store(p)
	s.bg.Go(func() { p.Run(ctx, clock.Default(), pressureEvery) })
	// Any burst, of connections as much as of requests, ends in idle
	// heap the runtime keeps: hand it back once the allocation falls.
	allocs := memlimit.NewAllocReleaser()
	allocated := memlimit.Allocated()
	s.bg.Go(func() { allocs.Run(ctx, clock.Default(), releaseEvery, allocated, debug.FreeOSMemory) })
	if s.txs == nil {
		return // stateless: no transactions, nothing a burst leaves behind
	}
	live := func() int64 { st := s.txs.Stats(); return st.ServerActive + st.ClientActive }
	r := memlimit.NewReleaser()
	// A burst worth a release is a tenth of what the bound allows, or
	// the Releaser's own minimum, whichever is smaller.
	r.Min = min(r.Min, int64(cfg.Transaction.MaxTransactions/10))
	s.bg.Go(func() { r.Run(ctx, clock.Default(), releaseEvery, live, debug.FreeOSMemory) })
}

// heldState counts, for memlimit, the state the server holds on purpose
// in its own heap, from the engines' own counters.
type heldState struct{ s *Server }

// Held implements [memlimit.Holder].
func (h heldState) Held() memlimit.State {
	s := h.s
	st := memlimit.State{Connections: int64(s.tp.Stats().Open)}
	// Redis holds its bindings out of the process, and counting them
	// there is a round trip per check.
	if _, remote := s.store.(*redisstore.Store); !remote && s.store != nil {
		n, _ := s.store.Count()
		st.Bindings = int64(n)
	}
	if s.b2b != nil {
		st.Calls = int64(s.b2b.Len())
	}
	if s.presence != nil {
		st.Subscriptions = int64(s.presence.n.Len())
	}
	return st
}
