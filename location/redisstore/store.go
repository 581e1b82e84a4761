package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	neturl "net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/rueidis"

	"github.com/parley-sip/parley/eventlog"
	"github.com/parley-sip/parley/location"
)

const (
	// opTimeout bounds one call's Redis round trips, so that a Redis that
	// stops answering turns into errors (and 503s) instead of REGISTERs
	// waiting for ever.
	opTimeout = 3 * time.Second
	// cacheTTL bounds how long a set read through the local cache is
	// kept without Redis saying it changed; invalidation, not this TTL,
	// is what keeps the cache coherent.
	cacheTTL = time.Minute
	// grace is how long a set outlives its last binding in Redis: long
	// enough for the expiry sweep of some node to find the bindings and
	// log them, after which the key's TTL is only a backstop for when no
	// node is running.
	grace = 10 * time.Minute
	// maxAttempts bounds the retries of an Update that keeps losing the
	// race for its AOR to other nodes.
	maxAttempts = 50
	// expireBatch is how many due AORs of a bucket one sweep round reads.
	expireBatch = 256
	// rangeBatch is how many sets one MGET of Range reads.
	rangeBatch = 256
	// flushDelay is how long the connection's writer waits, after a
	// write, for more commands before the next: with many REGISTERs in
	// flight, each write then carries several of them, and Redis reads
	// them with one system call and answers with one. It cut the CPU of
	// an update by about a quarter for this process and a sixth for
	// Redis (BenchmarkRefresh), for at most this much added latency; a
	// lone caller is never delayed.
	flushDelay = 20 * time.Microsecond
)

// Store is a [location.Store] kept in Redis and shared by every Parley
// node that opens the same Redis with the same prefix. See the package
// documentation.
type Store struct {
	c      rueidis.Client
	k      *keys
	self   uint64 // this store's id, the owner of the ConnIDs it writes
	health *eventlog.Outage
	local  *local
	cached *cached

	closed atomic.Bool

	// The totals Count last read, returned while Redis cannot be read.
	lastBindings, lastAORs atomic.Int64
}

var (
	_ location.Store   = (*Store)(nil)
	_ location.Sweeper = (*Store)(nil)
)

// Option adjusts how a Store is opened.
type Option func(*config)

type config struct {
	prefix string
	log    *slog.Logger
}

// WithPrefix puts every key under prefix (default "parley:"), so that
// several deployments, or test runs, can share one Redis database. A
// prefix may not hold braces, which would change the keys' hash tags.
func WithPrefix(prefix string) Option { return func(c *config) { c.prefix = prefix } }

// WithLogger sets where the store logs an outage of Redis: once when it
// starts and once when it ends.
func WithLogger(log *slog.Logger) Option {
	return func(c *config) {
		if log != nil {
			c.log = log
		}
	}
}

// Open connects to the Redis at url (redis://[user:password@]host:port/db,
// or rediss:// for TLS). Redis 6 or later is needed: the local cache
// relies on RESP3 invalidation.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg := config{prefix: "parley:", log: slog.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	if !validPrefix(cfg.prefix) {
		return nil, fmt.Errorf("location/redisstore: key prefix %q holds a brace", cfg.prefix)
	}
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		// Not the URL itself, which may hold a password.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("location/redisstore: Redis URL: %w", err)
	}
	opt.Dialer.Timeout = opTimeout
	// Also the interval of the background PING that finds a dead
	// connection (and drops its cache) when no command is in flight.
	opt.ConnWriteTimeout = opTimeout
	opt.ClientName = "parley"
	// One connection per Redis node: a node's cached reads, its writes
	// and the invalidations of both then share one ordered stream (see
	// exec). Auto-pipelining keeps one connection busy enough.
	opt.PipelineMultiplex = -1
	// A dead Redis should cost a REGISTER a refused connection, not the
	// whole timeout spent redialling: the phone gets 503 and Retry-After.
	opt.DisableRetry = true
	opt.MaxFlushDelay = flushDelay
	c, err := rueidis.NewClient(opt)
	if err != nil {
		if errors.Is(err, rueidis.ErrNoCache) {
			err = errors.New("Redis 6 or later with RESP3 is needed (client-side caching)")
		}
		return nil, fmt.Errorf("location/redisstore: %s: %w", opt.InitAddress, err)
	}
	s := &Store{c: c, k: newKeys(cfg.prefix), self: rand.Uint64(), local: newLocal(), cached: newCached(),
		health: &eventlog.Outage{What: "location store", Log: cfg.log}}
	pctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := c.Do(pctx, c.B().Ping().Build()).Error(); err != nil {
		c.Close()
		return nil, fmt.Errorf("location/redisstore: %s: %w", opt.InitAddress, err)
	}
	return s, nil
}

