package sessiontimer

import (
	"sync"
	"time"

	"github.com/parley-sip/parley/clock"
)

// Event is what a Timer tells its owner.
type Event uint8

// Events.
const (
	// Refresh: this side is the refresher and half the interval has
	// passed (§10): send a re-INVITE or UPDATE now.
	Refresh Event = iota + 1
	// Expire: no refresh succeeded in time (§10): send BYE.
	Expire
)

// String names the event for logs.
func (e Event) String() string {
	switch e {
	case Refresh:
		return "refresh"
	case Expire:
		return "expire"
	}
	return "none"
}

// ByeAfter is when a session with this interval is given up for lost if
// nobody has refreshed it: §10 asks for the BYE before the interval ends,
// by the lesser of 32 seconds and a third of the interval, so that a
// refresh still in flight (Timer F is 32 s) is not raced.
func ByeAfter(interval time.Duration) time.Duration {
	return interval - min(32*time.Second, interval/3)
}

// Timer is one dialog's session timer. Its Handler is called from the
// clock's goroutine, without any lock of the Timer held, and must not
// block. Every method may be called from any goroutine. A held call keeps
// two, so the fields are packed (88 bytes), and a Timer may be a field
// of its owner's struct (Init) rather than an allocation of its own.
type Timer struct {
	clk clock.Clock
	h   Handler

	mu      sync.Mutex
	alarm   clock.Alarm // by value: re-armed on every refresh, never reallocated
	byeAt   time.Time
	early   time.Duration // a pending Refresh is due this long before byeAt
	ev      Event         // the event pending; 0 for none
	local   bool
	stopped bool
}

// Handler is told of a Timer's events. An owner that is its own Handler
// (a pointer to it) costs no closure per Timer.
type Handler interface {
	SessionTimer(Event)
}

// Func is a function as a Handler.
type Func func(Event)

// SessionTimer calls f.
func (f Func) SessionTimer(ev Event) { f(ev) }

// Start arms a timer for the session s, where local says whether this
// side refreshes: fn gets Refresh at half the interval (local only) and
// Expire at ByeAfter unless Refreshed is called first. A session that is
// not Active arms nothing, and Start returns a stopped Timer.
func Start(clk clock.Clock, s Session, local bool, fn func(Event)) *Timer {
	t := new(Timer)
	t.Init(clk, s, local, Func(fn))
	return t
}

// Init is Start for a Timer its owner holds by value, telling h: it must
// be the zero Timer, and is used by pointer from then on.
func (t *Timer) Init(clk clock.Clock, s Session, local bool, h Handler) {
	t.clk, t.h = clk, h
	t.alarm.Init(t.fire)
	t.Refreshed(s, local)
}

// Refreshed re-arms the timer from now after a refresh succeeded (a 2xx
// to a re-INVITE or UPDATE, sent or received), with the session as that
// refresh negotiated it.
func (t *Timer) Refreshed(s Session, local bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.disarmLocked()
	if !s.Active() {
		return
	}
	now := t.clk.Now()
	t.local = local
	t.byeAt = now.Add(ByeAfter(s.Interval))
	if local {
		t.early = ByeAfter(s.Interval) - s.Interval/2
		t.armLocked(s.Interval/2, Refresh)
	} else {
		t.armLocked(ByeAfter(s.Interval), Expire)
	}
}

// Stop disarms the timer for good; later calls to Refreshed do nothing.
// It is safe to call more than once.
func (t *Timer) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	t.disarmLocked()
}

// Deadline returns when the session expires unless refreshed; the zero
// time for a stopped timer or one without a session.
func (t *Timer) Deadline() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped || t.ev == 0 {
		return time.Time{}
	}
	return t.byeAt
}

func (t *Timer) disarmLocked() {
	t.ev = 0
	t.alarm.Stop()
}

func (t *Timer) armLocked(d time.Duration, ev Event) {
	t.ev = ev
	t.alarm.Schedule(t.clk, d)
}

// due is when the pending event falls due.
func (t *Timer) due() time.Time {
	if t.ev == Refresh {
		return t.byeAt.Add(-t.early)
	}
	return t.byeAt
}

// fire runs on the clock's goroutine. A firing for an arming since
// replaced (the wheel had taken it out to run as Refreshed re-armed)
// finds its event not due and does nothing. After a Refresh the timer
// waits for the refresh to succeed until the BYE point; a refresh that
// fails leaves Expire to end the session.
func (t *Timer) fire() {
	t.mu.Lock()
	ev := t.ev
	if t.stopped || ev == 0 || t.clk.Now().Before(t.due()) {
		t.mu.Unlock()
		return
	}
	t.ev = 0
	if ev == Refresh {
		t.armLocked(t.byeAt.Sub(t.clk.Now()), Expire)
	}
	t.mu.Unlock()
	t.h.SessionTimer(ev)
}
