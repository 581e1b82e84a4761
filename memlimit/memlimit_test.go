package memlimit

import (
	"context"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
)

func TestDerive(t *testing.T) {
	for _, tc := range []struct {
		b    Bounds
		want int64
	}{
		{Bounds{}, Base},
		{Bounds{MaxInFlight: 1_000, MaxTransactions: 50_000, CaptureBytes: 32 << 20},
			Base + 1_000*PerInFlight + 49_000*PerTransaction + 32<<20},
		// The defaults call for 1.1 GiB: a limit there never bites
		// before 512 MB resident, so Ceiling caps it.
		{Bounds{MaxInFlight: 40_000, MaxTransactions: 500_000, CaptureBytes: 32 << 20}, Ceiling},
		// max_transactions counts those in flight too: no lingering room
		// when the two are equal, and never a negative term.
		{Bounds{MaxInFlight: 10, MaxTransactions: 10}, Base + 10*PerInFlight},
		{Bounds{MaxInFlight: 10, MaxTransactions: 5, CaptureBytes: -1}, Base + 5*PerInFlight},
	} {
		if got := Derive(tc.b); got != tc.want {
			t.Errorf("Derive(%+v) = %d, want %d", tc.b, got, tc.want)
		}
	}
}

func TestApply(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	if got := Apply(0, Bounds{MaxInFlight: 1, MaxTransactions: 1}); got != Base+PerInFlight || debug.SetMemoryLimit(-1) != got {
		t.Fatalf("derived limit %d, runtime has %d", got, debug.SetMemoryLimit(-1))
	}
	if got := Apply(1<<30, Bounds{}); got != 1<<30 || debug.SetMemoryLimit(-1) != 1<<30 {
		t.Fatalf("configured limit %d, runtime has %d", got, debug.SetMemoryLimit(-1))
	}
	t.Setenv("GOMEMLIMIT", "3GiB")
	if got := Apply(1<<30, Bounds{}); got != 1<<30 {
		t.Fatalf("with GOMEMLIMIT set, Apply changed the limit to %d", got)
	}
}

// TestReleaser feeds load sequences, one per check, and lists the checks
// that release.
func TestReleaser(t *testing.T) {
	for _, tc := range []struct {
		name  string
		loads []int64
		want  []int
	}{
		{"never above Min", []int64{0, 5_000, 9_999, 0, 0}, nil},
		{"busy and steady", []int64{50_000, 60_000, 55_000, 58_000}, nil},
		{"burst then quiet: release and settle", []int64{0, 400_000, 300_000, 100_000, 60_000, 20_000, 0, 0, 0, 0, 0, 0, 0, 0},
			[]int{3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"a new burst while settling waits for its own fall", []int64{200_000, 10_000, 300_000, 290_000, 50_000},
			[]int{1, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := releasesAt(NewReleaser(), tc.loads); !slices.Equal(got, tc.want) {
				t.Fatalf("released at %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRun: the loop checks on the clock it is given and stops with ctx.
func TestRun(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	var load atomic.Int64
	load.Store(100_000)
	var freed atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		NewReleaser().Run(ctx, clk, 5*time.Second, load.Load, func() { freed.Add(1) })
		close(done)
	}()
	armed := func() { // the loop has taken the last check and armed the next
		for clk.Pending() == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	step := func() { armed(); clk.Advance(5 * time.Second); armed() }
	step()
	load.Store(0)
	step()
	step()
	if n := freed.Load(); n != 2 {
		t.Fatalf("freed %d times, want 2 (the fall, one settling check)", n)
	}
	cancel()
	<-done
}

// TestAllocReleaser: bytes allocated per check; a burst of at least
// AllocBurst releases when it falls to a quarter, once more at the next
// quiet check, and a busy server's steady allocation never does.
func TestAllocReleaser(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name  string
		loads []int64
		want  []int
	}{
		{"idle", []int64{mib, 2 * mib, mib, 0}, nil},
		{"small burst", []int64{mib, AllocBurst - 1, 0, 0}, nil},
		{"steady and busy", []int64{200 * mib, 180 * mib, 210 * mib, 190 * mib}, nil},
		{"connection burst then idle", []int64{mib, 90 * mib, 120 * mib, 100 * mib, 2 * mib, mib, mib, mib}, []int{4, 5}},
		{"a falling rate counts once it reaches a quarter", []int64{100 * mib, 60 * mib, 30 * mib, 20 * mib, 20 * mib, 20 * mib}, []int{3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := releasesAt(NewAllocReleaser(), tc.loads); !slices.Equal(got, tc.want) {
				t.Fatalf("released at %v, want %v", got, tc.want)
			}
		})
	}
}

// allocSink keeps TestAllocated's allocations from being optimized away.
var allocSink [][]byte

// TestAllocated: each call counts what was allocated since the one
// before, and only that.
func TestAllocated(t *testing.T) {
	allocated := Allocated()
	for i := range 64 {
		allocSink = append(allocSink, make([]byte, 64<<10+i))
	}
	if got := allocated(); got < 64*64<<10 {
		t.Fatalf("allocated %d bytes, want at least %d", got, 64*64<<10)
	}
	allocSink = nil
	if got := allocated(); got > 1<<20 {
		t.Fatalf("allocated %d bytes since the last call with nothing allocated, want under 1 MiB", got)
	}
}

// releasesAt feeds r one load per check and lists the checks that
// release.
func releasesAt(r *Releaser, loads []int64) []int {
	var got []int
	for i, l := range loads {
		if r.Observe(l) {
			got = append(got, i)
		}
	}
	return got
}
