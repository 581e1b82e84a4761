package subscriber

import (
	"cmp"
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for a Cache's zero fields.
const (
	// DefaultCheckEvery bounds how long a change made by another process
	// (parley user passwd) goes unseen: the version is read at most this
	// often, by the first lookup after the interval.
	DefaultCheckEvery = time.Second
	// DefaultMaxAge bounds how long an entry is trusted at all, for a
	// change that bypassed the version (a row edited by hand in SQL).
	DefaultMaxAge = 5 * time.Minute
	// DefaultSize caps the subscribers held (about 250 bytes each).
	DefaultSize = 1 << 16
	// DefaultNegativeSize caps the unknown users remembered. It is kept
	// apart from Size so that a scanner trying thousands of names churns
	// only these and never evicts a real subscriber.
	DefaultNegativeSize = 1 << 12
)

// Cache is a Store that keeps what Get read from the Store under it, so
// that a digest check costs a map lookup instead of a database query.
// Unknown users are remembered too, in a smaller table of their own.
//
// Changes through the Cache drop the entry at once. Changes by another
// process are seen through Versioned: when the version moved, everything
// is dropped, so a changed password, a new user or a deleted one takes
// effect within CheckEvery. Each table is two generations of at most half
// the size: a lookup that hits the old generation moves the entry to the
// new one, and a full new generation replaces the old, which keeps what
// is used without a list per entry.
//
// Set the fields before first use; the zero value of each picks a
// default. A Cache is safe for concurrent use.
type Cache struct {
	// Store is the database under the cache; when it implements
	// Versioned, other processes' changes are noticed.
	Store Store
	// CheckEvery, MaxAge, Size and NegativeSize: see the defaults.
	CheckEvery   time.Duration
	MaxAge       time.Duration
	Size         int
	NegativeSize int
	// Now is the clock; tests replace it.
	Now func() time.Time

	once        sync.Once
	mu          sync.RWMutex
	found       generations[Subscriber]
	missing     generations[struct{}]
	epoch       uint64 // bumped under mu whenever entries are dropped
	version     int64  // the store's version the entries were read at
	haveVersion bool   // version has been read once
	checked     atomic.Int64
	checking    atomic.Bool
	hits        atomic.Uint64
	misses      atomic.Uint64
	dropAlls    atomic.Uint64
	versioned   Versioned
	// failing is the last error reading the store, nil once a read
	// worked: while it is set, a hit is memory standing in for the store.
	failing atomic.Pointer[error]
}

// entry is one cached answer and when it was read.
type entry[T any] struct {
	v      T
	loaded int64 // unix nanoseconds
}

// generations is a bounded map: cur takes new entries, old is consulted
// and emptied into cur on use.
type generations[T any] struct {
	cur, old map[key]entry[T]
	half     int
}

// NewCache returns a Cache over store with the defaults.
func NewCache(store Store) *Cache { return &Cache{Store: store} }

func (c *Cache) init() {
	c.once.Do(func() {
		c.found.half = max(1, cmp.Or(c.Size, DefaultSize)/2)
		c.missing.half = max(1, cmp.Or(c.NegativeSize, DefaultNegativeSize)/2)
		c.found.reset()
		c.missing.reset()
		// The first lookup reads the version, under its own context: a
		// database that hangs then holds up a request with a deadline.
		c.versioned, _ = c.Store.(Versioned)
	})
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Get implements Store.
func (c *Cache) Get(ctx context.Context, user, domain string) (Subscriber, error) {
	c.init()
	now := c.now().UnixNano()
	c.checkVersion(ctx, now)
	k := mkey(user, domain)
	maxAge := int64(cmp.Or(c.MaxAge, DefaultMaxAge))
	if c.failing.Load() != nil {
		// MaxAge guards against rows edited behind the version, which
		// is beside the point while the store cannot be read at all: a
		// phone refreshing hourly must not be refused for the outage.
		maxAge = math.MaxInt64
	}
	c.mu.RLock()
	found, isFound := c.found.cur[k]
	missing, isMissing := c.missing.cur[k]
	c.mu.RUnlock()
	switch {
	case isFound && now-found.loaded <= maxAge:
		c.hits.Add(1)
		return found.v, nil
	case isMissing && now-missing.loaded <= maxAge:
		c.hits.Add(1)
		return Subscriber{}, ErrNotFound
	case !isFound && !isMissing:
		if sub, err, ok := c.fromOld(k, now, maxAge); ok {
			c.hits.Add(1)
			return sub, err
		}
	}
	c.misses.Add(1)
	return c.load(ctx, k, now)
}

// fromOld looks in the old generations and moves a live entry found
// there to the new one.
func (c *Cache) fromOld(k key, now, maxAge int64) (Subscriber, error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.found.promote(k); ok && now-e.loaded <= maxAge {
		return e.v, nil, true
	}
	if e, ok := c.missing.promote(k); ok && now-e.loaded <= maxAge {
		return Subscriber{}, ErrNotFound, true
	}
	return Subscriber{}, nil, false
}

// load reads k from the store and keeps the answer, unless entries were
// dropped meanwhile: the answer may then predate the change that dropped
// them.
func (c *Cache) load(ctx context.Context, k key, now int64) (Subscriber, error) {
	c.mu.RLock()
	epoch := c.epoch
	c.mu.RUnlock()
	sub, err := c.Store.Get(ctx, k.user, k.domain)
	if err != nil && !errors.Is(err, ErrNotFound) {
		c.noteRead(err)
		return Subscriber{}, err
	}
	c.noteRead(nil)
	// The key comes from a request's bytes: clone it, so that the cache
	// does not keep the whole message alive.
	k = key{strings.Clone(k.user), strings.Clone(k.domain)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return sub, err
	}
	c.found.drop(k)
	c.missing.drop(k)
	if err != nil {
		c.missing.put(k, entry[struct{}]{loaded: now})
	} else {
		c.found.put(k, entry[Subscriber]{v: sub, loaded: now})
	}
	return sub, err
}

// checkVersion reads the store's version when CheckEvery has passed since
// the last read, and drops every entry when it moved. One caller reads;
// the others go on with the entries as they are, which are at most
// CheckEvery old news.
//
// A version that cannot be read keeps the entries: the store is down,
// and the subscribers already read are what lets their phones go on
// registering and calling through the outage, however long ago they
// were read (a change made meanwhile is seen at the first read that
// works). Only what is not cached needs the store, and fails with it. The next read is tried
// CheckEvery later, so that a hanging database holds up one lookup a
// CheckEvery rather than every one.
func (c *Cache) checkVersion(ctx context.Context, now int64) {
	if c.versioned == nil || now-c.checked.Load() < int64(cmp.Or(c.CheckEvery, DefaultCheckEvery)) {
		return
	}
	if !c.checking.CompareAndSwap(false, true) {
		return
	}
	defer c.checking.Store(false)
	v, err := c.versioned.Version(ctx)
	c.checked.Store(now)
	c.noteRead(err)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.haveVersion && v == c.version {
		return
	}
	if c.haveVersion {
		c.dropAlls.Add(1)
	}
	// The first read drops too: a lookup that ran beside it may have
	// read a row older than the version it now goes with.
	c.version, c.haveVersion = v, true
	c.dropAllLocked()
}

// noteRead records the outcome of a read of the store.
func (c *Cache) noteRead(err error) {
	if err == nil {
		if c.failing.Load() != nil {
			c.failing.Store(nil)
		}
		return
	}
	c.failing.Store(&err)
}

// StoreErr returns the error of the last read of the store under the
// cache, or nil when it worked. A caller that tells outages apart from
// recoveries (the auth layer's log) must not take an answer from
// memory while it is set for a sign that the store is back.
func (c *Cache) StoreErr() error {
	if p := c.failing.Load(); p != nil {
		return *p
	}
	return nil
}

// dropAllLocked empties both tables; mu is held.
func (c *Cache) dropAllLocked() {
	c.found.reset()
	c.missing.reset()
	c.epoch++
}

// forget drops k after a change through the cache.
func (c *Cache) forget(user, domain string) {
	k := mkey(user, domain)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.found.drop(k)
	c.missing.drop(k)
	c.epoch++
}

// Put implements Store.
func (c *Cache) Put(ctx context.Context, s Subscriber) error {
	c.init()
	defer c.forget(s.User, s.Domain)
	return c.Store.Put(ctx, s)
}

// Delete implements Store.
func (c *Cache) Delete(ctx context.Context, user, domain string) error {
	c.init()
	defer c.forget(user, domain)
	return c.Store.Delete(ctx, user, domain)
}

// List implements Store; it always reads the store.
func (c *Cache) List(ctx context.Context, domain string) ([]Subscriber, error) {
	return c.Store.List(ctx, domain)
}

// Exists implements Store, through the cache.
func (c *Cache) Exists(ctx context.Context, user, domain string) (bool, error) {
	_, err := c.Get(ctx, user, domain)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Close implements Store by closing the store under the cache.
func (c *Cache) Close() error { return c.Store.Close() }

// CacheStats are a Cache's counters.
type CacheStats struct {
	Hits, Misses uint64 // lookups answered from memory, and from the store
	Dropped      uint64 // times another process's change emptied the cache
	Entries      int    // subscribers held
	Unknown      int    // unknown users held
}

// Stats returns the counters and sizes.
func (c *Cache) Stats() CacheStats {
	c.init()
	c.mu.RLock()
	defer c.mu.RUnlock()
	return CacheStats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Dropped: c.dropAlls.Load(),
		Entries: c.found.len(), Unknown: c.missing.len(),
	}
}

func (g *generations[T]) reset() {
	g.cur, g.old = make(map[key]entry[T]), make(map[key]entry[T])
}

// put adds e to the new generation, retiring it first when full.
func (g *generations[T]) put(k key, e entry[T]) {
	if len(g.cur) >= g.half {
		g.old, g.cur = g.cur, make(map[key]entry[T], g.half)
	}
	g.cur[k] = e
}

// promote moves k from the old generation to the new one.
func (g *generations[T]) promote(k key) (entry[T], bool) {
	e, ok := g.old[k]
	if ok {
		delete(g.old, k)
		g.put(k, e)
	}
	return e, ok
}

func (g *generations[T]) drop(k key) {
	delete(g.cur, k)
	delete(g.old, k)
}

// len counts distinct keys: a promoted entry is in cur only.
func (g *generations[T]) len() int { return len(g.cur) + len(g.old) }
