package clock

import (
	"sync"
	"time"
)

// Fake is a Clock that moves only when Advance is called, so that tests
// of SIP timers run deterministically and take no real time.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers Heap[*fakeTimer]
}

// NewFake returns a Fake clock reading start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time: during a timer's function, that timer's
// deadline.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arranges for f to run during the Advance call that passes
// now+d. A d of zero or less runs at the next Advance.
func (c *Fake) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, at: c.now.Add(max(d, 0)), seq: c.seq, f: f}
	c.timers.Push(t)
	return t
}

// Advance moves the clock forward by d, running every timer that falls
// due on the way in deadline order (timers with the same deadline in the
// order they were made), on the calling goroutine. Timers that those
// functions start also run if they fall due before the end.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for len(c.timers) > 0 && !c.timers[0].at.After(end) {
		t := c.timers.Pop()
		c.now = t.at
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

// Pending returns the number of timers not yet run or stopped.
func (c *Fake) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

type fakeTimer struct {
	c     *Fake
	at    time.Time
	seq   uint64
	f     func()
	index int // in the heap; -1 once run or stopped
}

// Stop removes the timer if it has not run.
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.index < 0 {
		return false
	}
	t.c.timers.Remove(t.index)
	return true
}

// Before orders timers by deadline, and timers with the same deadline in
// the order they were made.
func (t *fakeTimer) Before(o *fakeTimer) bool {
	if t.at.Equal(o.at) {
		return t.seq < o.seq
	}
	return t.at.Before(o.at)
}

// SetIndex implements Entry.
func (t *fakeTimer) SetIndex(i int) { t.index = i }