// Lookup implements [location.Store.Lookup], from the local cache when
// the set has not changed since this node last read it.
func (s *Store) Lookup(ctx context.Context, aor string, now time.Time) ([]location.Binding, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	s.cached.mark(aor)
	v, err := s.read(ctx, bucket(aor), aor, true)
	s.cached.mark(aor)
	if err != nil {
		return nil, err
	}
	return s.decode(v, aor, now, true)
}

// Update implements [location.Store.Update] as an optimistic transaction:
// read the set, let fn change it, and write it with a script that refuses
// if the set changed meanwhile, in which case fn runs again on what is
// there now. fn may therefore run more than once, when another node
// updates the same AOR at the same moment; only its last result is
// stored.
func (s *Store) Update(ctx context.Context, aor string, now time.Time, fn func(current []location.Binding) ([]location.Binding, error)) ([]location.Binding, error) {
	return s.cas(ctx, aor, now, false, func(all []location.Binding) ([]location.Binding, error) {
		return fn(live(all, now))
	})
}

// cas writes what edit makes of aor's stored set (expired bindings
// included) over that very set, retrying on a set that changed since it
// was read. An empty result deletes the AOR; a sweep writes even where
// nothing is stored, which clears what the bucket still counts of a set
// Redis expired itself. It returns the new live set.
//
// The read bypasses the local cache: a REGISTER's AOR is seldom in it
// (refreshes come an hour apart), a miss costs more than a plain GET, and
// filling the cache with sets nobody looks up would only cost memory and
// invalidations.
func (s *Store) cas(ctx context.Context, aor string, now time.Time, sweep bool, edit func(all []location.Binding) ([]location.Binding, error)) ([]location.Binding, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := bucket(aor)
	// The timeout covers the wait for the lock too: behind an Update
	// stuck on a frozen Redis, the others fail with it rather than queue
	// a timeout each.
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	ls, err := s.local.lock(ctx, aor)
	if err != nil {
		return nil, s.observe(ctx, err)
	}
	defer ls.unlock()
	// Start from what this node last wrote, or from nothing: a guess the
	// script checks, which saves the round trip of a read whenever it is
	// right (see local).
	cur := ls.last
	known := false
	for range maxAttempts {
		e, err := s.encodeEdit(cur, aor, now, edit)
		if err != nil {
			if known {
				return nil, err
			}
			// Refused on a guess: let it decide on what is stored.
			if cur, err = s.read(ctx, b, aor, false); err != nil {
				return nil, err
			}
			known = true
			continue
		}
		if known && cur == "" && e.val == "" && !sweep {
			return nil, nil // nothing was there and nothing is to be
		}
		written, latest, err := s.put(ctx, b, aor, cur, e, now)
		if err != nil {
			s.local.forget(aor) // the write may or may not have been done
			return nil, err
		}
		if written {
			s.local.remember(ls.aor, e.val)
			// Decoded from what was stored, so that the result shares
			// nothing with what fn returned, as Lookup's would not.
			return s.decode(e.val, aor, now, true)
		}
		cur, known = latest, true
	}
	return nil, fmt.Errorf("location/redisstore: %s: %d attempts lost the race with other writers", aor, maxAttempts)
}

// encodeEdit encodes what edit makes of the set cur.
func (s *Store) encodeEdit(cur, aor string, now time.Time, edit func(all []location.Binding) ([]location.Binding, error)) (encoded, error) {
	all, err := s.decode(cur, aor, now, false)
	if err != nil {
		return encoded{}, err
	}
	next, err := edit(all)
	if err != nil {
		return encoded{}, err
	}
	return s.encode(next, aor, now)
}

