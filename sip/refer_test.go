package sip

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseReplaces(t *testing.T) {
	tests := []struct {
		in   string
		want Replaces
		str  string
		err  error
	}{
		{"425928@bobster.example.org;to-tag=7743;from-tag=6472",
			Replaces{CallID: "425928@bobster.example.org", ToTag: "7743", FromTag: "6472"},
			"425928@bobster.example.org;to-tag=7743;from-tag=6472", nil},
		{" abc ; from-tag = f ;TO-TAG=t;early-only ",
			Replaces{CallID: "abc", ToTag: "t", FromTag: "f", EarlyOnly: true},
			"abc;to-tag=t;from-tag=f;early-only", nil},
		{"abc;to-tag=t;from-tag=f;x-ext=1", Replaces{CallID: "abc", ToTag: "t", FromTag: "f"}, "abc;to-tag=t;from-tag=f", nil},
		{"abc;to-tag=t", Replaces{}, "", ErrReplaces},
		{"abc;from-tag=f", Replaces{}, "", ErrReplaces},
		{";to-tag=t;from-tag=f", Replaces{}, "", ErrReplaces},
		{"a,b;to-tag=t;from-tag=f", Replaces{}, "", ErrReplaces},
		{"abc;to-tag=;from-tag=f", Replaces{}, "", ErrReplaces},
		{"abc;to-tag=t t;from-tag=f", Replaces{}, "", ErrReplaces},
		{"", Replaces{}, "", ErrReplaces},
	}
	for _, tt := range tests {
		r, err := ParseReplaces(tt.in)
		if !errors.Is(err, tt.err) {
			t.Errorf("%q: err %v, want %v", tt.in, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		r.Params = ""
		if r != tt.want || r.String() != tt.str {
			t.Errorf("%q: got %+v %q, want %+v %q", tt.in, r, r.String(), tt.want, tt.str)
		}
	}
}

func TestParseReferTo(t *testing.T) {
	tests := []struct {
		in       string
		target   string
		method   string
		replaces string // "" for none
		err      error
	}{
		{"<sip:carol@example.com>", "sip:carol@example.com", "INVITE", "", nil},
		{"sip:carol@example.com", "sip:carol@example.com", "INVITE", "", nil},
		{`"Carol" <sip:carol@example.com;method=bye>`, "sip:carol@example.com;method=bye", "BYE", "", nil},
		{"<sip:dave@example.com?Replaces=abc%40h%3Bto-tag%3Dt%3Bfrom-tag%3Df>", "sip:dave@example.com", "INVITE",
			"abc@h;to-tag=t;from-tag=f", nil},
		{"<sip:dave@example.com?Subject=hi&replaces=abc%3Bfrom-tag%3Df%3Bto-tag%3Dt%3Bearly-only>", "sip:dave@example.com", "INVITE",
			"abc;to-tag=t;from-tag=f;early-only", nil},
		{"sip:dave@example.com?Replaces=abc%3Bto-tag%3Dt%3Bfrom-tag%3Df", "sip:dave@example.com", "INVITE", // bare, as phones send it
			"abc;to-tag=t;from-tag=f", nil},
		{"<sip:dave@example.com?Replaces=abc>", "", "", "", ErrReferTo}, // a Replaces without tags names no dialog
		{"<tel:+15551234>", "tel:+15551234", "INVITE", "", nil},
		{"*", "", "", "", ErrReferTo},
		{"<sip:carol@example.com", "", "", "", ErrReferTo},
		{"", "", "", "", ErrReferTo},
	}
	for _, tt := range tests {
		r, err := ParseReferTo(tt.in)
		if !errors.Is(err, tt.err) {
			t.Errorf("%q: err %v, want %v", tt.in, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		target := r.Target()
		if got := target.String(); got != tt.target {
			t.Errorf("%q: target %q, want %q", tt.in, got, tt.target)
		}
		if r.Method() != tt.method {
			t.Errorf("%q: method %q, want %q", tt.in, r.Method(), tt.method)
		}
		got := ""
		if r.Replaces != nil {
			got = r.Replaces.String()
		}
		if got != tt.replaces {
			t.Errorf("%q: replaces %q, want %q", tt.in, got, tt.replaces)
		}
	}
}

func TestReferGolden(t *testing.T) {
	tests := []struct {
		file       string
		target     string
		replaces   string
		referredBy string
		err        error
	}{
		{"refer-blind.sip", "sip:carol@example.com", "", "sip:bob@example.com", nil},
		// A bare URI's ;params belong to the header (§20), as in From.
		{"refer-compact.sip", "sip:carol@example.com", "", "sip:bob@example.com", nil},
		{"refer-attended.sip", "sips:dave@example.com", "12345@192.0.2.30;to-tag=12345;from-tag=5FFE-3994", "sip:bob@example.com", nil},
		{"refer-two.sip", "", "", "", ErrMultipleReferTo},
		{"invite-replaces.sip", "", "", "sip:bob@example.com", ErrMissingReferTo},
	}
	for _, tt := range tests {
		m := referGolden(t, tt.file)
		if err := m.Validate(); err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		r, err := m.ReferTo()
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: err %v, want %v", tt.file, err, tt.err)
		}
		if err == nil {
			target := r.Target()
			eq(t, tt.file+" target", target.String(), tt.target)
			rep := ""
			if r.Replaces != nil {
				rep = r.Replaces.String()
			}
			eq(t, tt.file+" replaces", rep, tt.replaces)
		}
		by, ok, err := m.ReferredBy()
		if tt.referredBy != "" && (!ok || err != nil || by.URI.String() != tt.referredBy) {
			t.Errorf("%s: Referred-By %q %v %v", tt.file, by.URI.String(), ok, err)
		}
	}
	m := referGolden(t, "invite-replaces.sip")
	rep, ok, err := m.Replaces()
	if !ok || err != nil || rep.CallID != "12345@192.0.2.30" || rep.ToTag != "12345" || rep.FromTag != "5FFE-3994" || !rep.EarlyOnly {
		t.Errorf("INVITE Replaces: %+v %v %v", rep, ok, err)
	}
	if _, ok, err := referGolden(t, "refer-blind.sip").Replaces(); ok || err != nil {
		t.Errorf("REFER without Replaces: %v %v", ok, err)
	}
}

func TestReplacesTwice(t *testing.T) {
	m := referGolden(t, "invite-replaces.sip")
	m.AddHeader("Replaces", "x;to-tag=1;from-tag=2")
	m2, err := Parse(m.AppendTo(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m2.Replaces(); !errors.Is(err, ErrMultipleReplaces) {
		t.Fatalf("err %v", err)
	}
}

func TestReferredByMalformed(t *testing.T) {
	m := referGolden(t, "refer-blind.sip")
	m.SetHeader("Referred-By", "<sip:bob@example.com")
	m2, _ := Parse(m.AppendTo(nil))
	if _, ok, err := m2.ReferredBy(); ok || !errors.Is(err, ErrReferredBy) {
		t.Fatalf("got %v %v", ok, err)
	}
}

func TestSipfrag(t *testing.T) {
	tests := []struct {
		code   int
		reason string
		want   string
	}{
		{100, "Trying", "SIP/2.0 100 Trying\r\n"},
		{200, "", "SIP/2.0 200 OK\r\n"},
		{486, "Busy\r\nX-Evil: 1", "SIP/2.0 486 Busy  X-Evil: 1\r\n"},
	}
	for _, tt := range tests {
		got := string(Sipfrag(tt.code, tt.reason))
		if got != tt.want {
			t.Errorf("%d %q: %q, want %q", tt.code, tt.reason, got, tt.want)
		}
		// What is written must read back as the status line of a response.
		m, err := Parse([]byte(got + "\r\n"))
		if m == nil || m.StatusCode() != tt.code {
			t.Errorf("%q does not read back: %v", got, err)
		}
	}
}

func referGolden(t *testing.T, name string) *Message {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata/refer", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// FuzzParseReferTo checks that no input panics, that a parsed Refer-To's
// target is a URI that parses again, and that its Replaces writes a value
// that parses to the same dialog.
func FuzzParseReferTo(f *testing.F) {
	for _, s := range []string{"<sip:carol@example.com>", "sip:a@b?Replaces=x%3Bto-tag%3D1%3Bfrom-tag%3D2",
		`"C" <sips:c@[::1]:5061;method=BYE?Replaces=a%40b%3Bfrom-tag%3Df%3Bto-tag%3Dt&X=1>;p=1`, "*", "<tel:+1>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReferTo(s)
		if err != nil {
			return
		}
		_ = r.Method()
		target := r.Target()
		if target.Headers != "" {
			t.Fatalf("%q: target keeps headers %q", s, target.Headers)
		}
		if target.IsSIP() {
			if _, err := ParseURI(target.String()); err != nil {
				t.Fatalf("%q: target %q does not parse: %v", s, target.String(), err)
			}
		}
		if r.Replaces != nil {
			checkReplacesRoundTrip(t, *r.Replaces)
		}
	})
}

// FuzzParseReplaces checks that no input panics and that what parses
// writes a value naming the same dialog.
func FuzzParseReplaces(f *testing.F) {
	for _, s := range []string{"a@b;to-tag=1;from-tag=2", "x;from-tag=f;to-tag=t;early-only;y=\"q\"", ";", "a;to-tag"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReplaces(s)
		if err != nil {
			return
		}
		checkReplacesRoundTrip(t, r)
	})
}

func checkReplacesRoundTrip(t *testing.T, r Replaces) {
	t.Helper()
	back, err := ParseReplaces(r.String())
	if err != nil {
		t.Fatalf("%+v wrote %q, which does not parse: %v", r, r.String(), err)
	}
	if back.CallID != r.CallID || back.ToTag != r.ToTag || back.FromTag != r.FromTag || back.EarlyOnly != r.EarlyOnly {
		t.Fatalf("round trip %+v became %+v", r, back)
	}
}
