//go:build !race && !sipcheck

package sip

// CheckReleased is false in production builds: Release only resets, the
// owner reuses the Message, and the checks compile away (see
// release_checked.go).
const CheckReleased = false