// encoded is an AOR's new set as stored: the value ("" for none), and
// what the script files it under.
type encoded struct {
	val         string
	n           int
	first, last int64 // earliest and latest expiry, Unix nanoseconds
}

// encode returns the value storing the live bindings of next under aor,
// in Lookup's order.
func (s *Store) encode(next []location.Binding, aor string, now time.Time) (encoded, error) {
	keep := make([]location.Binding, 0, len(next))
	e := encoded{first: math.MaxInt64, last: math.MinInt64}
	for i := range next {
		b := &next[i]
		if !b.Live(now) {
			continue
		}
		if b.Q != int(int32(b.Q)) || b.RegID != int(int32(b.RegID)) {
			return encoded{}, fmt.Errorf("location/redisstore: %s: binding %s: q or reg-id out of range", aor, b.Contact)
		}
		keep = append(keep, *b)
		exp := location.Nanos(b.Expires)
		e.first, e.last = min(e.first, exp), max(e.last, exp)
	}
	if len(keep) == 0 {
		return encoded{}, nil
	}
	// Stable, so that among equal q and time the order fn chose is kept.
	slices.SortStableFunc(keep, compare)
	v := encodeSet(make([]byte, 0, setSize(keep)), rand.Uint64()|1, s.self, keep)
	// The bytes are never written again: the value shares them rather
	// than copying a few hundred bytes per update.
	e.val, e.n = unsafe.String(unsafe.SliceData(v), len(v)), len(keep)
	return e, nil
}

// put runs the script; see putScript. It returns whether it wrote, and if
// not, the set that is there now.
func (s *Store) put(ctx context.Context, b int, aor, cur string, e encoded, now time.Time) (bool, string, error) {
	head := ""
	if cur != "" {
		head = cur[:headerSize]
	}
	args := []string{head, e.val, "0", "0", "0", aor}
	if e.val != "" {
		args[2] = strconv.Itoa(e.n)
		ttl := max(time.Duration(e.last-location.Nanos(now))+grace, time.Millisecond)
		// Both numbers in one string: one allocation, not two.
		var buf [40]byte
		nums := strconv.AppendInt(buf[:0], ceilMilli(e.first), 10)
		n := len(nums)
		nums = strconv.AppendInt(nums, ttl.Milliseconds(), 10)
		both := string(nums)
		args[3], args[4] = both[:n], both[n:]
	}
	res := s.exec(ctx, b, aor, args)
	arr, err := res.ToArray()
	if err == nil && len(arr) == 0 {
		err = errors.New("empty script reply")
	}
	var ok int64
	if err == nil {
		ok, err = arr[0].AsInt64()
	}
	if err = s.observe(ctx, err); err != nil {
		return false, "", err
	}
	if ok == 1 {
		return true, "", nil
	}
	if len(arr) < 2 {
		return false, "", errors.New("location/redisstore: conflict reply without the current set")
	}
	latest, err := arr[1].ToString()
	return false, latest, err
}

// exec runs putScript, loading it into Redis when Redis does not know it
// (after a restart, or a SCRIPT FLUSH).
//
// When this node may hold the set in its client-side cache, a read of
// the set's key (the fence) follows the script on the same connection:
// Redis 7.0 sends the invalidation of this connection's cached copy after
// the script's reply, so waiting for the next reply is what makes a node
// read its own write at once. The script cannot return that reply
// itself, as it comes before the invalidation. Where the cache holds no
// copy (see cached), nothing can go stale, and the fence is left out: a
// REGISTER then costs Redis one command.
func (s *Store) exec(ctx context.Context, b int, aor string, args []string) rueidis.RedisResult {
	set := s.k.set(b, aor)
	fence := s.cached.may(aor)
	run := func(cmd rueidis.Completed) rueidis.RedisResult {
		if !fence {
			return s.c.Do(ctx, cmd)
		}
		return s.c.DoMulti(ctx, cmd, s.c.B().Pttl().Key(set).Build())[0]
	}
	res := run(s.c.B().Evalsha().Sha1(putSHA).Numkeys(3).Key(set, s.k.due(b), s.k.counts(b)).Arg(args...).Build())
	if err := res.Error(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		res = run(s.c.B().Eval().Script(putScript).Numkeys(3).Key(set, s.k.due(b), s.k.counts(b)).Arg(args...).Build())
	}
	return res
}

