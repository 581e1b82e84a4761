package sip

import "testing"

func TestEscapeUser(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"+4930123456", "+4930123456"},
		{"alice", "alice"},
		{"a b", "a%20b"},
		{"x@y", "x%40y"},
		{"#31", "%2331"},
		{"", ""},
	} {
		got := EscapeUser(tc.in)
		if got != tc.want {
			t.Errorf("EscapeUser(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if Unescape(got) != tc.in {
			t.Errorf("Unescape(EscapeUser(%q)) = %q", tc.in, Unescape(got))
		}
	}
}
