package subscriber_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/subscriber"
	"github.com/parley-sip/parley/subscriber/storetest"
)

// TestCacheConforms runs the engines' suite through a Cache: it must
// behave as the store under it does.
func TestCacheConforms(t *testing.T) {
	storetest.Run(t, func(t *testing.T) subscriber.Store {
		c := subscriber.NewCache(subscriber.NewMemory())
		t.Cleanup(func() { c.Close() })
		return c
	})
}

// countingStore counts the lookups that reach the store; hideVersion
// makes it a store that is not Versioned.
type countingStore struct {
	*subscriber.Memory
	gets     atomic.Int64
	versions atomic.Int64
	fail     error
}

// Version fails with the lookups: a database down fails both.
func (s *countingStore) Version(ctx context.Context) (int64, error) {
	s.versions.Add(1)
	if s.fail != nil {
		return 0, s.fail
	}
	return s.Memory.Version(ctx)
}

func (s *countingStore) Get(ctx context.Context, user, domain string) (subscriber.Subscriber, error) {
	s.gets.Add(1)
	if s.fail != nil {
		return subscriber.Subscriber{}, s.fail
	}
	return s.Memory.Get(ctx, user, domain)
}

type unversioned struct{ subscriber.Store }

// cacheFixture is a Cache over a counting memory store holding alice,
// with a fake clock; the store stands for the database that another
// process (parley user) changes behind the cache's back.
func cacheFixture(t *testing.T, size, negative int) (*subscriber.Cache, *countingStore, *clock.Fake) {
	t.Helper()
	db := &countingStore{Memory: subscriber.NewMemory()}
	if err := db.Put(context.Background(), subscriber.New("alice", "example.com", "old")); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	c := &subscriber.Cache{Store: db, Size: size, NegativeSize: negative, Now: clk.Now}
	return c, db, clk
}

func ha1(t *testing.T, s subscriber.Store, user string) string {
	t.Helper()
	sub, err := s.Get(context.Background(), user, "example.com")
	if errors.Is(err, subscriber.ErrNotFound) {
		return "unknown"
	}
	if err != nil {
		t.Fatal(err)
	}
	return sub.HA1MD5
}

// TestCacheStaleness changes the database as `parley user` does, from
// outside the cache, and checks the change is seen once CheckEvery has
// passed and not a lookup later.
func TestCacheStaleness(t *testing.T) {
	oldHA1 := subscriber.New("alice", "example.com", "old").HA1MD5
	newHA1 := subscriber.New("alice", "example.com", "new").HA1MD5
	bobHA1 := subscriber.New("bob", "example.com", "pw").HA1MD5
	ctx := context.Background()
	tests := []struct {
		name   string
		user   string
		change func(db subscriber.Store) error
		before string
		after  string
	}{
		{"passwd", "alice", func(db subscriber.Store) error {
			return db.Put(ctx, subscriber.New("alice", "example.com", "new"))
		}, oldHA1, newHA1},
		{"delete", "alice", func(db subscriber.Store) error { return db.Delete(ctx, "alice", "example.com") }, oldHA1, "unknown"},
		{"add after a miss", "bob", func(db subscriber.Store) error {
			return db.Put(ctx, subscriber.New("bob", "example.com", "pw"))
		}, "unknown", bobHA1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, db, clk := cacheFixture(t, 0, 0)
			if got := ha1(t, c, tc.user); got != tc.before {
				t.Fatalf("first lookup %s, want %s", got, tc.before)
			}
			if err := tc.change(db.Memory); err != nil {
				t.Fatal(err)
			}
			clk.Advance(subscriber.DefaultCheckEvery - time.Millisecond)
			if got := ha1(t, c, tc.user); got != tc.before {
				t.Fatalf("within CheckEvery: %s, want the cached %s", got, tc.before)
			}
			clk.Advance(time.Millisecond)
			if got := ha1(t, c, tc.user); got != tc.after {
				t.Fatalf("after CheckEvery: %s, want %s", got, tc.after)
			}
			if st := c.Stats(); st.Dropped != 1 {
				t.Fatalf("stats %+v, want one drop", st)
			}
		})
	}
}

