// Package clock is the time source for SIP timers. Production code uses a
// hashed timing wheel (Wheel) that holds hundreds of thousands of pending
// timers on one goroutine; tests use Fake, which moves only when told.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time and runs functions later. Functions given to
// AfterFunc must not block: a Wheel runs them one after another on its
// own goroutine and a Fake on the goroutine that calls Advance.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc arranges for f to run once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call made by AfterFunc.
type Timer interface {
	// Stop prevents the call from running. It reports whether it did so:
	// false means the call already ran, is running, or was stopped.
	Stop() bool
}

// DefaultTick is the resolution of the process-wide wheel: fine enough
// for SIP timers, whose shortest default is T1 = 500 ms (RFC 3261 §17).
const DefaultTick = 10 * time.Millisecond

var defaultWheel = sync.OnceValue(func() *Wheel { return NewWheel(DefaultTick) })

// Default returns the process-wide Wheel with a DefaultTick resolution,
// started on first use and never stopped.
func Default() Clock { return defaultWheel() }
