package memlimit

import (
	"context"
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
type Pressure struct {
	full  atomic.Bool
	live  func() int64
	limit int64
}

// PressureShare is the share of the limit, in eighths, that the live
// heap may reach before Pressure reports full: the rest is the
// collector's room for the garbage made between two collections, which
// at the rates a burst brings (20 000 INVITEs a second) is tens of MB.
const PressureShare = 6

// NewPressure returns a Pressure against limit, reading the live heap
// from the runtime.
func NewPressure(limit int64) *Pressure {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	return newPressure(limit, func() int64 {
		metrics.Read(s)
		return int64(s[0].Value.Uint64())
	})
}

func newPressure(limit int64, live func() int64) *Pressure {
	return &Pressure{live: live, limit: limit}
}

// Full reports whether the live heap was at PressureShare eighths of the
// limit at the last check. It is one atomic load, for a request's path.
func (p *Pressure) Full() bool { return p != nil && p.full.Load() }

// Check reads the live heap once and updates Full.
func (p *Pressure) Check() {
	p.full.Store(p.live() >= p.limit/8*PressureShare)
}

// Run checks every interval on clk until ctx ends.
func (p *Pressure) Run(ctx context.Context, clk clock.Clock, every time.Duration) {
	tickEvery(ctx, clk, every, p.Check)
}
