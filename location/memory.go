package location

import (
	"context"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/clock"
)

// shardCount spreads AORs over independent locks so that registrations of
// different users rarely contend. A power of two lets the shard be picked
// with a mask.
//
// It is large because a lock's holder can lose its processor or its
// thread (a preemption, a stop-the-world, a busy host) with the lock
// held, and every AOR of its shard then waits for it: in the traces of
// BenchmarkMillionPauses nearly every wait over 3 ms was such a holder,
// so the share of AORs behind one stalled holder is what decides the
// longest wait. With 1 024 shards it is one in 1 024, for about 150 KB
// of shards a store.
const shardCount = 1024

// Memory is the in-process [Store]: fast, and lost when the process exits.
//
// AORs are spread over shardCount shards by an FNV-1a hash, each with its own lock
// and map. Each shard also keeps a min-heap of its AORs keyed by their
// earliest expiry, so Expire touches only the AORs that have something to
// expire instead of scanning every binding.
//
// The zero Memory is an empty store ready to use, like NewMemory's.
//
// To stay small at a million bindings, bindings are stored packed (see
// packed) by value in one slice per AOR.
type Memory struct {
	closed atomic.Bool
	shards [shardCount]shard
}

var _ Store = (*Memory)(nil)

// shard is one lock's worth of AORs.
type shard struct {
	mu   sync.RWMutex
	aors map[string]*record
	due  clock.Heap[*record] // AORs by earliest expiry

	// Counters are written under mu but read by Count without it, so that
	// a metrics scrape never waits for a busy shard.
	bindings atomic.Int64
	naors    atomic.Int64

	waiting atomic.Int32 // goroutines trying to take mu: see yield

	// nextDue is the earliest expiry in due (Unix nanoseconds), or
	// math.MaxInt64 when due is empty. It is written under mu and read by
	// Sweep without it, so that a sweep finding nothing due takes none of
	// the shardCount locks. Zero (a zero Memory's) only costs a lock.
	nextDue atomic.Int64

	// Keep neighbouring shards' locks off this cache line.
	_ [64]byte
}

// record is the state of one AOR. It is the one pointer per AOR: the heap
// needs a stable handle to move an AOR when its earliest expiry changes.
type record struct {
	aor string // the map key; bindings share it as their AOR
	// bs is sorted as Lookup returns it and may hold expired, unswept
	// bindings. A change replaces the slice and never writes into it, so
	// that a slice taken under the lock can be copied out after it.
	bs   []packed
	next int64 // earliest expiry in bs (Unix nanoseconds): when Expire must next look here
	idx  int   // position in the shard's heap
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	m := new(Memory)
	for i := range m.shards {
		m.shards[i].nextDue.Store(math.MaxInt64)
	}
	return m
}

func (m *Memory) shardFor(aor string) *shard {
	return &m.shards[HashAOR(aor)&(shardCount-1)]
}

// HashAOR is the FNV-1a hash of aor. It is inline rather than through
// hash/fnv, which would allocate a hasher per call on this hot path, and
// it never changes, because location/redisstore stores AORs by it.
func HashAOR(aor string) uint32 {
	const (
		offset32 = 2166136261
		prime32  = 16777619
	)
	h := uint32(offset32)
	for i := 0; i < len(aor); i++ {
		h ^= uint32(aor[i])
		h *= prime32
	}
	return h
}

// Lookup implements [Store.Lookup].
func (m *Memory) Lookup(ctx context.Context, aor string, now time.Time) ([]Binding, error) {
	if err := m.usable(ctx); err != nil {
		return nil, err
	}
	s := m.shardFor(aor)
	s.rlock()
	// Close may have won the race for the lock.
	closed := m.closed.Load()
	var key string
	var bs []packed
	if r := s.aors[aor]; r != nil && !closed {
		key, bs = r.aor, r.bs
	}
	s.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	return unpackAll(key, bs, Nanos(now), false), nil
}

