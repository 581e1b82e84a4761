package sessiontimer

import (
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
)

// BenchmarkAnswer is the session timer check every INVITE to the B2BUA
// gets: reading Session-Expires, Min-SE and Supported, and deciding.
func BenchmarkAnswer(b *testing.B) {
	m := golden(&testing.T{}, "invite-timer.sip")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := policy.Answer(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTimer arms, refreshes and stops one leg's timer on the
// production wheel: what a call's session timer costs over its life.
func BenchmarkTimer(b *testing.B) {
	w := clock.NewWheel(clock.DefaultTick)
	defer w.Stop()
	s := Session{Interval: 1800 * time.Second, Refresher: RefresherUAC}
	b.ReportAllocs()
	for b.Loop() {
		t := Start(w, s, true, func(Event) {})
		t.Refreshed(s, true)
		t.Stop()
	}
}
