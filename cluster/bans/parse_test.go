package bans

import (
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in    string
		src   string
		until int64
		ok    bool
	}{
		{"192.0.2.7 1893456000000", "192.0.2.7", 1893456000000, true},
		{"2001:db8:1:2:: 1", "2001:db8:1:2::", 1, true},
		{"192.0.2.7", "", 0, false},
		{"192.0.2.7 soon", "", 0, false},
		{"example.com 1", "", 0, false},
		{"", "", 0, false},
	} {
		src, until, ok := parse(tt.in)
		if ok != tt.ok || ok && (src != netip.MustParseAddr(tt.src) || !until.Equal(time.UnixMilli(tt.until))) {
			t.Errorf("parse(%q) = %v, %v, %v", tt.in, src, until, ok)
		}
	}
}

// FuzzParse: a notice from the bus never panics the parser, and one it
// takes says the same when written back.
func FuzzParse(f *testing.F) {
	f.Add("192.0.2.7 1893456000000")
	f.Add("::ffff:192.0.2.1 -5")
	f.Fuzz(func(t *testing.T, notice string) {
		src, until, ok := parse(notice)
		if !ok {
			return
		}
		again, until2, ok := parse(src.String() + " " + strconv.FormatInt(until.UnixMilli(), 10))
		if !ok || again != src || !until2.Equal(until) {
			t.Errorf("%q: %v %v does not read back", notice, src, until)
		}
	})
}
