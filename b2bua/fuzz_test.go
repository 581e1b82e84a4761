package b2bua

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseRAck: any RAck value is read without panic, and one it
// accepts names the response number it was written with.
func FuzzParseRAck(f *testing.F) {
	for _, s := range []string{"1 10 INVITE", "4711 1 INVITE", " 77  1 INVITE ", "", "1 INVITE", "x 1 INVITE",
		"99999999999 1 INVITE", "1 99999999999 INVITE", "1 2 3 4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := parseRAck(s)
		if !ok {
			return
		}
		if first := strings.Fields(s)[0]; strings.TrimLeft(first, "0") != strings.TrimLeft(strconv.FormatUint(uint64(n), 10), "0") {
			t.Errorf("parseRAck(%q) = %d", s, n)
		}
	})
}

func TestParseRAck(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"1 10 INVITE", 1, true},
		{"4711 1 INVITE", 4711, true},
		{"\t77 1 INVITE ", 77, true},
		{"", 0, false},
		{"1 INVITE", 0, false},
		{"-1 1 INVITE", 0, false},
		{"4294967296 1 INVITE", 0, false},
		{"1 x INVITE", 0, false},
	}
	for _, tt := range tests {
		if n, ok := parseRAck(tt.in); n != tt.want || ok != tt.ok {
			t.Errorf("parseRAck(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.want, tt.ok)
		}
	}
}
