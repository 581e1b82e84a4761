package clock

import "time"

// Alarm is a timer its owner holds by value, as a field of a struct that
// lives long (a held call's session timer, pending for half an hour).
// AfterFunc makes an entry and a closure for every call, small objects
// in the size classes every short-lived SIP timer uses, which keep whole
// spans of them from being reused while the timer waits; on a Wheel an
// Alarm is the wheel's own entry, and arming it again allocates nothing.
//
// Init it once with its function, then Schedule and Stop it as often as
// needed, never two at once (its owner's lock orders them). A function
// may still run once for an earlier Schedule after a later one (the
// wheel had taken it out to run): the function checks whether it is due.
type Alarm struct {
	w     wheelTimer
	other Timer // on a Clock that is no Wheel: what its AfterFunc returned
}

// Init sets the function the entry runs each time it fires.
func (a *Alarm) Init(f func()) {
	a.w.f, a.w.kept = f, true
}

// Schedule arms the entry on clk to run its function once d has passed.
// An entry still pending is moved.
func (a *Alarm) Schedule(clk Clock, d time.Duration) {
	a.Stop()
	if w, ok := clk.(*Wheel); ok {
		w.arm(&a.w, d)
		return
	}
	a.other = clk.AfterFunc(d, a.w.f)
}

// Stop disarms the entry. It reports whether it was pending.
func (a *Alarm) Stop() bool {
	if a.other != nil {
		stopped := a.other.Stop()
		a.other = nil
		return stopped
	}
	if a.w.shard == nil {
		return false // never armed on a wheel
	}
	return a.w.Stop()
}
