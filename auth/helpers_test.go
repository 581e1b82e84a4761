package auth_test

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/subscriber"
)

const realm = "example.com"

var (
	phone  = netip.MustParseAddr("192.0.2.10")
	other  = netip.MustParseAddr("198.51.100.7")
	secret = []byte("0123456789abcdef0123456789abcdef")
)

// newClock is the tests' fake time for nonce ages and blocks.
func newClock() *clock.Fake { return clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) }

// setup returns an Authenticator over a store holding alice (password
// "secret") and bob in example.com, with a fake clock.
func setup(t *testing.T) (*auth.Authenticator, *clock.Fake) {
	t.Helper()
	store := subscriber.NewMemory()
	for _, u := range []string{"alice", "bob"} {
		if err := store.Put(context.Background(), subscriber.New(u, realm, "secret")); err != nil {
			t.Fatal(err)
		}
	}
	clk := newClock()
	a := auth.NewAuthenticator(store, secret)
	// Both algorithms, so that every test covers SHA-256 too; the default
	// (MD5 alone) has its own test.
	a.Algorithms = []string{auth.SHA256, auth.MD5}
	a.Now = clk.Now
	return a, clk
}

// request builds a request from alice to the Request-URI with extra
// header lines as name/value pairs.
func request(t *testing.T, method, ruri string, extra ...string) *sip.Message {
	t.Helper()
	to := "<sip:bob@example.com>"
	if method == "REGISTER" {
		to = "<sip:alice@example.com>"
	}
	b := sip.NewRequestBuilder(method, ruri).
		Header("Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds").
		Header("Max-Forwards", "70").
		Header("To", to).
		Header("From", "<sip:alice@example.com>;tag=456248").
		Header("Call-ID", "843817637684230@998sdasdh09").
		Header("CSeq", "1826 "+method).
		Header("Contact", "<sip:alice@192.0.2.10:5060>")
	for i := 0; i+1 < len(extra); i += 2 {
		b.Header(extra[i], extra[i+1])
	}
	m, err := b.Message("", nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// headerLines returns every line of a header whole: HeaderValues would
// split a challenge at its commas.
func headerLines(m *sip.Message, name string) []string {
	var out []string
	m.EachHeader(func(n, v string) bool {
		if sip.EqualFold(n, name) {
			out = append(out, v)
		}
		return true
	})
	return out
}

var paramRE = regexp.MustCompile(`([a-z]+)=(?:"([^"]*)"|([^,\s]+))`)

// params reads a challenge's parameters the way a simple phone would,
// independently of the package's own parser.
func params(challenge string) map[string]string {
	out := map[string]string{}
	for _, m := range paramRE.FindAllStringSubmatch(challenge, -1) {
		out[m[1]] = m[2] + m[3]
	}
	return out
}

func hexOf(h hash.Hash, s string) string {
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

// answer builds credentials for a challenge as a phone does (RFC 7616
// §3.4), computing the hashes itself rather than through the package.
func answer(challenge, method, uri, user, password, cnonce string, nc int) string {
	p := params(challenge)
	newHash := func() hash.Hash { return md5.New() }
	if p["algorithm"] == "SHA-256" {
		newHash = sha256.New
	}
	ha1 := hexOf(newHash(), user+":"+p["realm"]+":"+password)
	ha2 := hexOf(newHash(), method+":"+uri)
	ncs := fmt.Sprintf("%08x", nc)
	resp := hexOf(newHash(), ha1+":"+p["nonce"]+":"+ncs+":"+cnonce+":auth:"+ha2)
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s, cnonce="%s", qop=auth, nc=%s`,
		user, p["realm"], p["nonce"], uri, resp, p["algorithm"], cnonce, ncs)
}

// challengeFor runs the first leg: a request without credentials must be
// challenged; it returns the challenge of the wanted algorithm.
func challengeFor(t *testing.T, a *auth.Authenticator, req *sip.Message, proxy bool, alg string) string {
	t.Helper()
	res := a.Verify(context.Background(), req, realm, proxy, phone)
	if res.Outcome != auth.Challenge {
		t.Fatalf("no credentials: outcome %v, want Challenge", res.Outcome)
	}
	resp := a.Respond(req, res, "tag1")
	for _, c := range headerLines(resp, auth.HeaderName(proxy)) {
		if params(c)["algorithm"] == alg {
			return c
		}
	}
	t.Fatalf("no %s challenge in\n%s", alg, resp)
	return ""
}
