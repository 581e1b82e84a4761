package observe

import (
	"strings"
	"time"
)

// Bounds of the latency matcher. A forwarded request unanswered after
// pendingAge has timed out in the transaction layer (64*T1 is 32 s) and
// will never be matched; maxPending bounds memory under a flood.
const (
	pendingAge = time.Minute
	maxPending = 100000
)

// branchKey identifies one forwarded request: its branch (the top Via
// Parley added) and method, since a CANCEL shares its INVITE's branch.
type branchKey struct{ branch, method string }

// latency measures forwarding latency: from a request Parley sent to the
// first response received for it. Only the worker goroutine uses it.
type latency struct {
	pending map[branchKey]time.Time
}

func newLatency() *latency { return &latency{pending: make(map[branchKey]time.Time)} }

// observe returns the latency that m completes, if any.
func (l *latency) observe(m *Message) (time.Duration, bool) {
	if m.Branch == "" {
		return 0, false
	}
	switch {
	case m.Dir == Sent && m.IsRequest() && m.Method != "ACK":
		k := branchKey{m.Branch, m.Method}
		if _, ok := l.pending[k]; !ok && len(l.pending) < maxPending {
			// A retransmission keeps the first send's time; the clones
			// keep the map from pinning the message text.
			l.pending[branchKey{strings.Clone(m.Branch), strings.Clone(m.Method)}] = m.Time
		}
	case m.Dir == Received && !m.IsRequest():
		k := branchKey{m.Branch, m.CSeqMethod}
		if t0, ok := l.pending[k]; ok {
			delete(l.pending, k)
			return m.Time.Sub(t0), true
		}
	}
	return 0, false
}

// sweep forgets requests that will never be answered.
func (l *latency) sweep(now time.Time) {
	for k, t0 := range l.pending {
		if now.Sub(t0) > pendingAge {
			delete(l.pending, k)
		}
	}
}