// Update implements [Store.Update]. fn runs with no lock held: Update reads
// the AOR's set under the shard's read lock, builds the new one (fn, then
// packing) unlocked, and takes the write lock only to check that the set
// is still the one it read and to store the new one. Everything that
// allocates is thus outside the write lock, and with it the garbage
// collector's mark assists, which charge an allocating goroutine work
// proportional to its allocation: under a lock, one assist of the bulk
// loader in BenchmarkMillionPauses held its shard for up to 31 ms.
//
// A concurrent Update of the same AOR makes the check fail and fn run
// again, as the Store contract allows; after optimisticTries lost races
// fn runs under the write lock, so that a hot AOR still makes progress.
func (m *Memory) Update(ctx context.Context, aor string, now time.Time, fn func(current []Binding) ([]Binding, error)) ([]Binding, error) {
	if err := m.usable(ctx); err != nil {
		return nil, err
	}
	s := m.shardFor(aor)
	for range optimisticTries {
		key, stored, ok, err := m.tryUpdate(s, aor, now, fn)
		if err != nil {
			return nil, err
		}
		if ok {
			return unpackAll(key, stored, Nanos(now), false), nil
		}
	}
	return m.updateLocked(s, aor, now, fn)
}

// UpdateLocked is [Memory.Update] with fn run once, under the shard's
// write lock: for an engine built on Memory whose fn has effects that
// must follow the order of the changes (location/sqlstore queues each
// change's durable write in fn). It costs what Update avoids: fn's
// allocations, and the collector's assists for them, hold the shard.
func (m *Memory) UpdateLocked(ctx context.Context, aor string, now time.Time, fn func(current []Binding) ([]Binding, error)) ([]Binding, error) {
	if err := m.usable(ctx); err != nil {
		return nil, err
	}
	return m.updateLocked(m.shardFor(aor), aor, now, fn)
}

// usable is the error a call with ctx on m must return first, if any.
func (m *Memory) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.closed.Load() {
		return ErrClosed
	}
	return nil
}

// updateLocked is UpdateLocked past its checks.
func (m *Memory) updateLocked(s *shard, aor string, now time.Time, fn func(current []Binding) ([]Binding, error)) ([]Binding, error) {
	key, stored, err := m.update(s, aor, now, fn)
	if err != nil {
		return nil, err
	}
	// Every stored binding is live at now, so the copy is the live set.
	return unpackAll(key, stored, Nanos(now), false), nil
}

// optimisticTries is how many times Update runs fn unlocked before it
// runs fn under the shard's write lock. Two Updates of one AOR at the same
// instant are rare (a phone registers every few minutes), so one retry
// covers nearly every race.
const optimisticTries = 2

// tryUpdate is one unlocked attempt of Update. It reports false, having
// changed nothing, when the AOR's set changed between its read and its
// write.
func (m *Memory) tryUpdate(s *shard, aor string, now time.Time, fn func(current []Binding) ([]Binding, error)) (string, []packed, bool, error) {
	s.rlock()
	closed := m.closed.Load()
	r := s.aors[aor]
	var seen []packed
	if r != nil {
		seen = r.bs
	}
	// An AOR new to the shard grows its heap at times; the bigger array
	// is allocated before the write lock, so that the collector's assist
	// for it never runs with the shard held.
	size := cap(s.due)
	full := len(s.due) == size
	s.mu.RUnlock()
	if closed {
		return "", nil, false, ErrClosed
	}
	var current []Binding
	if r != nil {
		// A stored set is never written, so it is read with no lock.
		current = unpackAll(r.aor, seen, Nanos(now), false)
	}
	next, err := fn(current)
	if err != nil {
		return "", nil, false, err
	}
	stored, err := packLive(next, now)
	if err != nil {
		return "", nil, false, err
	}
	fresh := newRecord(r, aor, stored)
	var room clock.Heap[*record]
	if fresh != nil && full {
		room = make(clock.Heap[*record], 0, max(2*size, 64))
	}

	s.lock()
	defer s.unlock()
	if m.closed.Load() {
		return "", nil, false, ErrClosed
	}
	if fresh != nil {
		s.reserve(room)
	}
	// A changed set is a new slice (stored sets are never empty and never
	// written), so comparing the first element's address tells whether
	// anything changed the set, the record or its presence since the read.
	if s.aors[aor] != r || (r != nil && &r.bs[0] != &seen[0]) {
		return "", nil, false, nil
	}
	return s.store(r, fresh, stored), stored, true, nil
}

