package sip

import "strings"

// EscapeUser escapes what may not stand in a URI's user part as it is
// (RFC 3261 §25.1: unreserved and user-unreserved characters stay), so
// that a number a dial plan rewrote, or a user name from config, can be
// put into a URI. It allocates only when something needs escaping.
func EscapeUser(s string) string {
	const hex = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*'()&=+$,;?/", c) >= 0 {
			if b != nil {
				b = append(b, c)
			}
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, len(s)+8), s[:i]...)
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	if b == nil {
		return s
	}
	return string(b)
}
