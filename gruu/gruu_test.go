package gruu_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/parley-sip/parley/gruu"
	"github.com/parley-sip/parley/sip"
)

const uuid = "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"

func TestParseInstance(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"`, uuid, true},
		{`<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>`, uuid, true},
		{uuid, uuid, true},
		{`"<URN:UUID:F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6>"`, uuid, true},
		{`"<urn:X-Vendor:ABC123>"`, "urn:x-vendor:ABC123", true}, // only a UUID's case folds
		{`" <urn:uuid:1> "`, "", false},                          // spaces inside the quotes
		{`"<http://example.com>"`, "", false},
		{`"<urn:uuid>"`, "", false},
		{`"<urn::abc>"`, "", false},
		{`"<urn:-x:abc>"`, "", false},
		{`"<urn:uuid:a;b>"`, "", false},
		{`"<urn:uuid:a=b>"`, "", false},
		{`"<urn:uuid:a"b>"`, "", false},
		{`urn:x-y:a%2Fb`, "urn:x-y:a%2Fb", true},
		{`urn:00:%0`, "", false},        // found by FuzzParseInstance: a broken escape
		{`urn:00:aaaaaaaa(`, "", false}, // found by FuzzParseInstance: no URI parameter holds '('

		{``, "", false},
		{`""`, "", false},
		{`"<urn:uuid:` + strings.Repeat("a", 300) + `>"`, "", false},
	}
	for _, tt := range tests {
		got, err := gruu.ParseInstance(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseInstance(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func issuer(t testing.TB, secret string) *gruu.Issuer {
	t.Helper()
	is, err := gruu.NewIssuer([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func read(t *testing.T, is *gruu.Issuer, s string) (gruu.Ref, bool, error) {
	t.Helper()
	u, err := sip.ParseURI(s)
	if err != nil {
		t.Fatalf("ParseURI(%q): %v", s, err)
	}
	return is.Read(&u)
}

func TestPublic(t *testing.T) {
	is := issuer(t, "0123456789abcdef0123")
	pub := gruu.Public("sip:alice@example.com", uuid)
	if want := "sip:alice@example.com;gr=" + uuid; pub != want {
		t.Fatalf("Public = %q, want %q", pub, want)
	}
	ref, ok, err := read(t, is, pub)
	if !ok || err != nil || ref.Temp || ref.AOR != "sip:alice@example.com" || ref.Instance != uuid {
		t.Fatalf("Read(public) = %+v, %v, %v", ref, ok, err)
	}
	// A UA may write the UUID in capitals; it is the same instance.
	ref, _, err = read(t, is, "sip:alice@EXAMPLE.com;gr=URN:UUID:F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6")
	if err != nil || ref.Instance != uuid || ref.AOR != "sip:alice@example.com" {
		t.Fatalf("Read(capitals) = %+v, %v", ref, err)
	}
}

func TestTemp(t *testing.T) {
	is := issuer(t, "0123456789abcdef0123")
	a := is.Temp("Example.com", "sip:alice@example.com", uuid, "call-1@host")
	b := is.Temp("example.com", "sip:alice@example.com", uuid, "call-1@host")
	if a == b {
		t.Fatal("two temporary GRUUs of one registration are equal; RFC 5627 §5 wants a new one each time")
	}
	if strings.Contains(a, "alice") || strings.Contains(a, "f81d4fae") {
		t.Fatalf("temporary GRUU %q shows who it names", a)
	}
	for _, s := range []string{a, b} {
		ref, ok, err := read(t, is, s)
		if !ok || err != nil {
			t.Fatalf("Read(%q) = %v, %v", s, ok, err)
		}
		if !ref.Temp || ref.AOR != "sip:alice@example.com" || ref.Instance != uuid || ref.CallTag != gruu.CallTag("call-1@host") {
			t.Fatalf("Read(%q) = %+v", s, ref)
		}
	}
	if gruu.CallTag("call-1@host") == gruu.CallTag("call-2@host") {
		t.Fatal("two Call-IDs share a tag")
	}
}

func TestTempRefused(t *testing.T) {
	is := issuer(t, "0123456789abcdef0123")
	other := issuer(t, "another secret, 20+ bytes")
	good := is.Temp("example.com", "sip:alice@example.com", uuid, "c")
	u, _ := sip.ParseURI(good)
	flipped := []byte(u.User)
	if flipped[len(flipped)-3] == 'A' {
		flipped[len(flipped)-3] = 'B'
	} else {
		flipped[len(flipped)-3] = 'A'
	}
	tests := map[string]string{
		"another server's":  other.Temp("example.com", "sip:alice@example.com", uuid, "c"),
		"altered":           "sip:" + string(flipped) + "@example.com;gr",
		"moved to a domain": strings.Replace(good, "@example.com", "@example.org", 1),
		"not base64":        "sip:tgruu.***@example.com;gr",
		"short":             "sip:tgruu.AAAA@example.com;gr",
		"no prefix":         "sip:alice@example.com;gr",
		"a megabyte":        "sip:tgruu." + strings.Repeat("A", 5000) + "@example.com;gr",
		"gr names no URN":   "sip:alice@example.com;gr=alice",
	}
	for name, s := range tests {
		if _, ok, err := read(t, is, s); !ok || err == nil {
			t.Errorf("%s: Read(%q) = %v, %v; want an error", name, s, ok, err)
		}
	}
	var none *gruu.Issuer
	if _, ok, err := read(t, none, good); !ok || err == nil {
		t.Errorf("nil issuer: Read = %v, %v; want an error", ok, err)
	}
}

func TestNotAGRUU(t *testing.T) {
	is := issuer(t, "0123456789abcdef0123")
	for _, s := range []string{"sip:alice@example.com", "sip:alice@example.com;grx=1", "tel:+15551234"} {
		if _, ok, err := read(t, is, s); ok || err != nil {
			t.Errorf("Read(%q) = %v, %v; want not a GRUU", s, ok, err)
		}
	}
}

func TestShortSecret(t *testing.T) {
	if _, err := gruu.NewIssuer([]byte("short")); err == nil {
		t.Fatal("NewIssuer accepted a 5-byte secret")
	}
}

func FuzzParseInstance(f *testing.F) {
	for _, s := range []string{`"<` + uuid + `>"`, uuid, `"<urn:x:y>"`, `<urn:a-b:c%20d>`, `""`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := gruu.ParseInstance(s)
		if err != nil {
			return
		}
		again, err := gruu.ParseInstance(got)
		if err != nil || again != got {
			t.Fatalf("ParseInstance not idempotent: %q → %q → %q, %v", s, got, again, err)
		}
		// A parsed URN must survive as a URI parameter of the public GRUU.
		u, err := sip.ParseURI(gruu.Public("sip:a@example.com", got))
		if err != nil {
			t.Fatalf("public GRUU of %q does not parse: %v", got, err)
		}
		if v, _ := u.Params.Get(gruu.Param); v != got {
			t.Fatalf("gr of the public GRUU = %q, want %q", v, got)
		}
	})
}

func FuzzRead(f *testing.F) {
	is := issuer(f, "0123456789abcdef0123")
	f.Add([]byte(is.Temp("example.com", "sip:alice@example.com", uuid, "c")))
	f.Add([]byte("sip:alice@example.com;gr=" + uuid))
	f.Add([]byte("sip:tgruu.AAAA@example.com;gr"))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := sip.ParseURI(string(b))
		if err != nil {
			return
		}
		ref, ok, err := is.Read(&u)
		if err != nil || !ok || !ref.Temp {
			return
		}
		// Only a GRUU this issuer sealed opens; the seeds' one is the
		// only such URI the fuzzer can find without the key.
		if !bytes.Contains(b, []byte("tgruu.")) || ref.AOR != "sip:alice@example.com" {
			t.Fatalf("opened a forged temporary GRUU %q: %+v", b, ref)
		}
	})
}

func BenchmarkTemp(b *testing.B) {
	is := issuer(b, "0123456789abcdef0123")
	b.ReportAllocs()
	for b.Loop() {
		is.Temp("example.com", "sip:alice@example.com", uuid, "call-1@host")
	}
}

func BenchmarkReadTemp(b *testing.B) {
	is := issuer(b, "0123456789abcdef0123")
	u, _ := sip.ParseURI(is.Temp("example.com", "sip:alice@example.com", uuid, "call-1@host"))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := is.Read(&u); err != nil {
			b.Fatal(err)
		}
	}
}