// read returns aor's stored set, "" when it has none.
func (s *Store) read(ctx context.Context, b int, aor string, cached bool) (string, error) {
	key := s.k.set(b, aor)
	var res rueidis.RedisResult
	if cached {
		res = s.c.DoCache(ctx, s.c.B().Get().Key(key).Cache(), cacheTTL)
	} else {
		res = s.c.Do(ctx, s.c.B().Get().Key(key).Build())
	}
	v, err := res.ToString()
	if rueidis.IsRedisNil(err) {
		v, err = "", nil
	}
	if res.IsCacheHit() {
		return v, err
	}
	return v, s.observe(ctx, err)
}

// decode decodes a stored set, naming the AOR if it does not decode.
func (s *Store) decode(v, aor string, now time.Time, liveOnly bool) ([]location.Binding, error) {
	if v == "" {
		return nil, nil
	}
	bs, err := decodeSet(v, aor, s.self, now, liveOnly)
	if err != nil {
		return nil, fmt.Errorf("%w of %s", err, aor)
	}
	return bs, nil
}

// Expire implements [location.Store.Expire].
func (s *Store) Expire(ctx context.Context, now time.Time) (int, error) {
	return s.Sweep(ctx, now, nil)
}

// Sweep implements [location.Sweeper]. Every node sweeps, and each
// expired binding is removed — and reported — by exactly one of them,
// because removing it is an Update of its AOR like any other.
func (s *Store) Sweep(ctx context.Context, now time.Time, expired func(location.Binding)) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	upTo := strconv.FormatInt(floorMilli(location.Nanos(now)), 10)
	todo := make([]int, buckets)
	for i := range todo {
		todo[i] = i
	}
	removed := 0
	for len(todo) > 0 {
		due, err := s.due(ctx, todo, upTo)
		if err != nil {
			return removed, err
		}
		todo = todo[:0]
		for i, aors := range due {
			for _, aor := range aors {
				n, err := s.sweepAOR(ctx, aor, now, expired)
				removed += n
				if err != nil {
					return removed, err
				}
			}
			if len(aors) == expireBatch {
				todo = append(todo, i)
			}
		}
	}
	return removed, nil
}

// due returns, for each bucket of bs, up to expireBatch AORs with a
// binding expired at upTo (Unix milliseconds); the result's index i is
// bucket bs[i].
func (s *Store) due(ctx context.Context, bs []int, upTo string) (map[int][]string, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	cmds := make(rueidis.Commands, len(bs))
	for i, b := range bs {
		cmds[i] = s.c.B().Zrange().Key(s.k.due(b)).Min("-inf").Max(upTo).Byscore().Limit(0, expireBatch).Build()
	}
	out := make(map[int][]string)
	for i, res := range s.c.DoMulti(ctx, cmds...) {
		aors, err := res.AsStrSlice()
		if err = s.observe(ctx, err); err != nil {
			return nil, err
		}
		if len(aors) > 0 {
			out[bs[i]] = aors
		}
	}
	return out, nil
}

// sweepAOR removes aor's bindings expired at now and reports them.
func (s *Store) sweepAOR(ctx context.Context, aor string, now time.Time, expired func(location.Binding)) (int, error) {
	var gone []location.Binding
	_, err := s.cas(ctx, aor, now, true, func(all []location.Binding) ([]location.Binding, error) {
		gone = gone[:0]
		for _, b := range all {
			if !b.Live(now) {
				gone = append(gone, b)
			}
		}
		return all, nil // encode drops what expired
	})
	if err != nil {
		return 0, err
	}
	if expired != nil {
		for _, b := range gone {
			expired(b)
		}
	}
	return len(gone), nil
}

