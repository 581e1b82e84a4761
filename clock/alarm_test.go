package clock

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestAlarm: an Alarm fires once per Schedule, a later Schedule moves
// it, Stop prevents it, and it can be armed again after it fired, on a
// Wheel and on any other Clock (a Fake).
func TestAlarm(t *testing.T) {
	for _, tc := range []struct {
		name string
		clk  func(t *testing.T) (Clock, func(time.Duration))
	}{
		{"wheel", func(t *testing.T) (Clock, func(time.Duration)) {
			w := NewWheel(time.Millisecond)
			t.Cleanup(w.Stop)
			return w, func(d time.Duration) { time.Sleep(d) }
		}},
		{"fake", func(*testing.T) (Clock, func(time.Duration)) {
			f := NewFake(time.Unix(0, 0))
			return f, f.Advance
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk, wait := tc.clk(t)
			var fired atomic.Int32
			var a Alarm
			a.Init(func() { fired.Add(1) })
			a.Schedule(clk, 20*time.Millisecond)
			a.Schedule(clk, 200*time.Millisecond) // moved: once, later
			wait(60 * time.Millisecond)
			if n := fired.Load(); n != 0 {
				t.Fatalf("fired %d times before its moved deadline", n)
			}
			wait(300 * time.Millisecond)
			if n := fired.Load(); n != 1 {
				t.Fatalf("fired %d times, want 1", n)
			}
			a.Schedule(clk, 10*time.Millisecond) // again after it fired
			wait(100 * time.Millisecond)
			if n := fired.Load(); n != 2 {
				t.Fatalf("armed again: fired %d times, want 2", n)
			}
			a.Schedule(clk, 10*time.Millisecond)
			if !a.Stop() {
				t.Error("Stop of a pending alarm reported it was not pending")
			}
			wait(100 * time.Millisecond)
			if n := fired.Load(); n != 2 {
				t.Fatalf("stopped: fired %d times, want 2", n)
			}
		})
	}
}

// TestAlarmNoAllocation: re-arming an Alarm on a Wheel allocates nothing,
// where AfterFunc allocates an entry every time.
func TestAlarmNoAllocation(t *testing.T) {
	w := NewWheel(time.Millisecond)
	defer w.Stop()
	var a Alarm
	a.Init(func() {})
	if n := testing.AllocsPerRun(100, func() { a.Schedule(w, time.Hour) }); n != 0 {
		t.Errorf("Schedule allocates %.0f times, want 0", n)
	}
	a.Stop()
	if w.Len() != 0 {
		t.Errorf("%d timers pending after Stop", w.Len())
	}
}
