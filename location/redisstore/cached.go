package redisstore

import (
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/location"
)

const (
	// cachedBits is the size of each generation's filter: with a few
	// tens of thousands of AORs looked up per minute, a few per cent of
	// the others' updates pay a fence they did not need.
	cachedBits = 1 << 18
	// cachedGens is how many generations the filter keeps: the two an
	// update consults, the one being cleared for the next, and a spare,
	// so that a clear late by up to a whole generation never wipes one
	// still in use.
	cachedGens = 4
)

// cached is which AORs this node may hold in its client-side cache: an
// update of one of them needs the fence that makes the node's next
// Lookup read its own write (see Store.exec), an update of any other
// does not, since there is no cached copy to go stale. A REGISTER's AOR
// is seldom one a call looked up in the last minute or two, so most
// updates skip the fence and Redis runs one command for them, not two.
//
// It is a Bloom-like filter of one bit per AOR, per generation of
// cacheTTL: a Lookup sets the AOR's bit in the current generation, and
// an update consults the current and the previous one, which together
// cover the whole life of any copy the cache holds (at most cacheTTL
// from the read that filled it). A bit wrongly set costs a fence; a bit
// is never missing while the copy it stands for may live.
type cached struct {
	// elapsed is the time since the filter started (monotonic):
	// generation g is [g·cacheTTL, (g+1)·cacheTTL) of it.
	elapsed func() time.Duration
	cleared atomic.Int64
	gens    [cachedGens][cachedBits / 64]atomic.Uint64
}

func newCached() *cached {
	start := time.Now()
	return &cached{elapsed: func() time.Duration { return time.Since(start) }}
}

// gen is the current generation, and clears the one after next once per
// generation (the one two generations old, which no update consults).
func (c *cached) gen() int64 {
	g := int64(c.elapsed() / cacheTTL)
	if old := c.cleared.Load(); old < g && c.cleared.CompareAndSwap(old, g) {
		next := &c.gens[(g+2)%cachedGens]
		for i := range next {
			next[i].Store(0)
		}
	}
	return g
}

// bit is aor's word and mask in a generation's filter.
func bit(aor string) (int, uint64) {
	// HashAOR's low bits also pick the bucket and the lock shard: mix
	// them so that the filter's bits do not follow those.
	h := uint64(location.HashAOR(aor)) * 0x9e3779b97f4a7c15 >> (64 - 18)
	return int(h / 64), 1 << (h % 64)
}

// mark records that the cache may hold aor from now until cacheTTL after
// the read that is about to fill it. Lookup marks before its read, so
// that an update racing with the read sees the mark, and after it, so
// that the generation marked is not older than the copy.
func (c *cached) mark(aor string) {
	w, m := bit(aor)
	word := &c.gens[c.gen()%cachedGens][w]
	if word.Load()&m == 0 {
		word.Or(m)
	}
}

// may reports whether the cache may hold aor.
func (c *cached) may(aor string) bool {
	w, m := bit(aor)
	g := c.gen()
	return c.gens[g%cachedGens][w].Load()&m != 0 || c.gens[(g+cachedGens-1)%cachedGens][w].Load()&m != 0
}
