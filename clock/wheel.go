package clock

import (
	"sync"
	"sync/atomic"
	"time"
)

// Wheel is a hashed timing wheel (Varghese and Lauck, 1987): time is cut
// into ticks, each pending timer hangs in the slot of its deadline tick,
// and one goroutine visits the slots as the ticks pass. Adding and
// stopping a timer are O(1) list operations; a timer costs one small
// allocation and no goroutine, so memory stays flat with 200 000 pending
// SIP transactions, where time.AfterFunc would start a goroutine for each
// timer that fires.
//
// Timers fire no earlier than asked, and at most about one tick later
// while the goroutine keeps up. Their functions run one at a time on the
// wheel's goroutine and must not block. The goroutine sleeps while no
// timer is pending.
type Wheel struct {
	tick   time.Duration
	start  time.Time // carries the monotonic reading all deadlines count from
	shards []wheelShard
	rr     atomic.Uint32 // round-robin shard choice
	live   atomic.Int64  // pending timers in all shards
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// Shards spread the lock: concurrent AfterFunc and Stop calls from many
// goroutines (one per transport reader) rarely meet on one mutex.
const (
	wheelShards = 16
	wheelSlots  = 1024 // per shard; 10.24 s per turn at a 10 ms tick
)

type wheelShard struct {
	mu        sync.Mutex
	w         *Wheel
	slots     []*wheelTimer // list heads, len is a power of two
	processed int64         // last tick whose timers were collected
	_         [16]byte      // 64 bytes: keep shards on separate cache lines
}

type wheelTimer struct {
	shard      *wheelShard
	deadline   int64 // tick number
	prev, next *wheelTimer
	f          func()
	linked     bool
	kept       bool // an Alarm's: f stays for the next Schedule
}

// NewWheel starts a wheel with the given tick and returns it.
func NewWheel(tick time.Duration) *Wheel { return newWheel(tick, wheelShards, wheelSlots) }

func newWheel(tick time.Duration, shards, slots int) *Wheel {
	if tick <= 0 {
		tick = DefaultTick
	}
	w := &Wheel{
		tick:   tick,
		start:  time.Now(),
		shards: make([]wheelShard, shards),
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	for i := range w.shards {
		w.shards[i].w = w
		w.shards[i].slots = make([]*wheelTimer, slots)
	}
	go w.run()
	return w
}

// Now returns the current time.
func (w *Wheel) Now() time.Time { return time.Now() }

// Len returns the number of pending timers.
func (w *Wheel) Len() int { return int(w.live.Load()) }

// Stop ends the wheel's goroutine. Pending timers never fire.
func (w *Wheel) Stop() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// AfterFunc runs f on the wheel's goroutine once d has passed.
func (w *Wheel) AfterFunc(d time.Duration, f func()) Timer {
	t := &wheelTimer{f: f}
	w.arm(t, d)
	return t
}

// arm links t, not pending, to fire once d has passed. A timer keeps the
// shard it was first armed in, so that its links only ever change under
// one lock.
func (w *Wheel) arm(t *wheelTimer, d time.Duration) {
	// Round the deadline up so that a timer never fires early.
	deadline := int64((time.Since(w.start) + d + w.tick - 1) / w.tick)
	if t.shard == nil {
		t.shard = &w.shards[int(w.rr.Add(1))%len(w.shards)]
	}
	s := t.shard
	s.mu.Lock()
	// A deadline at or before the last collected tick would wait a whole
	// turn of the wheel: put it on the next tick instead.
	t.deadline = max(deadline, s.processed+1)
	s.link(t)
	s.mu.Unlock()
	if w.live.Add(1) == 1 {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Stop removes the timer from its slot if it is still pending.
func (t *wheelTimer) Stop() bool {
	s := t.shard
	s.mu.Lock()
	if !t.linked {
		s.mu.Unlock()
		return false
	}
	s.unlink(t)
	s.mu.Unlock()
	s.w.live.Add(-1)
	return true
}

func (s *wheelShard) link(t *wheelTimer) {
	head := &s.slots[t.deadline&int64(len(s.slots)-1)]
	t.next = *head
	if t.next != nil {
		t.next.prev = t
	}
	*head = t
	t.linked = true
}

func (s *wheelShard) unlink(t *wheelTimer) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		s.slots[t.deadline&int64(len(s.slots)-1)] = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	}
	t.prev, t.next, t.linked = nil, nil, false
}

// collect unlinks every timer due by tick now and appends it to due.
func (s *wheelShard) collect(now int64, due []*wheelTimer) []*wheelTimer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now <= s.processed {
		return due
	}
	from := s.processed + 1
	if n := int64(len(s.slots)); now-from >= n {
		from = now - n + 1 // after a long sleep: visit every slot once
	}
	for tick := from; tick <= now; tick++ {
		for t := s.slots[tick&int64(len(s.slots)-1)]; t != nil; {
			next := t.next
			if t.deadline <= now {
				s.unlink(t)
				due = append(due, t)
			}
			t = next
		}
	}
	s.processed = now
	return due
}

func (w *Wheel) run() {
	defer close(w.done)
	ticker := time.NewTicker(w.tick)
	defer ticker.Stop()
	var due []*wheelTimer
	for {
		if w.live.Load() == 0 {
			ticker.Stop()
			select {
			case <-w.wake:
			case <-w.stop:
				return
			}
			ticker.Reset(w.tick)
		}
		select {
		case <-ticker.C:
		case <-w.stop:
			return
		}
		due = w.advance(due)
	}
}

// advance fires every timer due now, shard by shard, without holding a
// shard lock while a function runs (it may add or stop timers).
func (w *Wheel) advance(due []*wheelTimer) []*wheelTimer {
	now := int64(time.Since(w.start) / w.tick)
	for i := range w.shards {
		due = w.shards[i].collect(now, due[:0])
		if len(due) > 0 {
			w.live.Add(-int64(len(due)))
		}
		for j, t := range due {
			f := t.f
			if !t.kept {
				t.f = nil // let go of its closure
			}
			due[j] = nil
			f()
		}
	}
	return due[:0]
}
