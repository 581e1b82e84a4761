package memlimit

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/clock"
)

// Pressure tells whether the live heap has reached a share of the
// memory limit, for admission to refuse new work before the collector
// is left with no room: a bound by count (max_in_flight) holds only as
// long as what each request holds stays what it was measured to be,
// while this one holds whatever a request is made of. The live heap is
// the one the last collection found, which near the limit is recent:
// the collector runs more often there.
//
// The limit has two parts. The transient one is for what requests leave
// behind (transactions, response contexts, captures), which a burst
// fills and which Ceiling caps. On top of it, with a Holder, comes the
// budget of the state the server holds on purpose (bindings, calls,
// subscriptions, connections), measured again at each check: without
// it, a registrar with a million bindings would answer their refreshes
// 503 and the collector would thrash at the limit.
type Pressure struct {
	full      atomic.Bool
	limit     atomic.Int64 // transient plus the state budget of the last check
	live      func() int64
	transient int64
	held      Holder      // nil: the limit is fixed
	set       func(int64) // sets the runtime's limit; nil leaves it alone
}

// PressureShare is the share of the transient limit, in eighths, that
// the live heap beyond the state budget may reach before Pressure
// reports full: the rest is the collector's room for the garbage made
// between two collections, which at the rates a burst brings (20 000
// INVITEs a second) is tens of MB. The state budget gets no such share:
// the garbage grows with the request rate, not with the state held.
const PressureShare = 6

// budgetStep is the granularity of the state budget, rounded down, so
// that a few registrations more or less do not reset the runtime's limit
// at each check, and a server holding next to nothing keeps the burst's
// limit exactly.
const budgetStep = 1 << 20

// NewPressure returns a Pressure against a fixed limit (one configured
// by limits.max_memory or GOMEMLIMIT, which covers the state too),
// reading the live heap from the runtime.
func NewPressure(limit int64) *Pressure {
	return newPressure(limit, nil, runtimeLive(), nil)
}

// NewStatePressure returns a Pressure against transient plus held's
// state budget, which at each check where that sum changes it also sets
// as the runtime's soft memory limit.
func NewStatePressure(transient int64, held Holder) *Pressure {
	return newPressure(transient, held, runtimeLive(), func(l int64) { debug.SetMemoryLimit(l) })
}

func runtimeLive() func() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	return func() int64 {
		metrics.Read(s)
		return int64(s[0].Value.Uint64())
	}
}

func newPressure(transient int64, held Holder, live func() int64, set func(int64)) *Pressure {
	p := &Pressure{live: live, transient: transient, held: held, set: set}
	p.limit.Store(transient)
	return p
}

// Full reports whether the live heap was past the threshold at the last
// check: PressureShare eighths of the transient limit plus the state
// budget. It is one atomic load, for a request's path.
func (p *Pressure) Full() bool { return p != nil && p.full.Load() }

// Limit returns the memory limit of the last check: the transient limit
// plus the state budget.
func (p *Pressure) Limit() int64 { return p.limit.Load() }

// Check counts the state, moves the limit with it, reads the live heap
// once and updates Full.
func (p *Pressure) Check() {
	var budget int64
	if p.held != nil {
		budget = p.held.Held().Budget() / budgetStep * budgetStep
	}
	limit := p.transient + budget
	if p.limit.Swap(limit) != limit && p.set != nil {
		p.set(limit)
	}
	p.full.Store(p.live() >= p.transient/8*PressureShare+budget)
}

// Run checks every interval on clk until ctx ends.
func (p *Pressure) Run(ctx context.Context, clk clock.Clock, every time.Duration) {
	tickEvery(ctx, clk, every, p.Check)
}
