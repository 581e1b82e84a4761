// Package memlimit bounds the memory the Go runtime keeps for Parley: it
// sets the runtime's soft memory limit from the server's bounds, and after
// a burst hands the memory the burst used back to the system.
//
// Why both: the bounds (transaction.max_in_flight and max_transactions)
// cap what requests can leave behind, so the heap has a ceiling; the
// limit tells the collector where that ceiling is, so that near it the
// collector works harder instead of letting the heap reach twice its live
// size (GOGC). Neither returns memory once the load is gone: the
// collector runs only as the heap grows, and a server gone quiet after a
// burst keeps its peak resident, which is what the Releaser is for.
//
// The bounds cap only what requests leave behind; the state a server holds
// on purpose (bindings, calls, subscriptions, connections) is its job, so
// the derived limit grows with it (State, Pressure).
package memlimit

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/parley-sip/parley/clock"
)

// Bounds are the configured bounds the limit is derived from.
type Bounds struct {
	MaxInFlight     int   // transaction.max_in_flight
	MaxTransactions int   // transaction.max_transactions, lingering ones included
	CaptureBytes    int64 // admin.capture_bytes: the capture ring's budget
}

// The terms of the derived limit, from the figures in docs/PERFORMANCE.md
// (issue 20): an INVITE in flight through the proxy to a phone that does
// not answer (its request and typed headers, client transaction, response
// context, the forwarded copy and the admin capture's tracking) holds
// about 10 KiB of heap; a completed transaction kept to absorb
// retransmissions about 0.6 KiB off the heap, more on it. Base is the server itself with room for
// a few hundred thousand registrations.
const (
	Base           = 256 << 20
	PerInFlight    = 10 << 10
	PerTransaction = 1 << 10
)

// Ceiling caps the derived limit: the bounds' worst case, every one of
// them full at once, is well over what a server of the defaults may take
// (issue 20: at most 512 MB resident through a burst), and a limit above
// that never bites. The runtime's limit covers all the memory it maps,
// heap, stacks and its own; the rest of the resident set (the binary,
// the C library) is a few tens of MB. Set limits.max_memory for more.
const Ceiling = 448 << 20

// Derive returns the limit the bounds call for: Base, plus PerInFlight
// for each transaction that may be in flight, plus PerTransaction for
// each that may linger, plus the capture budget, and no more than
// Ceiling. Below Ceiling it is a ceiling with headroom, not a target:
// the collector works harder only near it. At Ceiling the bounds could
// fill the limit, which is what Pressure is for.
func Derive(b Bounds) int64 {
	inFlight := min(b.MaxInFlight, b.MaxTransactions) // the total bounds these too
	lingering := b.MaxTransactions - inFlight
	return min(Base+int64(inFlight)*PerInFlight+int64(lingering)*PerTransaction+max(b.CaptureBytes, 0), Ceiling)
}

// Apply sets the runtime's soft memory limit to limit, or to Derive(b)
// when limit is 0, and returns what it set. GOMEMLIMIT in the environment
// wins, as the Go runtime documents it: Apply then leaves the limit alone
// and returns it.
func Apply(limit int64, b Bounds) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	if Derived(limit) {
		limit = Derive(b)
	}
	debug.SetMemoryLimit(limit)
	return limit
}

// Derived reports whether Apply derives the limit from the bounds, for
// the configured limit: one set by limits.max_memory or GOMEMLIMIT is
// the operator's whole budget, state included, and stays as set.
func Derived(configured int64) bool {
	return configured <= 0 && os.Getenv("GOMEMLIMIT") == ""
}

// AllocBurst is how much heap one check's interval must allocate,
// garbage included, for its end to be worth a release: a burst of new
// connections (a TLS handshake with an ML-KEM key share allocates tens
// of KiB that end as garbage at once) leaves the heap's room for growth,
// up to twice the live heap at GOGC=100, resident and idle, and the
// runtime's background scavenger hands back only what exceeds the heap
// goal of the last collection, which an idle server seldom runs.
const AllocBurst = 32 << 20

// NewAllocReleaser returns a Releaser for Allocated's load: a release
// once one check's allocation falls to a quarter of a peak of at least
// AllocBurst, and one more at the next check if it stays that low.
func NewAllocReleaser() *Releaser { return &Releaser{Min: AllocBurst, Settle: 1} }

// Allocated returns a load for Run: the bytes the program allocated on
// the heap since the previous call (or since Allocated itself), from the
// runtime's cumulative count, so that a quiet server after a busy one
// reads as a fall whatever the busy part was made of.
func Allocated() func() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	last := s[0].Value.Uint64()
	return func() int64 {
		metrics.Read(s)
		now := s[0].Value.Uint64()
		d := now - last
		last = now
		return int64(d)
	}
}

// Releaser decides when a burst is over. Every check it sees the load (a
// count such as the live transactions); once the load has fallen to a
// quarter of its peak since the last release, it releases, and goes on
// releasing at the next Settle checks while the load stays that low: what
// the burst left (lingering transactions, response contexts waiting for a
// late CANCEL) ends over the following half-minute, and each release
// hands back what ended since the one before. Loads whose peak stays
// under Min never trigger a release: a forced collection costs more than
// the little it would return. The zero value is not usable; use
// NewReleaser.
type Releaser struct {
	Min    int64
	Settle int
	peak   int64 // highest load since the last trigger
	low    int64 // the load a release follows, while settling
	left   int   // settling releases still to come
}

// NewReleaser returns a Releaser with Min 10 000 and Settle 8 (with
// checks 5 s apart, 40 s of releases after a burst).
func NewReleaser() *Releaser { return &Releaser{Min: 10_000, Settle: 8} }

// Observe records one check's load and reports whether to release now.
func (r *Releaser) Observe(load int64) bool {
	r.peak = max(r.peak, load)
	if r.left > 0 {
		r.left--
		if load <= r.low {
			r.peak = load
			return true
		}
		r.left = 0 // a new burst: wait for its own peak
	}
	if r.peak >= r.Min && load <= r.peak/4 {
		r.low = r.peak / 4
		r.peak = load
		r.left = r.Settle
		return true
	}
	return false
}

// Run checks load every interval on clk until ctx ends, and calls free
// (debug.FreeOSMemory in production) when r says so.
func (r *Releaser) Run(ctx context.Context, clk clock.Clock, every time.Duration, load func() int64, free func()) {
	tickEvery(ctx, clk, every, func() {
		if r.Observe(load()) {
			free()
		}
	})
}

// tickEvery calls f every interval on clk until ctx ends.
func tickEvery(ctx context.Context, clk clock.Clock, every time.Duration, f func()) {
	tick := make(chan struct{}, 1)
	for {
		t := clk.AfterFunc(every, func() { tick <- struct{}{} })
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-tick:
		}
		f()
	}
}
