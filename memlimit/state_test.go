package memlimit

import "testing"

type heldCounts State

func (h *heldCounts) Held() State { return State(*h) }

// TestStateBudget: each count weighs its per-item budget; a negative
// count (a store mid-restart) weighs nothing.
func TestStateBudget(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    State
		want int64
	}{
		{"none", State{}, 0},
		{"1M bindings", State{Bindings: 1_000_000}, 1_000_000 * PerBinding},
		{"100k calls", State{Calls: 100_000}, 100_000 * PerCall},
		{"10k connections", State{Connections: 10_000}, 10_000 * PerConnection},
		{"100k subscriptions", State{Subscriptions: 100_000}, 100_000 * PerSubscription},
		{"negative", State{Bindings: -5, Calls: 1}, PerCall},
	} {
		if got := tc.s.Budget(); got != tc.want {
			t.Errorf("%s: Budget %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestStatePressure: the limit and the 503 threshold are the transient
// cap plus the state budget, measured at each check. A server holding a
// million bindings (≈453 B each measured, so its live heap is past the
// transient threshold) admits requests and gets its runtime limit
// raised; with no state the threshold and limit are the burst's own.
func TestStatePressure(t *testing.T) {
	const transient = Ceiling
	const mib = 1 << 20
	server := int64(60 * mib) // the server itself, beside its state
	for _, tc := range []struct {
		name      string
		state     State
		live      int64
		full      bool
		wantLimit int64
	}{
		{"1M bindings held", State{Bindings: 1_000_000}, server + 1_000_000*453, false, transient + 488*mib},
		{"1M bindings and a burst at the cap", State{Bindings: 1_000_000}, 488*mib + transient/8*PressureShare, true, transient + 488*mib},
		{"100k calls held", State{Calls: 100_000}, server + 100_000*4000, false, transient + 390*mib},
		{"10k WSS held", State{Connections: 10_000}, server + 10_000*15000, false, transient + 156*mib},
		{"100k subscriptions held", State{Subscriptions: 100_000}, server + 100_000*1400, false, transient + 146*mib},
		{"no state, below", State{}, transient/8*PressureShare - 1, false, transient},
		{"no state, at the burst's threshold", State{}, transient / 8 * PressureShare, true, transient},
		{"a few bindings, the burst's own threshold", State{Bindings: 100}, transient / 8 * PressureShare, true, transient},
	} {
		held := heldCounts(tc.state)
		var set []int64
		p := newPressure(transient, &held, func() int64 { return tc.live }, func(l int64) { set = append(set, l) })
		p.Check()
		if p.Full() != tc.full || p.Limit() != tc.wantLimit {
			t.Errorf("%s: live %d MiB: full %v, limit %d MiB; want %v, %d MiB",
				tc.name, tc.live/mib, p.Full(), p.Limit()/mib, tc.full, tc.wantLimit/mib)
		}
		wantSet := []int64{tc.wantLimit}
		if tc.wantLimit == transient {
			wantSet = nil // already the runtime's limit: Apply set it
		}
		if len(set) != len(wantSet) || len(set) == 1 && set[0] != wantSet[0] {
			t.Errorf("%s: runtime limit set to %v, want %v", tc.name, set, wantSet)
		}
		p.Check()
		if len(set) != len(wantSet) {
			t.Errorf("%s: an unchanged limit was set again: %v", tc.name, set)
		}
	}
}

// TestStatePressureFollows: the limit follows the state as it grows and
// shrinks, and the same heap that was fine with the state behind it is
// full once that state is gone.
func TestStatePressureFollows(t *testing.T) {
	const transient = 64 << 20
	held := heldCounts{Bindings: 200_000}
	var set int64
	live := int64(transient) // past 6/8 of the transient cap alone
	p := newPressure(transient, &held, func() int64 { return live }, func(l int64) { set = l })
	p.Check()
	if p.Full() || set != transient+97<<20 {
		t.Fatalf("with 200k bindings: full %v, limit set %d", p.Full(), set)
	}
	held = heldCounts{}
	p.Check()
	if !p.Full() || set != transient {
		t.Fatalf("with the bindings gone: full %v, limit set %d", p.Full(), set)
	}
}
