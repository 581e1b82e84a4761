package memlimit

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
)

// TestPressure: Full follows the live heap of the last check against
// PressureShare eighths of the limit, both ways.
func TestPressure(t *testing.T) {
	const limit = 800
	for _, tc := range []struct {
		live int64
		want bool
	}{
		{0, false},
		{limit/8*PressureShare - 1, false},
		{limit / 8 * PressureShare, true},
		{limit * 2, true},
		{1, false},
	} {
		p := newPressure(limit, nil, func() int64 { return tc.live }, nil)
		if p.Full() {
			t.Fatal("full before any check")
		}
		p.Check()
		if got := p.Full(); got != tc.want {
			t.Errorf("live %d of limit %d: Full %v, want %v", tc.live, limit, got, tc.want)
		}
	}
	if (*Pressure)(nil).Full() {
		t.Error("a nil Pressure is full")
	}
}

// TestPressureRun: Run checks at each interval of its clock until its
// context ends; NewPressure reads the runtime's live heap.
func TestPressureRun(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	var live atomic.Int64
	p := newPressure(100, nil, live.Load, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx, clk, time.Second); close(done) }()
	live.Store(100)
	waitFor(t, func() bool { clk.Advance(time.Second); return p.Full() })
	live.Store(0)
	waitFor(t, func() bool { clk.Advance(time.Second); return !p.Full() })
	cancel()
	<-done
	runtime.GC()
	if NewPressure(1).live() <= 0 {
		t.Error("the runtime's live heap read as nothing")
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for range 1000 {
		if ok() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("condition not reached")
}
