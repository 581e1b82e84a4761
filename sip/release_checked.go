//go:build race || sipcheck

package sip

// CheckReleased is true in checked builds (the race detector's, and
// -tags sipcheck): Release poisons a Message so that any later use
// panics, and owners of pooled Messages drop a released one instead of
// reusing it, so that a stale pointer keeps failing.
const CheckReleased = true
