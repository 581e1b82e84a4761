package clock

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestFakeAdvanceOrder(t *testing.T) {
	c := NewFake(epoch)
	var got []string
	at := func(name string) func() {
		return func() { got = append(got, name+"@"+c.Now().Sub(epoch).String()) }
	}
	c.AfterFunc(2*time.Second, at("b"))
	c.AfterFunc(time.Second, at("a1"))
	c.AfterFunc(time.Second, at("a2"))
	c.AfterFunc(time.Second, func() {
		// Timers started by a timer run in the same Advance when due.
		c.AfterFunc(500*time.Millisecond, at("nested"))
	})
	c.AfterFunc(5*time.Second, at("late"))
	c.Advance(3 * time.Second)
	want := []string{"a1@1s", "a2@1s", "nested@1.5s", "b@2s"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if c.Now() != epoch.Add(3*time.Second) || c.Pending() != 1 {
		t.Fatalf("now %v pending %d", c.Now(), c.Pending())
	}
}

func TestFakeStop(t *testing.T) {
	c := NewFake(epoch)
	fired := false
	tm := c.AfterFunc(time.Second, func() { fired = true })
	other := c.AfterFunc(time.Second, func() {})
	if !tm.Stop() || tm.Stop() {
		t.Fatal("Stop should succeed once")
	}
	c.Advance(time.Second)
	if fired || other.Stop() {
		t.Fatal("stopped timer fired, or fired timer stoppable")
	}
}

func TestWheelFiresNotEarly(t *testing.T) {
	w := NewWheel(time.Millisecond)
	defer w.Stop()
	var wg sync.WaitGroup
	for _, d := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond} {
		wg.Add(1)
		start := time.Now()
		w.AfterFunc(d, func() {
			defer wg.Done()
			if el := time.Since(start); el < d {
				t.Errorf("timer %v fired after %v", d, el)
			}
		})
	}
	wg.Wait()
	if w.Len() != 0 {
		t.Fatalf("Len = %d after all fired", w.Len())
	}
}

func TestWheelStop(t *testing.T) {
	w := NewWheel(time.Millisecond)
	defer w.Stop()
	var fired atomic.Int32
	tm := w.AfterFunc(10*time.Millisecond, func() { fired.Add(1) })
	if !tm.Stop() || tm.Stop() {
		t.Fatal("Stop should succeed once")
	}
	done := make(chan struct{})
	tm2 := w.AfterFunc(20*time.Millisecond, func() { close(done) })
	<-done
	if fired.Load() != 0 || tm2.Stop() {
		t.Fatal("stopped timer fired or fired timer stoppable")
	}
}

// TestWheelWraps runs timers longer than one turn of a small wheel, and a
// timer started after the wheel slept.
func TestWheelWraps(t *testing.T) {
	w := newWheel(time.Millisecond, 2, 8)
	defer w.Stop()
	for _, d := range []time.Duration{30 * time.Millisecond, 3 * time.Millisecond} {
		start := time.Now()
		done := make(chan time.Duration)
		w.AfterFunc(d, func() { done <- time.Since(start) })
		if el := <-done; el < d {
			t.Fatalf("timer %v fired after %v", d, el)
		}
		time.Sleep(20 * time.Millisecond) // idle across several turns
	}
}

func TestWheelConcurrent(t *testing.T) {
	w := NewWheel(time.Millisecond)
	defer w.Stop()
	const goroutines, each = 8, 500
	var fired, stopped atomic.Int64
	var wg, fireWG sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				fireWG.Add(1)
				tm := w.AfterFunc(time.Duration(i%7)*time.Millisecond, func() {
					fired.Add(1)
					fireWG.Done()
				})
				if (i+g)%3 == 0 && tm.Stop() {
					stopped.Add(1)
					fireWG.Done()
				}
			}
		}()
	}
	wg.Wait()
	fireWG.Wait()
	if fired.Load()+stopped.Load() != goroutines*each {
		t.Fatalf("fired %d + stopped %d != %d", fired.Load(), stopped.Load(), goroutines*each)
	}
}

// TestWheelNoGoroutines checks that pending timers cost no goroutines.
func TestWheelNoGoroutines(t *testing.T) {
	w := NewWheel(DefaultTick)
	defer w.Stop()
	before := runtime.NumGoroutine()
	for range 10000 {
		w.AfterFunc(time.Hour, func() {})
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("goroutines grew from %d to %d", before, n)
	}
}

func BenchmarkWheelAfterFuncStop(b *testing.B) {
	w := NewWheel(DefaultTick)
	defer w.Stop()
	f := func() {}
	b.ReportAllocs()
	for b.Loop() {
		w.AfterFunc(32*time.Second, f).Stop()
	}
}

func BenchmarkTimeAfterFuncStop(b *testing.B) {
	f := func() {}
	b.ReportAllocs()
	for b.Loop() {
		time.AfterFunc(32*time.Second, f).Stop()
	}
}

func BenchmarkWheelAfterFuncStopParallel(b *testing.B) {
	w := NewWheel(DefaultTick)
	defer w.Stop()
	f := func() {}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.AfterFunc(32*time.Second, f).Stop()
		}
	})
}

func BenchmarkTimeAfterFuncStopParallel(b *testing.B) {
	f := func() {}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			time.AfterFunc(32*time.Second, f).Stop()
		}
	})
}

// Benchmark200kPending measures the heap held by 200 000 pending timers,
// the timer load of 200 000 live transactions.
func Benchmark200kPending(b *testing.B) {
	const n = 200_000
	run := func(b *testing.B, start func(f func()) Timer) {
		timers := make([]Timer, n)
		var f func() = func() {}
		for b.Loop() {
			before := heapInUse()
			for i := range timers {
				timers[i] = start(f)
			}
			after := heapInUse()
			b.ReportMetric(float64(after-before)/n, "B/timer")
			b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
			for i := range timers {
				timers[i].Stop()
				timers[i] = nil
			}
		}
	}
	b.Run("wheel", func(b *testing.B) {
		w := NewWheel(DefaultTick)
		defer w.Stop()
		run(b, func(f func()) Timer { return w.AfterFunc(32*time.Second, f) })
	})
	b.Run("time.AfterFunc", func(b *testing.B) {
		run(b, func(f func()) Timer { return time.AfterFunc(32*time.Second, f) })
	})
}

// Benchmark200kFiring makes 200 000 timers fall due within ~100 ms and
// measures how long until all have run: the wheel runs them on its one
// goroutine, time.AfterFunc starts a goroutine for each.
func Benchmark200kFiring(b *testing.B) {
	const n = 200_000
	run := func(b *testing.B, start func(d time.Duration, f func())) {
		for b.Loop() {
			var wg sync.WaitGroup
			wg.Add(n)
			f := func() { wg.Done() }
			for i := range n {
				start(time.Duration(i%100)*time.Millisecond, f)
			}
			wg.Wait()
		}
	}
	b.Run("wheel", func(b *testing.B) {
		w := NewWheel(DefaultTick)
		defer w.Stop()
		run(b, func(d time.Duration, f func()) { w.AfterFunc(d, f) })
	})
	b.Run("time.AfterFunc", func(b *testing.B) {
		run(b, func(d time.Duration, f func()) { time.AfterFunc(d, f) })
	})
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
