package flowtoken_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/parley-sip/parley/flowtoken"
	"github.com/parley-sip/parley/sip"
)

func signer(t testing.TB, secret string) *flowtoken.Signer {
	t.Helper()
	s, err := flowtoken.NewSigner([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	s := signer(t, "0123456789abcdef-secret")
	flows := []flowtoken.Flow{
		{Proto: "tcp", Local: netip.MustParseAddrPort("192.0.2.1:5060"), Remote: netip.MustParseAddrPort("198.51.100.7:40001"), Conn: 42},
		{Proto: "udp", Local: netip.MustParseAddrPort("[2001:db8::1]:5060"), Remote: netip.MustParseAddrPort("[2001:db8::7]:5062")},
		{Proto: "wss", Remote: netip.MustParseAddrPort("203.0.113.9:443"), Conn: 1 << 40},
	}
	for _, f := range flows {
		tok := s.Seal(f)
		if !strings.HasPrefix(tok, flowtoken.Prefix) {
			t.Errorf("token %q lacks the prefix", tok)
		}
		u, err := sip.ParseURI("sip:" + tok + "@192.0.2.1:5060;transport=tcp;lr")
		if err != nil || u.User != tok {
			t.Errorf("token %q does not survive as a URI user part: %v", tok, err)
		}
		got, err := s.Open(tok)
		if err != nil || got != f {
			t.Errorf("Open(Seal(%+v)) = %+v, %v", f, got, err)
		}
	}
}

func TestRefused(t *testing.T) {
	s := signer(t, "0123456789abcdef-secret")
	f := flowtoken.Flow{Proto: "tcp", Remote: netip.MustParseAddrPort("198.51.100.7:40001"), Conn: 42}
	tok := s.Seal(f)
	tampered := []byte(tok)
	if tampered[5] == 'A' {
		tampered[5] = 'B'
	} else {
		tampered[5] = 'A'
	}
	for name, tt := range map[string]string{
		"another key's": signer(t, "another secret, long enough").Seal(f),
		"tampered":      string(tampered),
		"no prefix":     strings.TrimPrefix(tok, flowtoken.Prefix),
		"a user name":   "alice",
		"empty":         flowtoken.Prefix,
		"not base64":    flowtoken.Prefix + "***",
		"too long":      flowtoken.Prefix + strings.Repeat("A", 500),
	} {
		if _, err := s.Open(tt); err == nil {
			t.Errorf("%s: Open(%q) succeeded", name, tt)
		}
	}
}

func FuzzOpen(f *testing.F) {
	s := signer(f, "0123456789abcdef-secret")
	f.Add(s.Seal(flowtoken.Flow{Proto: "tcp", Remote: netip.MustParseAddrPort("198.51.100.7:40001"), Conn: 42}))
	f.Add(flowtoken.Prefix + "AAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		fl, err := s.Open(tok)
		if err != nil {
			return
		}
		// Only a token this signer sealed opens, and it seals back to a
		// token that opens to the same flow.
		if again, err := s.Open(s.Seal(fl)); err != nil || again != fl {
			t.Fatalf("%q opened to %+v, which does not round-trip: %+v, %v", tok, fl, again, err)
		}
	})
}
