package sip

import "errors"

// A Message parsed into pooled memory is released by its owner once its
// handling is over, and the owner parses a later message into it. A
// pointer kept past that point would read the later message, or half of
// it, without any error; so in checked builds (the race detector's, and
// -tags sipcheck) Release poisons the Message instead, every method then
// panics, and the owner must not reuse it (CheckReleased). Tests run
// checked, so a use after release fails a test instead of corrupting a
// message in production, where the checks compile away.

// Release ends m's life as a message: it is Reset, and its next use is a
// ParseInto or CloneInto by the owner that reuses it. In checked builds m
// is poisoned: every later call on it panics until it is parsed into
// again, which the owner then does not do (see CheckReleased). Strings,
// slices and typed values taken from m before Release must not be used
// after it.
func (m *Message) Release() {
	m.Reset()
	if CheckReleased {
		m.cache = nil // a typed value kept from m must not be reset under its holder
		m.released = true
	}
}

// ErrReleased is what a checked build panics with when a released Message
// is used.
var ErrReleased = errors.New("sip: use of a Message after Release")

// live panics in checked builds when m was released. Every exported
// method reaches it, directly or through find, each, typed or touch.
func (m *Message) live() {
	if CheckReleased && m.released {
		panic(ErrReleased)
	}
}