// update runs fn and stores its result under the shard's write lock, for
// UpdateLocked and for an Update that lost optimisticTries races. It
// returns what it stored, and under which key.
func (m *Memory) update(s *shard, aor string, now time.Time, fn func(current []Binding) ([]Binding, error)) (string, []packed, error) {
	s.lock()
	defer s.unlock()
	// Close may have won the race for the lock.
	if m.closed.Load() {
		return "", nil, ErrClosed
	}

	r := s.aors[aor]
	var current []Binding
	if r != nil {
		current = unpackAll(r.aor, r.bs, Nanos(now), false)
	}
	next, err := fn(current)
	if err != nil {
		return "", nil, err
	}
	stored, err := packLive(next, now)
	if err != nil {
		return "", nil, err
	}
	return s.store(r, newRecord(r, aor, stored), stored), stored, nil
}

// packLive packs the bindings of next live at now, in Lookup's order.
func packLive(next []Binding, now time.Time) ([]packed, error) {
	stored := make([]packed, 0, len(next))
	for i := range next {
		if !next[i].Live(now) {
			continue
		}
		p, err := pack(&next[i])
		if err != nil {
			return nil, err
		}
		stored = append(stored, p)
	}
	// Stable, so that among equal q and time the order fn chose is kept.
	slices.SortStableFunc(stored, comparePacked)
	return stored, nil
}

// newRecord returns the record stored would need if the AOR had none (r
// is nil), and nil otherwise.
func newRecord(r *record, aor string, stored []packed) *record {
	if r != nil || len(stored) == 0 {
		return nil
	}
	// The caller's string may point into a larger buffer; own the key.
	key := strings.Clone(aor)
	return &record{aor: key, bs: stored, next: earliest(stored)}
}

// reserve moves the shard's heap into room if the heap is full and room
// holds more, so that the next Push does not allocate. It must be called
// with the write lock held.
func (s *shard) reserve(room clock.Heap[*record]) {
	if len(s.due) == cap(s.due) && cap(room) > len(s.due) {
		s.due = append(room, s.due...)
	}
}

// store makes stored the set of the AOR whose record is r (nil for none;
// fresh is then its new record) and returns the AOR's key. It must be
// called with the write lock held.
func (s *shard) store(r, fresh *record, stored []packed) string {
	defer s.noteDue()
	switch {
	case len(stored) == 0 && r == nil:
		// Nothing was there and nothing is to be: no change.
		return ""
	case len(stored) == 0:
		s.due.Remove(r.idx)
		delete(s.aors, r.aor)
		s.bindings.Add(-int64(len(r.bs)))
		s.naors.Add(-1)
		return r.aor
	case r == nil:
		if s.aors == nil {
			s.aors = make(map[string]*record)
		}
		s.due.Push(fresh)
		s.aors[fresh.aor] = fresh
		s.bindings.Add(int64(len(stored)))
		s.naors.Add(1)
		return fresh.aor
	default:
		s.bindings.Add(int64(len(stored) - len(r.bs)))
		r.bs = stored
		r.next = earliest(stored)
		s.due.Fix(r.idx)
		return r.aor
	}
}

// expireBatch caps how many AORs one lock hold sweeps, so that a mass
// expiry (say, after a network outage) never stalls a shard's registrations
// for long: 64 AORs take about 25 µs, well inside a waiter's lockSpin, so
// a registration arriving mid-sweep spins instead of blocking (256 took
// 90 µs at the median, 148 µs at the 90th percentile, in the traces of
// BenchmarkMillionPauses at load 5).
const expireBatch = 64

// Expire implements [Store.Expire]. Each shard's heap yields only the AORs
// whose earliest binding is due, so the cost follows what expires plus one
// atomic load per shard (a lock only where something is due), not the size
// of the store.
func (m *Memory) Expire(ctx context.Context, now time.Time) (int, error) {
	return m.Sweep(ctx, now, nil)
}

