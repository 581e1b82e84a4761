package auth

import (
	"container/list"
	"net/netip"
	"sync"
	"time"

	"github.com/parley-sip/parley/guard"
)

// failureTable counts failed authentications per source and blocks a
// source that fails too often, as fail2ban does from a log, but in
// process: no log parsing, no firewall rule, no delay.
//
// Sources are counted as the guard counts them (guard.SourceKey): an
// IPv6 source by its /64, since one host owns a whole /64 and could
// otherwise step to a fresh address for every guess. The table holds at
// most max sources; when full, the one idle longest is dropped.
type failureTable struct {
	mu  sync.Mutex
	max int
	m   map[netip.Addr]*list.Element
	lru *list.List // of *source, most recently touched at the front

	failures    uint64
	blocksTotal uint64

	// blocks in force, oldest first, so that their ends can be logged;
	// at most max of them are followed.
	blocks []block
}

// block is one source blocked until a time.
type block struct {
	key   netip.Addr
	until time.Time
}

type source struct {
	key          netip.Addr
	failures     int
	windowStart  time.Time
	blockedUntil time.Time
}

func newFailureTable(max int) *failureTable {
	return &failureTable{max: max, m: make(map[netip.Addr]*list.Element), lru: list.New()}
}

// blocked reports whether a is blocked at now.
func (f *failureTable) blocked(a netip.Addr, now time.Time) bool {
	if !a.IsValid() {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.m[guard.SourceKey(a)]
	return ok && now.Before(e.Value.(*source).blockedUntil)
}

// fail counts a failure from a and reports whether it blocked a now: the
// limit-th failure within window blocks for blockFor. A limit below 1
// counts without blocking.
func (f *failureTable) fail(a netip.Addr, now time.Time, limit int, window, blockFor time.Duration) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures++
	if !a.IsValid() {
		return false
	}
	s := f.touch(guard.SourceKey(a))
	if now.Sub(s.windowStart) > window || !s.blockedUntil.IsZero() && !now.Before(s.blockedUntil) {
		// A new window, or the first failure after a block ran out.
		s.failures, s.windowStart, s.blockedUntil = 0, now, time.Time{}
	}
	s.failures++
	if limit < 1 || s.failures < limit || now.Before(s.blockedUntil) {
		return false
	}
	s.blockedUntil = now.Add(blockFor)
	f.blocksTotal++
	if len(f.blocks) < f.max {
		f.blocks = append(f.blocks, block{key: s.key, until: s.blockedUntil})
	}
	return true
}

// ended removes and returns the blocks that have run out at now. Every
// block lasts the same time, so they end in the order they began.
func (f *failureTable) ended(now time.Time) []netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for n < len(f.blocks) && !now.Before(f.blocks[n].until) {
		n++
	}
	if n == 0 {
		return nil
	}
	out := make([]netip.Addr, n)
	for i := range n {
		out[i] = f.blocks[i].key
	}
	f.blocks = append(f.blocks[:0], f.blocks[n:]...)
	return out
}

// touch returns the entry of key, creating it and evicting the idlest
// entry when the table is full, and marks it most recently used.
func (f *failureTable) touch(key netip.Addr) *source {
	if e, ok := f.m[key]; ok {
		f.lru.MoveToFront(e)
		return e.Value.(*source)
	}
	if f.lru.Len() >= f.max {
		old := f.lru.Back()
		f.lru.Remove(old)
		delete(f.m, old.Value.(*source).key)
	}
	s := &source{key: key}
	f.m[key] = f.lru.PushFront(s)
	return s
}

// stats returns the counters and how many sources are blocked at now.
func (f *failureTable) stats(now time.Time) (failures, blocksTotal uint64, blockedNow, tracked int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for e := f.lru.Front(); e != nil; e = e.Next() {
		if now.Before(e.Value.(*source).blockedUntil) {
			blockedNow++
		}
	}
	return f.failures, f.blocksTotal, blockedNow, f.lru.Len()
}