// TestCacheHits checks that repeated lookups, of a subscriber or of an
// unknown user, reach the store once, and that a change through the
// cache is seen at once.
func TestCacheHits(t *testing.T) {
	ctx := context.Background()
	c, db, clk := cacheFixture(t, 0, 0)
	for range 5 {
		ha1(t, c, "alice")
		ha1(t, c, "mallory")
		clk.Advance(3 * subscriber.DefaultCheckEvery) // the version is read, unchanged
	}
	if n := db.gets.Load(); n != 2 {
		t.Fatalf("%d lookups reached the store, want 2", n)
	}
	if err := c.Put(ctx, subscriber.New("mallory", "example.com", "x")); err != nil {
		t.Fatal(err)
	}
	if got := ha1(t, c, "mallory"); got == "unknown" {
		t.Fatal("a user added through the cache is still unknown")
	}
	// The Put moved the version too, so the next check, due by then, has
	// emptied the cache: only mallory is back in.
	if st := c.Stats(); st.Hits != 8 || st.Misses != 3 || st.Dropped != 1 || st.Entries != 1 || st.Unknown != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestCacheBounds floods the cache with unknown names, as a scanner does,
// and checks both tables stay within their sizes while the subscriber
// in use stays cached.
func TestCacheBounds(t *testing.T) {
	ctx := context.Background()
	c, db, _ := cacheFixture(t, 8, 16)
	for i := range 20 {
		if err := db.Memory.Put(ctx, subscriber.New(fmt.Sprint("user", i), "example.com", "pw")); err != nil {
			t.Fatal(err)
		}
	}
	c.Get(ctx, "alice", "example.com")
	for i := range 1000 {
		ha1(t, c, fmt.Sprint("scanner", i))
	}
	before := db.gets.Load()
	ha1(t, c, "alice")
	if db.gets.Load() != before {
		t.Error("the scan evicted alice")
	}
	for i := range 20 {
		ha1(t, c, fmt.Sprint("user", i))
	}
	if st := c.Stats(); st.Entries > 8 || st.Unknown > 16 {
		t.Fatalf("stats %+v: over the bounds 8 and 16", st)
	}
}

// TestCacheMaxAge covers a store that is not Versioned (and a change made
// behind the version's back): entries are read again after MaxAge.
func TestCacheMaxAge(t *testing.T) {
	ctx := context.Background()
	c, db, clk := cacheFixture(t, 0, 0)
	c.Store = unversioned{db}
	ha1(t, c, "alice")
	if err := db.Memory.Put(ctx, subscriber.New("alice", "example.com", "new")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(subscriber.DefaultMaxAge)
	if got := ha1(t, c, "alice"); got == subscriber.New("alice", "example.com", "new").HA1MD5 {
		t.Fatal("changed before MaxAge")
	}
	clk.Advance(time.Millisecond)
	if got := ha1(t, c, "alice"); got != subscriber.New("alice", "example.com", "new").HA1MD5 {
		t.Fatal("not changed after MaxAge")
	}
}

// TestCacheStoreError checks a failing store's error is passed on and
// not remembered as an unknown user.
func TestCacheStoreError(t *testing.T) {
	ctx := context.Background()
	c, db, _ := cacheFixture(t, 0, 0)
	db.fail = errors.New("database down")
	if _, err := c.Get(ctx, "alice", "example.com"); !errors.Is(err, db.fail) {
		t.Fatalf("err %v, want the store's", err)
	}
	db.fail = nil
	if got := ha1(t, c, "alice"); got == "unknown" {
		t.Fatal("the failure was cached as an unknown user")
	}
}

// TestCacheThroughAnOutage: with the database down, a subscriber read
// before, even longer ago than MaxAge, is still answered from memory (the guide's "subscribers not in
// the cache get 503": those in it do not), StoreErr says the store is
// failing, the version is retried once a CheckEvery and not on every
// lookup, and a read that works again clears it.
func TestCacheThroughAnOutage(t *testing.T) {
	ctx := context.Background()
	c, db, clk := cacheFixture(t, 0, 0)
	oldHA1 := ha1(t, c, "alice")
	db.fail = errors.New("database down")
	// Past MaxAge too: a phone refreshing hourly is read once an hour.
	clk.Advance(subscriber.DefaultMaxAge + 2*subscriber.DefaultCheckEvery)
	versions := db.versions.Load()
	for range 3 {
		if got := ha1(t, c, "alice"); got != oldHA1 {
			t.Fatalf("alice during the outage: %q, want the cached %q", got, oldHA1)
		}
	}
	if n := db.versions.Load() - versions; n != 1 {
		t.Errorf("%d version reads for 3 lookups within CheckEvery, want 1", n)
	}
	if !errors.Is(c.StoreErr(), db.fail) {
		t.Errorf("StoreErr %v during the outage, want the store's", c.StoreErr())
	}
	if _, err := c.Get(ctx, "bob", "example.com"); !errors.Is(err, db.fail) {
		t.Errorf("bob, never read, during the outage: err %v, want the store's", err)
	}
	db.fail = nil
	clk.Advance(2 * subscriber.DefaultCheckEvery)
	if got := ha1(t, c, "alice"); got != oldHA1 {
		t.Fatalf("alice after the outage: %q", got)
	}
	if err := c.StoreErr(); err != nil {
		t.Errorf("StoreErr %v after a read that worked, want nil", err)
	}
}

// TestCacheAcrossSQLiteHandles is the cross-process case on a real
// database: one handle caches, another (as parley user would) changes the
// password, and the cache sees it after CheckEvery.
func TestCacheAcrossSQLiteHandles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parley.db")
	open := func() *subscriber.SQL {
		s, err := subscriber.OpenSQLite(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	serve, cli := open(), open()
	if err := cli.Put(ctx, subscriber.New("alice", "example.com", "old")); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	c := &subscriber.Cache{Store: serve, Now: clk.Now}
	ha1(t, c, "alice")
	if err := cli.Put(ctx, subscriber.New("alice", "example.com", "new")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(subscriber.DefaultCheckEvery)
	if got := ha1(t, c, "alice"); got != subscriber.New("alice", "example.com", "new").HA1MD5 {
		t.Fatal("the other handle's change was not seen")
	}
}

// BenchmarkCacheGet is a cached lookup, against the SQLite query it saves.
func BenchmarkCacheGet(b *testing.B) {
	ctx := context.Background()
	db, err := subscriber.OpenSQLite(filepath.Join(b.TempDir(), "parley.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Put(ctx, subscriber.New("alice", "example.com", "pw")); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		store subscriber.Store
	}{{"sqlite", db}, {"cache", subscriber.NewCache(db)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.store.Get(ctx, "alice", "example.com"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
