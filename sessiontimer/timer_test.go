package sessiontimer

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type recorder struct {
	mu     sync.Mutex
	clk    *clock.Fake
	events []string
}

func (r *recorder) fn(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, r.clk.Now().Sub(epoch).String()+" "+ev.String())
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func TestByeAfter(t *testing.T) {
	tests := []struct{ interval, want time.Duration }{
		{90 * time.Second, 60 * time.Second},     // a third (30 s) is less than 32 s
		{96 * time.Second, 64 * time.Second},     // both 32 s
		{1800 * time.Second, 1768 * time.Second}, // 32 s
	}
	for _, tt := range tests {
		if got := ByeAfter(tt.interval); got != tt.want {
			t.Errorf("ByeAfter(%v) = %v, want %v", tt.interval, got, tt.want)
		}
	}
}

func TestTimer(t *testing.T) {
	type step struct {
		advance   time.Duration
		refreshed *Session // call Refreshed with this session before advancing
	}
	s120 := Session{120 * time.Second, RefresherUAC}
	tests := []struct {
		name    string
		session Session
		local   bool
		steps   []step
		want    []string
	}{
		{"remote refresher that vanishes: expire 32 s before the interval ends", s120, false,
			[]step{{advance: 200 * time.Second}}, []string{"1m28s expire"}},
		{"local refresher: refresh at half, expire if it never succeeds", s120, true,
			[]step{{advance: 200 * time.Second}}, []string{"1m0s refresh", "1m28s expire"}},
		{"remote refreshes in time: no expiry", s120, false,
			[]step{{advance: 70 * time.Second}, {refreshed: &s120, advance: 70 * time.Second}},
			nil},
		{"local refresh succeeds: next refresh a half interval later", s120, true,
			[]step{{advance: 61 * time.Second}, {refreshed: &s120, advance: 60 * time.Second}},
			[]string{"1m0s refresh", "2m1s refresh"}},
		{"refresh renegotiates a longer interval", s120, false,
			[]step{{advance: 10 * time.Second}, {refreshed: &Session{1800 * time.Second, RefresherUAC}, advance: 1800 * time.Second}},
			[]string{"29m38s expire"}},
		{"short interval: expire a third before the end", Session{90 * time.Second, RefresherUAC}, false,
			[]step{{advance: 100 * time.Second}}, []string{"1m0s expire"}},
		{"no session: nothing fires", Session{}, true, []step{{advance: time.Hour}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewFake(epoch)
			r := &recorder{clk: clk}
			tm := Start(clk, tt.session, tt.local, r.fn)
			for _, s := range tt.steps {
				if s.refreshed != nil {
					tm.Refreshed(*s.refreshed, tt.local)
				}
				clk.Advance(s.advance)
			}
			if got := r.got(); !slices.Equal(got, tt.want) {
				t.Fatalf("events %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTimerStop(t *testing.T) {
	clk := clock.NewFake(epoch)
	r := &recorder{clk: clk}
	tm := Start(clk, Session{120 * time.Second, RefresherUAS}, false, r.fn)
	if d := tm.Deadline(); !d.Equal(epoch.Add(88 * time.Second)) {
		t.Fatalf("deadline %v", d)
	}
	tm.Stop()
	tm.Stop()
	tm.Refreshed(Session{120 * time.Second, RefresherUAS}, false)
	clk.Advance(time.Hour)
	if got := r.got(); len(got) != 0 {
		t.Fatalf("a stopped timer fired: %q", got)
	}
	if clk.Pending() != 0 {
		t.Fatalf("%d timers left pending", clk.Pending())
	}
	if !tm.Deadline().IsZero() {
		t.Fatal("a stopped timer has a deadline")
	}
}

// TestTimerConcurrent refreshes and stops from several goroutines while
// the clock moves, for the race detector.
func TestTimerConcurrent(t *testing.T) {
	clk := clock.NewFake(epoch)
	r := &recorder{clk: clk}
	tm := Start(clk, Session{90 * time.Second, RefresherUAC}, true, r.fn)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				tm.Refreshed(Session{90 * time.Second, RefresherUAC}, j%2 == 0)
				_ = tm.Deadline()
			}
		}()
	}
	for i := 0; i < 100; i++ {
		clk.Advance(time.Second)
	}
	wg.Wait()
	tm.Stop()
	clk.Advance(time.Hour)
	n := len(r.got())
	clk.Advance(time.Hour)
	if len(r.got()) != n {
		t.Fatal("events after Stop")
	}
}

// TestTimerStaleFiring: the wheel may run a Timer's alarm for an arming
// that a refresh has since replaced (it took the alarm out to run just
// before); that firing is not due, and tells nothing.
func TestTimerStaleFiring(t *testing.T) {
	for _, local := range []bool{false, true} {
		clk := clock.NewFake(epoch)
		r := &recorder{clk: clk}
		tm := Start(clk, Session{120 * time.Second, RefresherUAC}, local, r.fn)
		clk.Advance(50 * time.Second)
		tm.Refreshed(Session{120 * time.Second, RefresherUAC}, local)
		tm.fire() // the first arming's late run
		if got := r.got(); len(got) != 0 {
			t.Errorf("local %v: a stale firing told %q", local, got)
		}
		clk.Advance(200 * time.Second)
		if got := r.got(); len(got) == 0 {
			t.Errorf("local %v: the re-armed timer never fired", local)
		}
	}
}

// TestTimerRearmNoAllocation: a refresh re-arms the timer in place; a
// held call refreshed every 15 minutes allocates nothing for it.
func TestTimerRearmNoAllocation(t *testing.T) {
	w := clock.NewWheel(time.Millisecond)
	defer w.Stop()
	tm := Start(w, Session{1800 * time.Second, RefresherUAC}, false, func(Event) {})
	defer tm.Stop()
	s := Session{1800 * time.Second, RefresherUAC}
	if n := testing.AllocsPerRun(100, func() { tm.Refreshed(s, false) }); n != 0 {
		t.Errorf("Refreshed allocates %.0f times, want 0", n)
	}
}