// Count implements [location.Store.Count] from the buckets' totals, which
// the update script keeps. While Redis cannot be read it returns the
// totals it last read.
func (s *Store) Count() (bindings, aors int) {
	if s.closed.Load() {
		return 0, 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	cmds := make(rueidis.Commands, buckets)
	for b := range cmds {
		cmds[b] = s.c.B().Hmget().Key(s.k.counts(b)).Field("bindings", "aors").Build()
	}
	var nb, na int64
	for _, res := range s.c.DoMulti(ctx, cmds...) {
		vs, err := res.ToArray()
		if err != nil {
			return int(s.lastBindings.Load()), int(s.lastAORs.Load())
		}
		for i, dst := range []*int64{&nb, &na} {
			if i < len(vs) && !vs[i].IsNil() {
				n, _ := vs[i].AsInt64()
				*dst += n
			}
		}
	}
	s.lastBindings.Store(nb)
	s.lastAORs.Store(na)
	return int(nb), int(na)
}

// Range implements [location.Store.Range], one bucket at a time. Sets
// that do not decode, or that Redis cannot deliver, are left out.
func (s *Store) Range(fn func(aor string, bs []location.Binding) bool) {
	for b := range buckets {
		if s.closed.Load() {
			return
		}
		if !s.rangeBucket(b, fn) {
			return
		}
	}
}

// rangeBucket calls fn for each set of bucket b; false means stop.
func (s *Store) rangeBucket(b int, fn func(aor string, bs []location.Binding) bool) bool {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	aors, err := s.c.Do(ctx, s.c.B().Zrange().Key(s.k.due(b)).Min("0").Max("-1").Build()).AsStrSlice()
	if s.observe(ctx, err) != nil {
		return true
	}
	for len(aors) > 0 {
		chunk := aors[:min(len(aors), rangeBatch)]
		aors = aors[len(chunk):]
		sets := make([]string, len(chunk))
		for i, aor := range chunk {
			sets[i] = s.k.set(b, aor)
		}
		vs, err := s.c.Do(ctx, s.c.B().Mget().Key(sets...).Build()).ToArray()
		if s.observe(ctx, err) != nil {
			return true
		}
		for i := range min(len(vs), len(chunk)) {
			v, err := vs[i].ToString()
			if err != nil {
				continue // gone since the ZRANGE
			}
			bs, err := s.decode(v, chunk[i], time.Time{}, false)
			if err != nil || len(bs) == 0 {
				continue
			}
			if !fn(chunk[i], bs) {
				return false
			}
		}
	}
	return true
}

// Ready reports whether Redis answers: nil unless the last round trip
// failed (the expiry sweep makes one every second).
func (s *Store) Ready() error { return s.health.Err() }

// Close implements [location.Store.Close].
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.c.Close()
	return nil
}

// check refuses calls on a closed store or with a finished context.
func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return location.ErrClosed
	}
	return nil
}

// observe records the outcome of a round trip for the outage log and
// Ready, and wraps a failure. A caller's own cancelled context says
// nothing about Redis; neither does a Close racing with the call.
func (s *Store) observe(ctx context.Context, err error) error {
	switch {
	case err == nil:
		s.health.Succeeded()
		return nil
	case s.closed.Load():
		return location.ErrClosed
	case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		return err
	}
	s.health.Failed(err)
	return fmt.Errorf("location/redisstore: %w", err)
}

// live returns the bindings of all in force at now, in place.
func live(all []location.Binding, now time.Time) []location.Binding {
	return slices.DeleteFunc(all, func(b location.Binding) bool { return !b.Live(now) })
}

// compare orders by q descending, then most recently updated first: the
// order in which a proxy should try the contacts (RFC 3261 §16.6).
func compare(a, b location.Binding) int {
	if a.Q != b.Q {
		if a.Q > b.Q {
			return -1
		}
		return 1
	}
	return b.Updated.Compare(a.Updated)
}

func ceilMilli(ns int64) int64 {
	ms := ns / 1e6
	if ns%1e6 > 0 {
		ms++
	}
	return ms
}

func floorMilli(ns int64) int64 {
	ms := ns / 1e6
	if ns%1e6 < 0 {
		ms--
	}
	return ms
}
