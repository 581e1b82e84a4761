package location

import (
	"hash/maphash"
	"strings"
	"sync/atomic"
)

// The User-Agent of a binding is interned so that the thousands of phones
// of one model share one copy. unique.Make would do that, but it looks
// values up through weak pointers, and a weak pointer's Value blocks the
// calling goroutine while the collector finishes its mark phase: a
// registration interning inside Update then held its shard's lock for
// that whole wait (up to 153 ms in BenchmarkMillionPauses at load 16).
// This table never blocks.
//
// It is direct-mapped: a value goes in the one slot its hash picks and
// replaces whatever was there, so a flood of distinct User-Agents costs
// sharing, never memory beyond the table. The few values a deployment
// sees rarely collide in internSlots slots.
const (
	internSlots = 4096
	// internMax bounds what the table pins: longer values are copied per
	// binding instead, as any other string of the binding is.
	internMax = 256
)

var (
	internSeed = maphash.MakeSeed()
	interned   [internSlots]atomic.Pointer[string]
)

// intern returns a copy of s that bindings with the same value share. It
// never returns the caller's memory, so the result never pins a buffer
// that s is a view of.
func intern(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > internMax {
		return strings.Clone(s)
	}
	slot := &interned[maphash.String(internSeed, s)&(internSlots-1)]
	if p := slot.Load(); p != nil && *p == s {
		return *p
	}
	c := strings.Clone(s)
	slot.Store(&c)
	return c
}
