package redisstore

import (
	"fmt"
	"testing"
	"time"
)

// TestCached: a mark holds for the rest of its generation and the whole
// next one, which covers a cached copy's life (cacheTTL from the read),
// and is gone after; AORs never marked are not reported, bar the
// filter's rare collisions.
func TestCached(t *testing.T) {
	var at time.Duration
	c := newCached()
	c.elapsed = func() time.Duration { return at }
	const aor = "sip:alice@example.com"
	steps := []struct {
		at   time.Duration
		mark bool
		want bool
	}{
		{0, false, false},
		{time.Second, true, true},
		{cacheTTL - time.Millisecond, false, true},
		{cacheTTL + time.Second, false, true}, // the copy read at 1 s lives until cacheTTL+1s
		{2*cacheTTL - time.Millisecond, false, true},
		{2 * cacheTTL, false, false},
		{3*cacheTTL + time.Second, true, true},
		// A gap of generations with no call at all: what the filter then
		// holds is stale, never missing.
		{9 * cacheTTL, false, false},
		{9*cacheTTL + time.Second, true, true},
		{10 * cacheTTL, false, true},
		{11 * cacheTTL, false, false},
	}
	for _, s := range steps {
		at = s.at
		if s.mark {
			c.mark(aor)
		}
		if got := c.may(aor); got != s.want {
			t.Errorf("at %v (marked %v): may = %v, want %v", s.at, s.mark, got, s.want)
		}
	}
	wrong := 0
	for i := range 10000 {
		if c.may(fmt.Sprintf("sip:other%d@example.com", i)) {
			wrong++
		}
	}
	if wrong > 10 {
		t.Errorf("%d of 10000 AORs never marked reported as cached", wrong)
	}
}
