package auth

import (
	"strings"
	"sync"
	"time"
)

// replayCache remembers the highest nonce-count seen for each nonce, so a
// captured request cannot be sent again with the same nc (RFC 7616 §3.3).
// An entry lives as long as its nonce is fresh; after that the nonce itself
// is refused, so forgetting the count is safe. The table is capped: when
// full, the oldest entries go first, which are also the ones closest to
// expiry. Each node has its own table; a replay sent to another node of a
// cluster is caught only by the nonce's age.
type replayCache struct {
	mu    sync.Mutex
	max   int
	seen  map[string]*ncEntry
	queue []string // nonces in the order first seen
	head  int      // queue[head:] are live
}

type ncEntry struct {
	nc      uint64
	expires time.Time
}

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, seen: make(map[string]*ncEntry)}
}

// accept records nc for nonce and reports whether it is higher than any
// count seen before for that nonce. The nonce is usually a substring of
// a request: a new entry keeps a copy, and a known one is updated in
// place, since assigning to a string key would store the caller's string.
func (r *replayCache) accept(nonce string, nc uint64, expires, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune(now)
	e, ok := r.seen[nonce]
	switch {
	case ok && nc <= e.nc:
		return false
	case ok:
		e.nc, e.expires = nc, expires
	default:
		nonce = strings.Clone(nonce)
		r.queue = append(r.queue, nonce)
		r.seen[nonce] = &ncEntry{nc: nc, expires: expires}
	}
	return true
}

// prune drops expired entries from the front of the queue, and the oldest
// ones while the table is full.
func (r *replayCache) prune(now time.Time) {
	for r.head < len(r.queue) {
		n := r.queue[r.head]
		if len(r.seen) < r.max && !r.seen[n].expires.Before(now) {
			break
		}
		delete(r.seen, n)
		r.queue[r.head] = ""
		r.head++
	}
	if r.head > len(r.queue)/2 {
		r.queue = append(r.queue[:0], r.queue[r.head:]...)
		r.head = 0
	}
}

func (r *replayCache) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}
