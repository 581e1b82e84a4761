package guard

import (
	"net/netip"
	"sync"
)

// evictSample is how many entries a full table looks at to choose one to
// forget (Redis's approximated LRU): exact LRU order would cost a list
// update under the lock on every message.
const evictSample = 8

// verdict is what a table decided for one message.
type verdict uint8

const (
	admitted verdict = iota
	limited
	banned
	newlyBanned
)

// source is one address's token bucket and ban. Times are nanoseconds
// since the guard started.
type source struct {
	tokens      float64
	last        int64 // when tokens were last refilled
	seen        int64 // the last message, admitted or not: for eviction
	overSince   int64 // start of the current over-limit episode; 0 when none
	lastOver    int64 // the last message refused for the rate
	bannedUntil int64
}

// table is one shard of the sources, with its own lock and counters.
type table struct {
	mu  sync.Mutex
	max int
	m   map[netip.Addr]*source

	admitted, limited, banned, bans, evicted uint64
}

func (t *table) init(max int) {
	t.max = max
	t.m = make(map[netip.Addr]*source)
}

// admit meters one message from key at now.
func (t *table) admit(key netip.Addr, now int64, r *rules) verdict {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.m[key]
	if s == nil {
		s = t.insert(key, now, r)
	}
	s.seen = now
	v := s.admit(now, r)
	switch v {
	case admitted:
		t.admitted++
	case limited:
		t.limited++
	case banned:
		t.banned++
	case newlyBanned:
		t.limited++
		t.bans++
	}
	return v
}

// insert adds a source with a full bucket, forgetting one first when the
// table is full.
func (t *table) insert(key netip.Addr, now int64, r *rules) *source {
	if len(t.m) >= t.max {
		t.evict(now)
	}
	s := &source{tokens: r.burst, last: now}
	t.m[key] = s
	return s
}

// evict forgets the idlest of a few entries, sparing bans in force when
// the sample holds any other: a flood of fresh (or spoofed) addresses
// must not be able to wash a ban out of the table cheaply.
func (t *table) evict(now int64) {
	var victim netip.Addr
	var best *source
	n := 0
	for k, s := range t.m {
		if best == nil || s.better(best, now) {
			victim, best = k, s
		}
		if n++; n >= evictSample {
			break
		}
	}
	if best != nil {
		delete(t.m, victim)
		t.evicted++
	}
}

// better reports whether s is a better eviction victim than o.
func (s *source) better(o *source, now int64) bool {
	sb, ob := s.bannedUntil > now, o.bannedUntil > now
	if sb != ob {
		return ob
	}
	return s.seen < o.seen
}

// admit is the token bucket: refill at the rate, spend one token or
// count the message as over the limit.
func (s *source) admit(now int64, r *rules) verdict {
	if now < s.bannedUntil {
		return banned
	}
	if elapsed := now - s.last; elapsed > 0 {
		s.tokens = min(r.burst, s.tokens+float64(elapsed)*r.rate)
		s.last = now
	}
	if s.tokens >= 1 {
		s.tokens--
		return admitted
	}
	return s.over(now, r)
}

// over records a message over the rate and bans the source when it has
// been over, without a calm second, for BanAfter.
func (s *source) over(now int64, r *rules) verdict {
	if s.overSince == 0 || now-s.lastOver > int64(calmGap) {
		s.overSince = now
	}
	s.lastOver = now
	if r.banFor > 0 && now-s.overSince >= r.banAfter {
		s.bannedUntil = now + r.banFor
		s.overSince = 0
		return newlyBanned
	}
	return limited
}

// addStats adds the shard's counters to st.
func (t *table) addStats(st *Stats, now int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st.Admitted += t.admitted
	st.Limited += t.limited
	st.Banned += t.banned
	st.Bans += t.bans
	st.Evicted += t.evicted
	st.Sources += len(t.m)
	for _, s := range t.m {
		if s.bannedUntil > now {
			st.BannedNow++
		}
	}
}