// Sweep implements [Sweeper]: Expire, calling expired (when not nil) with
// each binding removed, after the shard's lock is released. Under the lock
// the sweep only notes the sets it shortens or drops (a stored set is never
// written); the bindings are unpacked, which allocates, after it.
func (m *Memory) Sweep(ctx context.Context, now time.Time, expired func(Binding)) (int, error) {
	removed := 0
	var gone []sweptSet
	var report *[]sweptSet
	if expired != nil {
		gone = make([]sweptSet, 0, expireBatch)
		report = &gone
	}
	at := Nanos(now)
	for i := range m.shards {
		for more := true; more; {
			if err := ctx.Err(); err != nil {
				return removed, err
			}
			if m.closed.Load() {
				return removed, ErrClosed
			}
			if m.shards[i].nextDue.Load() > at {
				break
			}
			var n int
			n, more = m.shards[i].expire(at, expireBatch, report)
			m.shards[i].yield()
			removed += n
			for _, e := range gone {
				e.report(at, expired)
			}
			clear(gone)
			gone = gone[:0]
		}
	}
	return removed, nil
}

// sweptSet is an AOR's set as a sweep found it.
type sweptSet struct {
	aor string
	bs  []packed
}

// report calls expired with each binding of e expired at at (Unix
// nanoseconds).
func (e *sweptSet) report(at int64, expired func(Binding)) {
	for i := range e.bs {
		if !e.bs[i].live(at) {
			b, _ := e.bs[i].unpack(e.aor, nil)
			expired(b)
		}
	}
}

// expire sweeps at most limit due AORs and reports whether more are due.
// With report, it appends each set it shortens or drops, as it found it.
func (s *shard) expire(at int64, limit int, report *[]sweptSet) (removed int, more bool) {
	s.lock()
	defer s.mu.Unlock()
	defer s.noteDue()
	for ; len(s.due) > 0 && s.due[0].next <= at; limit-- {
		if limit == 0 {
			return removed, true
		}
		r := s.due[0]
		if report != nil {
			*report = append(*report, sweptSet{r.aor, r.bs})
		}
		live := 0
		for i := range r.bs {
			if r.bs[i].live(at) {
				live++
			}
		}
		removed += len(r.bs) - live
		s.bindings.Add(-int64(len(r.bs) - live))
		if live == 0 {
			s.due.Pop()
			delete(s.aors, r.aor)
			s.naors.Add(-1)
			continue
		}
		// A new slice, not a filter in place: Lookup and Update may be
		// copying the old one out with no lock held.
		kept := make([]packed, 0, live)
		for i := range r.bs {
			if r.bs[i].live(at) {
				kept = append(kept, r.bs[i])
			}
		}
		r.bs = kept
		r.next = earliest(kept)
		s.due.Fix(0)
	}
	return removed, false
}

// noteDue publishes the heap's earliest expiry in nextDue. It must be
// called with the write lock held, after any change to the heap.
func (s *shard) noteDue() {
	if len(s.due) == 0 {
		s.nextDue.Store(math.MaxInt64)
		return
	}
	s.nextDue.Store(s.due[0].next)
}

// Count implements [Store.Count].
func (m *Memory) Count() (bindings, aors int) {
	if m.closed.Load() {
		return 0, 0
	}
	for i := range m.shards {
		bindings += int(m.shards[i].bindings.Load())
		aors += int(m.shards[i].naors.Load())
	}
	return bindings, aors
}

// Range implements [Store.Range]. It copies one shard at a time and calls fn
// with no lock held, so a slow admin listing never blocks registrations for
// long and fn may itself call the store.
func (m *Memory) Range(fn func(aor string, bs []Binding) bool) {
	type set struct {
		aor string
		bs  []packed
	}
	var batch []set
	for i := range m.shards {
		if m.closed.Load() {
			return
		}
		s := &m.shards[i]
		batch = batch[:0]
		s.rlock()
		for aor, r := range s.aors {
			batch = append(batch, set{aor, r.bs})
		}
		s.mu.RUnlock()
		s.yield()
		// Stored binding slices are never written, so they are copied
		// out with no lock held.
		for _, e := range batch {
			if !fn(e.aor, unpackAll(e.aor, e.bs, 0, true)) {
				return
			}
		}
	}
}

