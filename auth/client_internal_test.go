package auth

import (
	"strings"
	"testing"

	"github.com/parley-sip/parley/sip"
)

// TestAnswerVectors checks Answer against RFC 7616 §3.9.1's examples
// (MD5 and SHA-256, qop=auth) and RFC 2069's form without qop.
func TestAnswerVectors(t *testing.T) {
	const nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
	const opaque = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
	tests := []struct {
		name, challenge, want string
	}{
		{"MD5", `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="` + nonce + `", opaque="` + opaque + `"`,
			`response="8ca523f5e9506fed4657c9700eebdbec"`},
		{"SHA-256", `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="` + nonce + `", opaque="` + opaque + `"`,
			`response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"`},
	}
	defer func(f func() string) { newCNonce = f }(newCNonce)
	newCNonce = func() string { return "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ" }
	for _, tc := range tests {
		c, err := ParseChallenge(tc.challenge)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := c.Answer("GET", "/dir/index.html", "Mufasa", "Circle of Life", 1)
		if err != nil || !strings.Contains(got, tc.want) {
			t.Errorf("%s: Answer = %q (%v), want it to hold %s", tc.name, got, err, tc.want)
		}
		cred, err := ParseCredentials(got)
		if err != nil || cred.Username != "Mufasa" || cred.NC != "00000001" || cred.QOP != "auth" || cred.Opaque != opaque || cred.URI != "/dir/index.html" {
			t.Errorf("%s: the answer parses as %+v (%v)", tc.name, cred, err)
		}
	}
	// RFC 2069 §2.4's example, without qop: H(HA1:nonce:HA2).
	c, _ := ParseChallenge(`Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093"`)
	got, err := c.Answer("GET", "/dir/index.html", "Mufasa", "CircleOfLife", 1)
	if err != nil || !strings.Contains(got, `response="1949323746fe6a43ef61f9606e7febea"`) || strings.Contains(got, "qop") {
		t.Errorf("without qop: %q (%v)", got, err)
	}
}

func TestParseChallenge(t *testing.T) {
	tests := []struct {
		in        string
		ok        bool
		supported bool
		want      DigestChallenge
	}{
		{`Digest realm="sip.example", nonce="n1", algorithm=SHA-256, qop="auth", stale=TRUE, opaque="o"`, true, true,
			DigestChallenge{Scheme: "Digest", Realm: "sip.example", Nonce: "n1", Algorithm: "SHA-256", QOP: []string{"auth"}, Stale: true, Opaque: "o"}},
		{`digest REALM=sip.example,NONCE=n2,unknown="x"`, true, true, DigestChallenge{Scheme: "digest", Realm: "sip.example", Nonce: "n2"}},
		{`Digest realm="a\"b", nonce="n"`, true, true, DigestChallenge{Scheme: "Digest", Realm: `a"b`, Nonce: "n"}},
		{`Digest realm="r", nonce="n", qop="auth-int"`, true, false, DigestChallenge{Scheme: "Digest", Realm: "r", Nonce: "n", QOP: []string{"auth-int"}}},
		{`Digest realm="r", nonce="n", algorithm=SHA-512-256`, true, false, DigestChallenge{Scheme: "Digest", Realm: "r", Nonce: "n", Algorithm: "SHA-512-256"}},
		{`Basic realm="r"`, false, false, DigestChallenge{}},
		{`Digest realm="r"`, false, false, DigestChallenge{}},
		{`Digest realm="r", realm="s", nonce="n"`, false, false, DigestChallenge{}},
		{`Digest realm="r, nonce=n`, false, false, DigestChallenge{}},
		{``, false, false, DigestChallenge{}},
	}
	for _, tc := range tests {
		c, err := ParseChallenge(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseChallenge(%q) error %v, want ok %v", tc.in, err, tc.ok)
			continue
		}
		if c.Supported() != tc.supported {
			t.Errorf("ParseChallenge(%q).Supported() = %v", tc.in, c.Supported())
		}
		if tc.ok && (c.Scheme != tc.want.Scheme || c.Realm != tc.want.Realm || c.Nonce != tc.want.Nonce || c.Algorithm != tc.want.Algorithm ||
			strings.Join(c.QOP, ",") != strings.Join(tc.want.QOP, ",") || c.Stale != tc.want.Stale || c.Opaque != tc.want.Opaque) {
			t.Errorf("ParseChallenge(%q) = %+v, want %+v", tc.in, c, tc.want)
		}
	}
}

func TestPickChallenge(t *testing.T) {
	resp, err := sip.NewResponseBuilder(401, "Unauthorized").
		Header("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx").Header("From", "<sip:a@b>;tag=1").Header("To", "<sip:a@b>;tag=2").
		Header("Call-ID", "c").Header("CSeq", "1 REGISTER").
		Header("WWW-Authenticate", `Digest realm="r", nonce="n1", algorithm=MD5, qop="auth"`).
		Header("WWW-Authenticate", `Digest realm="r", nonce="n2", algorithm=SHA-512-256, qop="auth"`).
		Header("WWW-Authenticate", `Digest realm="r", nonce="n3", algorithm=SHA-256, qop="auth"`).
		Message("", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := PickChallenge(resp)
	if !ok || c.Nonce != "n3" {
		t.Errorf("PickChallenge = %+v, %v; want the SHA-256 one", c, ok)
	}
}

// FuzzParseChallenge: no input panics, and a challenge that parses and
// is supported can be answered with credentials the server side parses.
func FuzzParseChallenge(f *testing.F) {
	f.Add(`Digest realm="sip.example", nonce="n1", algorithm=SHA-256, qop="auth"`)
	f.Add(`Digest realm="a\"b", nonce=n, opaque="", stale=true, userhash=true`)
	f.Add(`Digest nonce="x", qop="auth,auth-int"`)
	f.Add(`Basic realm="r"`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseChallenge(s)
		if err != nil || !c.Supported() {
			return
		}
		ans, err := c.Answer("REGISTER", "sip:sip.example", "alice", "secret", 1)
		if err != nil {
			t.Fatalf("supported challenge %q not answered: %v", s, err)
		}
		cred, err := ParseCredentials(ans)
		if err != nil {
			t.Fatalf("answer %q to %q does not parse: %v", ans, s, err)
		}
		if cred.Nonce != c.Nonce || cred.Realm != c.Realm {
			t.Fatalf("answer %q to %q: nonce or realm changed", ans, s)
		}
	})
}
