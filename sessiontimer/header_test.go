package sessiontimer

import (
	"errors"
	"testing"
)

func TestParseSessionExpires(t *testing.T) {
	tests := []struct {
		in        string
		seconds   uint32
		refresher Refresher
		str       string
		err       error
	}{
		{"1800", 1800, RefresherUnset, "1800", nil},
		{" 1800 ", 1800, RefresherUnset, "1800", nil},
		{"1800;refresher=uac", 1800, RefresherUAC, "1800;refresher=uac", nil},
		{"90 ; refresher = UAS", 90, RefresherUAS, "90;refresher=uas", nil},
		{"600;Refresher=uas;foo=bar", 600, RefresherUAS, "600;foo=bar;refresher=uas", nil},
		{"600;refresher=both", 600, RefresherUnset, "600", nil}, // unknown value: no preference
		{"600;;refresher", 600, RefresherUnset, "600", nil},     // broken params do not stop the timer
		{"007", 7, RefresherUnset, "7", nil},
		{"99999999999999999999", 1<<32 - 1, RefresherUnset, "4294967295", nil},
		{"", 0, 0, "", ErrSessionExpires},
		{"abc", 0, 0, "", ErrSessionExpires},
		{"18 00", 0, 0, "", ErrSessionExpires},
		{"-5", 0, 0, "", ErrSessionExpires},
		{"1800, 900", 0, 0, "", ErrSessionExpires},
		{";refresher=uac", 0, 0, "", ErrSessionExpires},
	}
	for _, tt := range tests {
		se, err := ParseSessionExpires(tt.in)
		if !errors.Is(err, tt.err) {
			t.Errorf("%q: err %v, want %v", tt.in, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		if se.Seconds != tt.seconds || se.Refresher != tt.refresher {
			t.Errorf("%q: got %d %v, want %d %v", tt.in, se.Seconds, se.Refresher, tt.seconds, tt.refresher)
		}
		if s := se.String(); s != tt.str {
			t.Errorf("%q: String %q, want %q", tt.in, s, tt.str)
		}
	}
}

func TestParseMinSE(t *testing.T) {
	tests := []struct {
		in  string
		n   uint32
		err error
	}{
		{"90", 90, nil},
		{" 120;x=y ", 120, nil},
		{"0", 0, nil},
		{"", 0, ErrMinSE},
		{"ninety", 0, ErrMinSE},
		{"90s", 0, ErrMinSE},
	}
	for _, tt := range tests {
		n, err := ParseMinSE(tt.in)
		if !errors.Is(err, tt.err) || n != tt.n {
			t.Errorf("%q: got %d %v, want %d %v", tt.in, n, err, tt.n, tt.err)
		}
	}
}

func TestReadGolden(t *testing.T) {
	tests := []struct {
		file      string
		has       bool
		seconds   uint32
		refresher Refresher
		minSE     uint32
		err       error
	}{
		{"invite-timer.sip", true, 1800, RefresherUAC, 120, nil},
		{"invite-compact.sip", true, 600, RefresherUAS, 0, nil},
		{"invite-notimer.sip", false, 0, 0, 0, nil},
		{"invite-malformed.sip", false, 0, 0, 0, ErrSessionExpires},
		{"422.sip", false, 0, 0, 1200, nil},
	}
	for _, tt := range tests {
		m := golden(t, tt.file)
		se, has, err := Read(m)
		if !errors.Is(err, tt.err) || has != tt.has || se.Seconds != tt.seconds || se.Refresher != tt.refresher {
			t.Errorf("%s: got %v %v %v %v", tt.file, se.Seconds, se.Refresher, has, err)
		}
		n, _, _ := ReadMinSE(m)
		if n != tt.minSE {
			t.Errorf("%s: Min-SE %d, want %d", tt.file, n, tt.minSE)
		}
	}
}

// FuzzParseSessionExpires checks that no input panics, and that what
// parses writes a value that parses back to the same interval and
// refresher.
func FuzzParseSessionExpires(f *testing.F) {
	for _, s := range []string{"1800", "90;refresher=uac", " 600 ; refresher = UAS ;a=b", "1;;", "9999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		se, err := ParseSessionExpires(s)
		if err != nil {
			return
		}
		back, err := ParseSessionExpires(se.String())
		if err != nil {
			t.Fatalf("%q wrote %q, which does not parse: %v", s, se.String(), err)
		}
		if back.Seconds != se.Seconds || back.Refresher != se.Refresher {
			t.Fatalf("%q: round trip %v/%v became %v/%v", s, se.Seconds, se.Refresher, back.Seconds, back.Refresher)
		}
	})
}

// FuzzParseMinSE checks that no input panics and that a number parses to
// itself.
func FuzzParseMinSE(f *testing.F) {
	for _, s := range []string{"90", "120;x", " 0 ", "abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseMinSE(s)
		if err != nil {
			return
		}
		if m, err := ParseMinSE(uitoa(n)); err != nil || m != n {
			t.Fatalf("%q: %d does not round trip: %d %v", s, n, m, err)
		}
	})
}