// Close implements [Store.Close]. It drops all bindings so their memory can
// be reclaimed even if the *Memory itself stays referenced.
func (m *Memory) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	for i := range m.shards {
		s := &m.shards[i]
		s.lock()
		s.aors = nil
		s.due = nil
		s.noteDue()
		s.bindings.Store(0)
		s.naors.Store(0)
		s.mu.Unlock()
	}
	return nil
}

// earliest returns the first expiry in a non-empty set.
func earliest(bs []packed) int64 {
	t := bs[0].expires
	for i := 1; i < len(bs); i++ {
		t = min(t, bs[i].expires)
	}
	return t
}

// unpackAll returns the bindings of bs live at now (Unix nanoseconds), or
// all of them for Range, in a slice that shares nothing mutable with bs.
// The Path values of all of them share one backing array.
func unpackAll(aor string, bs []packed, now int64, all bool) []Binding {
	n := 0
	for i := range bs {
		if all || bs[i].live(now) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]Binding, 0, n)
	var pool []string
	for i := range bs {
		if !all && !bs[i].live(now) {
			continue
		}
		var b Binding
		b, pool = bs[i].unpack(aor, pool)
		out = append(out, b)
	}
	return out
}

// Before orders a shard's AORs by when Expire must next look at them.
func (r *record) Before(o *record) bool { return r.next < o.next }

// SetIndex implements clock.Entry.
func (r *record) SetIndex(i int) { r.idx = i }

// lockSpin is how long a goroutine that finds a shard locked keeps trying
// before it blocks. A holder keeps the lock for microseconds (one Update,
// one expire batch), while a goroutine that blocks must then wait for a
// processor, and when every processor is busy (a bulk load on one, the
// collector's mark worker on another) that is the scheduler's 10 ms
// preemption: BenchmarkMillionPauses measured waits of 4-62 ms at load 16
// for holds of 30-340 µs.
const lockSpin = 100 * time.Microsecond

// lock takes the shard's write lock: see acquire.
func (s *shard) lock() { s.acquire(s.mu.TryLock, s.mu.Lock) }

// rlock takes the shard's read lock: see acquire.
func (s *shard) rlock() { s.acquire(s.mu.TryRLock, s.mu.RLock) }

// acquire takes a lock with try, spinning for up to lockSpin, and then
// blocks in block. While it waits it counts in s.waiting, which the sweep
// reads to yield between its batches.
func (s *shard) acquire(try func() bool, block func()) {
	if try() {
		return
	}
	s.waiting.Add(1)
	if !spin(try) {
		block()
	}
	s.waiting.Add(-1)
}

// spin calls try until it succeeds, for lockSpin at most. With one
// processor the holder cannot run while spin does, so it does not try.
func spin(try func() bool) bool {
	if runtime.GOMAXPROCS(0) == 1 {
		return false
	}
	for start := time.Now(); time.Since(start) < lockSpin; {
		if try() {
			return true
		}
	}
	return false
}

// unlock releases the write lock and yields to a goroutine waiting for
// it. Unlock readies a blocked waiter on this processor's next slot, where
// it runs only when this goroutine stops: a bulk loader that never blocks
// kept one waiting 12.5 ms so, in BenchmarkMillionPauses, until the
// scheduler preempted it.
func (s *shard) unlock() {
	s.mu.Unlock()
	s.yield()
}

// yield lets a goroutine waiting for the shard take it before a background
// task (the sweep, a listing) takes it again: without it the task, still
// running, would win the lock back at once, and a waiter that had blocked
// would stay runnable until the scheduler preempted the task.
func (s *shard) yield() {
	if s.waiting.Load() > 0 {
		runtime.Gosched()
	}
}
