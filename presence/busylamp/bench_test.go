package busylamp

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/presence/dialoginfo"
	"github.com/parley-sip/parley/presence/notify"
)

// BenchmarkCall is one whole call (trying, early, confirmed, terminated)
// through Update: what the observer's worker pays per proxied call.
func BenchmarkCall(b *testing.B) {
	clk := clock.NewFake(time.Unix(0, 0))
	tr := New(Config{Clock: clk, Linger: time.Second})
	b.ReportAllocs()
	for i := range b.N {
		id := strconv.Itoa(i)
		for _, ev := range steps(id, alice, bob, CallEvent{State: dialoginfo.Terminated, HungUpBy: Caller}) {
			tr.Update(ev)
		}
		clk.Advance(10 * time.Millisecond)
	}
}

// BenchmarkCallsLingering is BenchmarkCall between distinct users at
// 1 000 calls/s of the fake clock with the default 30 s linger, after
// 30 000 calls: 60 000 ended entries lingering, as on a busy PBX, where
// from then on every Update expires some.
func BenchmarkCallsLingering(b *testing.B) {
	clk := clock.NewFake(time.Unix(0, 0))
	tr := New(Config{Clock: clk})
	call := func(i int) {
		from := dialoginfo.Party{Identity: "sip:a" + strconv.Itoa(i%20000) + "@example.com"}
		to := dialoginfo.Party{Identity: "sip:b" + strconv.Itoa(i%20000) + "@example.com"}
		for _, ev := range steps(strconv.Itoa(i), from, to, CallEvent{State: dialoginfo.Terminated, HungUpBy: Caller}) {
			tr.Update(ev)
		}
		clk.Advance(time.Millisecond)
	}
	for i := range 30000 {
		call(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		call(30000 + i)
	}
}

// BenchmarkBody builds the document of a user with one call up: what
// each NOTIFY of a busy lamp costs.
func BenchmarkBody(b *testing.B) {
	tr := New(Config{Clock: clock.NewFake(time.Unix(0, 0))})
	tr.Update(CallEvent{CallID: "c1@192.0.2.1", Caller: Leg{Party: alice, Tag: "a"}, Callee: Leg{Party: bob, Tag: "b"}, State: dialoginfo.Confirmed})
	w := notify.Watch{Watcher: "desk@example.com", Resource: "bob@example.com"}
	b.ReportAllocs()
	for i := range b.N {
		w.Version = uint32(i)
		if _, err := tr.Body(w); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMemoryPerCall reports the heap held per call in progress (two
// entries, caller's and callee's) with 10 000 calls up, and fails past
// 4 KiB, a bound well above what it measures.
func TestMemoryPerCall(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	const calls = 10000
	tr := New(Config{Clock: clock.NewFake(time.Unix(0, 0))})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range calls {
		n := strconv.Itoa(i)
		caller := dialoginfo.Party{Identity: "sip:u" + n + "@example.com", Target: "sip:u" + n + "@192.0.2.1:5060"}
		callee := dialoginfo.Party{Identity: "sip:v" + n + "@example.com", Target: "sip:v" + n + "@192.0.2.2:5060"}
		tr.Update(CallEvent{CallID: "call-" + n + "@192.0.2.1", Caller: Leg{Party: caller, Tag: "t" + n}, Callee: Leg{Party: callee, Tag: "r" + n},
			State: dialoginfo.Confirmed})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / calls
	t.Logf("%.0f bytes per call in progress (%d users)", per, 2*calls)
	if users, dialogs := tr.Len(); users != 2*calls || dialogs != 2*calls {
		t.Fatalf("%d users, %d dialogs", users, dialogs)
	}
	if per > 4096 {
		t.Errorf("%.0f bytes per call, want at most 4096", per)
	}
}
