package sip

import (
	"strings"
	"unsafe"
)

// The parser hands out strings that share memory with the message's bytes
// instead of copying them. That is safe because a Message owns its buffer
// and never writes to it: edits are kept beside the original bytes.

// view returns b as a string without copying. b must never change again.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// unsafeBytes returns s as a read-only byte slice without copying.
func unsafeBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// isTokenChar reports whether c may appear in an RFC 3261 token.
func isTokenChar(c byte) bool {
	return tokenChars[c]
}

var tokenChars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-.!%*_+`'~" {
		t[c] = true
	}
	return t
}()

// isToken reports whether s is a non-empty RFC 3261 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChars[s[i]] {
			return false
		}
	}
	return true
}

func isWS(c byte) bool { return c == ' ' || c == '\t' }

// isLWS reports whether c is white space a header value may contain after
// unfolding: folding leaves CR and LF inside raw values.
func isLWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// trimLWS removes leading and trailing linear white space.
func trimLWS(s string) string {
	i, j := 0, len(s)
	for i < j && isLWS(s[i]) {
		i++
	}
	for j > i && isLWS(s[j-1]) {
		j--
	}
	return s[i:j]
}

func trimLWSBytes(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isLWS(b[i]) {
		i++
	}
	for j > i && isLWS(b[j-1]) {
		j--
	}
	return b[i:j]
}

// parseUint parses a decimal number of at most max, rejecting signs,
// spaces and overflow.
func parseUint(s string, max uint64) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (max-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// Detach copies the strings into one allocation of their own and points
// each at its part. A string a message yields views the message's buffer
// (a whole datagram, a whole built message), which a long-lived holder
// (a dialog, a held call) would pin; and one allocation loses less to
// size-class rounding than one each.
func Detach(ss ...*string) {
	n := 0
	for _, s := range ss {
		n += len(*s)
	}
	var b strings.Builder
	b.Grow(n)
	for _, s := range ss {
		b.WriteString(*s)
	}
	all, off := b.String(), 0
	for _, s := range ss {
		*s, off = all[off:off+len(*s)], off+len(*s)
	}
}
