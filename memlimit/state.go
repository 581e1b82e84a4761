package memlimit

// State counts the long-lived state a server holds on purpose, as its
// engines count it. Unlike what requests leave behind, which Ceiling
// caps, this state is the server's job: a registrar with a million
// bindings must keep admitting their refreshes, so the limit grows with
// it instead of turning it into 503s.
type State struct {
	Bindings      int64 // registrations held in the process (not in Redis)
	Calls         int64 // B2BUA calls, set up or answered
	Subscriptions int64 // event subscriptions held (presence)
	Connections   int64 // open stream connections (TCP, TLS, WebSocket)
}

// Holder reports the State held now. Pressure asks it at each check, so
// it must be cheap: counters, no store round trips.
type Holder interface {
	Held() State
}

// The per-item budgets of State: each the live memory one item was
// measured to hold (docs/PERFORMANCE.md), rounded up. A binding in the
// memory store 453 B at 1 M ("Issue 20, items 4 and 6"); a held B2BUA
// call 3.47 KiB of live heap (PSS 4.5 KiB, "B2BUA memory per held
// call"); a WSS connection 15.1-15.7 KiB of live heap and goroutine
// stack, its binding included (TestWSSLoad at 10 000); a presence
// subscription 1 355 B of live heap at 100 000. Stacks are outside the
// live heap Pressure reads but inside the runtime's limit, so the
// connection's budget errs towards admitting.
const (
	PerBinding      = 512
	PerCall         = 4 << 10
	PerConnection   = 16 << 10
	PerSubscription = 1536
)

// Budget returns the heap the state is allowed: its counts times their
// per-item budgets.
func (s State) Budget() int64 {
	return max(s.Bindings, 0)*PerBinding + max(s.Calls, 0)*PerCall +
		max(s.Connections, 0)*PerConnection + max(s.Subscriptions, 0)*PerSubscription
}
