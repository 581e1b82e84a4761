package redisstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/location/redisstore/redistest"
)

// TestStaleness measures how long a node's cached lookup shows a binding
// set another node has already changed: B caches the set, A writes, and B
// looks up until it sees A's write. The bound asserted is the issue's
// cluster-wide visibility target, 50 ms at the 99th percentile.
func TestStaleness(t *testing.T) {
	url := requireRedis(t)
	prefix := testPrefix(t, url)
	a, b := openTest(t, url, prefix), openTest(t, url, prefix)
	ctx := context.Background()
	now := time.Now()
	const (
		aor    = "sip:stale@example.com"
		rounds = 200
		bound  = 50 * time.Millisecond
	)
	write := func(i int) { t.Helper(); writeOne(t, a, aor, now, i) }
	sees := func(i int) bool {
		bs, err := b.Lookup(ctx, aor, now)
		if err != nil {
			t.Fatal(err)
		}
		return len(bs) == 1 && bs[0].Contact == fmt.Sprintf("sip:phone%d@h", i)
	}
	write(0)
	var lags []time.Duration
	for i := 1; i <= rounds; i++ {
		// B reads the current set, and then holds it in its cache.
		for deadline := time.Now().Add(time.Second); !sees(i - 1); time.Sleep(20 * time.Microsecond) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: B never saw write %d", i, i-1)
			}
		}
		key := b.k.set(bucket(aor), aor)
		if !b.c.DoCache(ctx, b.c.B().Get().Key(key).Cache(), cacheTTL).IsCacheHit() {
			t.Fatalf("round %d: B's lookup is not served from its cache", i)
		}
		write(i)
		start := time.Now()
		for !sees(i) {
			if time.Since(start) > time.Second {
				t.Fatalf("round %d: B still shows the old set a second after A's write", i)
			}
			time.Sleep(20 * time.Microsecond)
		}
		lags = append(lags, time.Since(start))
	}
	slices.Sort(lags)
	p50, p99, worst := lags[len(lags)/2], lags[len(lags)*99/100], lags[len(lags)-1]
	t.Logf("staleness over %d writes: p50 %v, p99 %v, max %v", rounds, p50, p99, worst)
	if p99 > bound {
		t.Errorf("p99 staleness %v, want under %v", p99, bound)
	}
}

// TestReadsOwnWrite: a node's Lookup right after its own Update shows the
// update, even when the node's cache held the set from before and Redis
// sends the invalidation after the script's reply; the fence that makes
// it so (a PTTL after the script) is sent for the AORs the node looked
// up, and only for them.
func TestReadsOwnWrite(t *testing.T) {
	r := redistest.Start(t)
	raw := redistest.Client(t, r.URL())
	s := openTest(t, r.URL(), "parley:")
	ctx := context.Background()
	now := time.Now()
	write := func(aor string, i int) { t.Helper(); writeOne(t, s, aor, now, i) }
	pttls := func() int64 {
		t.Helper()
		return commandStats(t, raw)["pttl"]
	}
	const rounds = 300
	looked := "sip:looked@example.com"
	write(looked, 0)
	before := pttls()
	for i := 1; i <= rounds; i++ {
		// Read through the cache, so that it holds write i-1.
		if _, err := s.Lookup(ctx, looked, now); err != nil {
			t.Fatal(err)
		}
		write(looked, i)
		bs, err := s.Lookup(ctx, looked, now)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("sip:phone%d@h", i); len(bs) != 1 || bs[0].Contact != want {
			t.Fatalf("round %d: Lookup after the node's own write = %v, want %s", i, bs, want)
		}
	}
	// rueidis's own cached reads send a PTTL too (as part of the read):
	// the fences are what the writes add beyond one per cache miss.
	if got := pttls() - before; got < rounds {
		t.Errorf("%d PTTLs for %d writes of a looked-up AOR, want a fence each", got, rounds)
	}
	before = pttls()
	for i := range rounds {
		write(fmt.Sprintf("sip:never%d@example.com", i), i)
	}
	if got := pttls() - before; got != 0 {
		t.Errorf("%d PTTLs for %d writes of AORs never looked up, want none", got, rounds)
	}
}

// writeOne stores sip:phone<i>@h as aor's whole set.
func writeOne(t *testing.T, s *Store, aor string, now time.Time, i int) {
	t.Helper()
	c := location.Binding{Contact: fmt.Sprintf("sip:phone%d@h", i), Q: 1000, Expires: now.Add(time.Hour), Updated: now}
	if _, err := s.Update(context.Background(), aor, now, func([]location.Binding) ([]location.Binding, error) {
		return []location.Binding{c}, nil
	}); err != nil {
		t.Fatal(err)
	}
}
