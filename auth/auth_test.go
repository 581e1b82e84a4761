package auth_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/subscriber"
)

// TestRFC2617Example checks the worked example of RFC 2617 §3.5, parsing
// its Authorization header (folded over lines, as printed).
func TestRFC2617Example(t *testing.T) {
	c, err := auth.ParseCredentials(`Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41"`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Opaque != "5ccc069c403ebaf9f0171e9517f40e41" || c.QOP != "auth" || c.NC != "00000001" {
		t.Fatalf("parsed %+v", c)
	}
	ha1 := subscriber.HA1("MD5", c.Username, c.Realm, "Circle Of Life")
	got := auth.Response(c.Algorithm, ha1, "GET", c.URI, c.Nonce, c.NC, c.CNonce, c.QOP)
	if got != c.Response {
		t.Fatalf("response = %s, want RFC 2617's %s", got, c.Response)
	}
}

// rfc7616 is the request of RFC 7616 §3.9.1, answered once with MD5 and
// once with SHA-256.
const rfc7616 = `Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=%s, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="%s", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`

func TestRFC7616Examples(t *testing.T) {
	for _, tc := range []struct{ alg, response string }{
		{"MD5", "8ca523f5e9506fed4657c9700eebdbec"},
		{"SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			c, err := auth.ParseCredentials(strings.Replace(strings.Replace(rfc7616, "%s", tc.alg, 1), "%s", tc.response, 1))
			if err != nil {
				t.Fatal(err)
			}
			ha1 := subscriber.HA1(tc.alg, "Mufasa", "http-auth@example.org", "Circle of Life")
			got := auth.Response(c.Algorithm, ha1, "GET", c.URI, c.Nonce, c.NC, c.CNonce, c.QOP)
			if got != tc.response {
				t.Fatalf("response = %s, want RFC 7616's %s", got, tc.response)
			}
		})
	}
}

// TestResponseWithoutQop checks RFC 2069-style digests, which RFC 2617
// keeps for old clients: H(HA1:nonce:HA2). RFC 2069's own example is known
// to be wrong, so the value here was computed independently (Python's
// hashlib) from RFC 2617 §3.5's inputs.
func TestResponseWithoutQop(t *testing.T) {
	ha1 := subscriber.HA1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life")
	got := auth.Response("", ha1, "GET", "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "", "", "")
	if want := "670fd8c2df070c60b045671b8b24ff02"; got != want {
		t.Fatalf("response = %s, want %s", got, want)
	}
	if auth.Response("SHA-512-256", ha1, "GET", "/", "n", "", "", "") != "" {
		t.Fatal("Response for an unknown algorithm should be empty")
	}
}

func TestChallengeFormat(t *testing.T) {
	a, _ := setup(t)
	got := a.Challenge(realm, false, false)
	if len(got) != 2 {
		t.Fatalf("got %d challenges, want 2", len(got))
	}
	for i, alg := range []string{"SHA-256", "MD5"} {
		p := params(got[i])
		if !strings.HasPrefix(got[i], "Digest ") || p["realm"] != realm || p["algorithm"] != alg || p["qop"] != "auth" || p["nonce"] == "" {
			t.Errorf("challenge %d = %s", i, got[i])
		}
		if _, ok := p["stale"]; ok {
			t.Errorf("challenge %d has stale without being asked: %s", i, got[i])
		}
	}
	if p := params(a.Challenge(realm, true, true)[1]); p["stale"] != "true" {
		t.Errorf("stale challenge lacks stale=true: %v", p)
	}
	if a.Challenge(realm, false, false)[0] == got[0] {
		t.Error("two challenges share a nonce")
	}
}

// TestChallengeAlgorithms: a zero Algorithms offers MD5 alone (libre-based
// phones give up on any other); a configured list is offered in its order.
func TestChallengeAlgorithms(t *testing.T) {
	tests := []struct {
		name       string
		algorithms []string
		want       []string
	}{
		{"default", nil, []string{"MD5"}},
		{"SHA-256 then MD5", []string{auth.SHA256, auth.MD5}, []string{"SHA-256", "MD5"}},
		{"MD5 then SHA-256", []string{auth.MD5, auth.SHA256}, []string{"MD5", "SHA-256"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := setup(t)
			a.Algorithms = tc.algorithms
			var got []string
			for _, ch := range a.Challenge(realm, false, false) {
				got = append(got, params(ch)["algorithm"])
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("challenges offer %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRegisterRoundTrip is the whole exchange a phone goes through: a
// REGISTER without credentials gets 401 with both challenges, and the
// REGISTER answering either of them is accepted as alice.
func TestRegisterRoundTrip(t *testing.T) {
	for _, alg := range []string{"SHA-256", "MD5"} {
		t.Run(alg, func(t *testing.T) {
			a, _ := setup(t)
			req := request(t, "REGISTER", "sip:example.com")
			resp := a.Respond(req, a.Verify(context.Background(), req, realm, false, phone), "tag1")
			if resp.StatusCode() != 401 || len(headerLines(resp, "WWW-Authenticate")) != 2 {
				t.Fatalf("first REGISTER answered:\n%s", resp)
			}
			ch := challengeFor(t, a, req, false, alg)
			req2 := request(t, "REGISTER", "sip:example.com",
				"Authorization", answer(ch, "REGISTER", "sip:example.com", "alice", "secret", "0a4f113b", 1))
			res := a.Verify(context.Background(), req2, realm, false, phone)
			if res.Outcome != auth.OK || res.User != "alice" {
				t.Fatalf("second REGISTER: %+v, want OK as alice", res)
			}
			if err := auth.CheckIdentity(req2, res.User, realm); err != nil {
				t.Fatalf("CheckIdentity: %v", err)
			}
			if st := a.Stats(); st.Successes != 1 || st.Failures != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestInviteProxyAuth is the 407 leg: an INVITE to be forwarded is
// challenged with Proxy-Authenticate and answered in Proxy-Authorization.
func TestInviteProxyAuth(t *testing.T) {
	a, _ := setup(t)
	req := request(t, "INVITE", "sip:bob@example.com")
	resp := a.Respond(req, a.Verify(context.Background(), req, realm, true, phone), "tag1")
	if resp.StatusCode() != 407 || len(headerLines(resp, "Proxy-Authenticate")) != 2 {
		t.Fatalf("INVITE answered:\n%s", resp)
	}
	ch := challengeFor(t, a, req, true, "SHA-256")
	cred := answer(ch, "INVITE", "sip:bob@example.com", "alice", "secret", "abc", 1)
	// Credentials in the wrong header do not count.
	wrong := request(t, "INVITE", "sip:bob@example.com", "Authorization", cred)
	if res := a.Verify(context.Background(), wrong, realm, true, phone); res.Outcome != auth.Challenge {
		t.Fatalf("Authorization on a proxy challenge: %v, want Challenge", res.Outcome)
	}
	req2 := request(t, "INVITE", "sip:bob@example.com", "Proxy-Authorization", cred)
	if res := a.Verify(context.Background(), req2, realm, true, phone); res.Outcome != auth.OK {
		t.Fatalf("INVITE with credentials: %+v", res)
	}
}

func TestStaleNonce(t *testing.T) {
	a, clk := setup(t)
	a.NonceTTL = time.Minute
	req := request(t, "REGISTER", "sip:example.com")
	ch := challengeFor(t, a, req, false, "SHA-256")
	clk.Advance(time.Minute + time.Second)
	req2 := request(t, "REGISTER", "sip:example.com",
		"Authorization", answer(ch, "REGISTER", "sip:example.com", "alice", "secret", "c1", 1))
	res := a.Verify(context.Background(), req2, realm, false, phone)
	if res.Outcome != auth.Stale {
		t.Fatalf("expired nonce: %v, want Stale", res.Outcome)
	}
	resp := a.Respond(req2, res, "t")
	for _, c := range headerLines(resp, "WWW-Authenticate") {
		if params(c)["stale"] != "true" {
			t.Fatalf("stale answer without stale=true: %s", c)
		}
	}
	// A wrong password is not told its nonce is stale: stale=true would
	// invite a silent retry that can only fail.
	req3 := request(t, "REGISTER", "sip:example.com",
		"Authorization", answer(ch, "REGISTER", "sip:example.com", "alice", "wrong", "c1", 1))
	if res := a.Verify(context.Background(), req3, realm, false, phone); res.Outcome != auth.Forbidden {
		t.Fatalf("expired nonce with a wrong password: %v, want Forbidden", res.Outcome)
	}
}

// TestNonceAcrossNodes checks that a nonce is accepted by another
// Authenticator with the same secret (a restarted server, another node)
// and by no other.
func TestNonceAcrossNodes(t *testing.T) {
	a, clk := setup(t)
	req := request(t, "REGISTER", "sip:example.com")
	ch := challengeFor(t, a, req, false, "MD5")
	req2 := request(t, "REGISTER", "sip:example.com",
		"Authorization", answer(ch, "REGISTER", "sip:example.com", "alice", "secret", "c1", 1))

	restarted := auth.NewAuthenticator(a.Store, secret)
	restarted.Now = clk.Now
	if res := restarted.Verify(context.Background(), req2, realm, false, phone); res.Outcome != auth.OK {
		t.Fatalf("same secret: %v, want OK", res.Outcome)
	}
	stranger := auth.NewAuthenticator(a.Store, []byte("another secret, another server!!"))
	stranger.Now = clk.Now
	if res := stranger.Verify(context.Background(), req2, realm, false, phone); res.Outcome != auth.Stale {
		t.Fatalf("other secret: %v, want Stale", res.Outcome)
	}
}

func TestNonceBoundToRealm(t *testing.T) {
	a, _ := setup(t)
	if err := a.Store.Put(context.Background(), subscriber.New("alice", "example.org", "secret")); err != nil {
		t.Fatal(err)
	}
	ch := strings.Replace(a.Challenge(realm, false, false)[0], realm, "example.org", 1)
	req := request(t, "REGISTER", "sip:example.org",
		"Authorization", answer(ch, "REGISTER", "sip:example.org", "alice", "secret", "c1", 1))
	if res := a.Verify(context.Background(), req, "example.org", false, phone); res.Outcome != auth.Stale {
		t.Fatalf("nonce of another realm: %v, want Stale", res.Outcome)
	}
}

func TestNCReplayRefused(t *testing.T) {
	a, _ := setup(t)
	ch := challengeFor(t, a, request(t, "REGISTER", "sip:example.com"), false, "SHA-256")
	verify := func(nc int) auth.Outcome {
		req := request(t, "REGISTER", "sip:example.com",
			"Authorization", answer(ch, "REGISTER", "sip:example.com", "alice", "secret", "c1", nc))
		return a.Verify(context.Background(), req, realm, false, phone).Outcome
	}
	steps := []struct {
		nc   int
		want auth.Outcome
	}{{1, auth.OK}, {1, auth.Stale}, {2, auth.OK}, {5, auth.OK}, {3, auth.Stale}, {5, auth.Stale}, {6, auth.OK}}
	for _, s := range steps {
		if got := verify(s.nc); got != s.want {
			t.Fatalf("nc=%d: %v, want %v", s.nc, got, s.want)
		}
	}
	if st := a.Stats(); st.Failures != 0 {
		t.Fatalf("replays counted as failures: %+v", st)
	}
}

func TestWrongRealmIsChallenged(t *testing.T) {
	a, _ := setup(t)
	ch := strings.Replace(a.Challenge(realm, false, false)[0], realm, "elsewhere.net", 1)
	req := request(t, "INVITE", "sip:bob@example.com",
		"Proxy-Authorization", answer(ch, "INVITE", "sip:bob@example.com", "alice", "secret", "c1", 1))
	if res := a.Verify(context.Background(), req, realm, true, phone); res.Outcome != auth.Challenge {
		t.Fatalf("credentials for another realm: %v, want Challenge", res.Outcome)
	}
}

// TestPicksOurRealm checks a request carrying credentials for several
// realms, ours not first.
func TestPicksOurRealm(t *testing.T) {
	a, _ := setup(t)
	ch := challengeFor(t, a, request(t, "INVITE", "sip:bob@example.com"), true, "MD5")
	theirs := `Digest username="x", realm="upstream.net", nonce="n", uri="sip:bob@example.com", response="00000000000000000000000000000000"`
	req := request(t, "INVITE", "sip:bob@example.com",
		"Proxy-Authorization", theirs,
		"Proxy-Authorization", answer(ch, "INVITE", "sip:bob@example.com", "alice", "secret", "c1", 1))
	if res := a.Verify(context.Background(), req, realm, true, phone); res.Outcome != auth.OK {
		t.Fatalf("%+v, want OK", res)
	}
}

func TestIdentity(t *testing.T) {
	reg := request(t, "REGISTER", "sip:example.com")
	inv := request(t, "INVITE", "sip:bob@example.com")
	tests := []struct {
		name        string
		req         *sip.Message
		user, realm string
		ok          bool
	}{
		{"register as self", reg, "alice", realm, true},
		{"realm case", reg, "alice", "EXAMPLE.com", true},
		{"From of another user", inv, "bob", realm, false},
		{"user case matters", inv, "Alice", realm, false},
		{"other domain", inv, "alice", "example.org", false},
		{"invite to another user", inv, "alice", realm, true},
	}
	for _, tc := range tests {
		if err := auth.CheckIdentity(tc.req, tc.user, tc.realm); (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	// A REGISTER for someone else's address: From is alice, To is bob.
	third, err := sip.NewRequestBuilder("REGISTER", "sip:example.com").
		Header("Via", "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1").Header("Max-Forwards", "70").
		Header("To", "<sip:bob@example.com>").Header("From", "<sip:alice@example.com>;tag=1").
		Header("Call-ID", "x").Header("CSeq", "1 REGISTER").Message("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.CheckIdentity(third, "alice", realm); err == nil {
		t.Error("third-party REGISTER accepted")
	}
}

// TestUnknownUserLikeWrongPassword checks that a scanner cannot tell which
// users exist: both get the same Result and the same bytes back.
func TestUnknownUserLikeWrongPassword(t *testing.T) {
	a, _ := setup(t)
	ch := challengeFor(t, a, request(t, "REGISTER", "sip:example.com"), false, "SHA-256")
	try := func(user, password string) (auth.Result, string) {
		req := request(t, "REGISTER", "sip:example.com",
			"Authorization", answer(ch, "REGISTER", "sip:example.com", user, password, "c1", 1))
		res := a.Verify(context.Background(), req, realm, false, phone)
		return res, a.Respond(req, res, "tag").String()
	}
	wrongPW, wrongResp := try("alice", "guess")
	unknown, unknownResp := try("mallory", "guess")
	if wrongPW.Outcome != auth.Forbidden || !reflect.DeepEqual(wrongPW, unknown) {
		t.Fatalf("wrong password %+v, unknown user %+v: want the same Forbidden", wrongPW, unknown)
	}
	if wrongResp != unknownResp {
		t.Fatalf("responses differ:\n%s\n%s", wrongResp, unknownResp)
	}
	if code, _ := wrongPW.Status(); code != 403 {
		t.Fatalf("status %d, want 403", code)
	}
}

// guesser makes a block after maxFailures for blockFor, logging to the
// buffer it returns, and returns try, which answers one challenge of alg
// as alice with password from a source, to a or to an authenticator that
// continues it (a reload).
func guesser(t *testing.T, a *auth.Authenticator, maxFailures int, blockFor time.Duration, alg string) (
	*bytes.Buffer, func(*auth.Authenticator, netip.Addr, string) auth.Outcome) {
	t.Helper()
	a.MaxFailures, a.BlockFor = maxFailures, blockFor
	var log bytes.Buffer
	a.Logger = slog.New(slog.NewTextHandler(&log, nil))
	ch := challengeFor(t, a, request(t, "REGISTER", "sip:example.com"), false, alg)
	nc := 0
	return &log, func(a *auth.Authenticator, from netip.Addr, password string) auth.Outcome {
		nc++
		req := request(t, "REGISTER", "sip:example.com",
			"Authorization", answer(ch, "REGISTER", "sip:example.com", "alice", password, "c1", nc))
		return a.Verify(context.Background(), req, realm, false, from).Outcome
	}
}

func TestBlockAfterFailures(t *testing.T) {
	a, clk := setup(t)
	log, try1 := guesser(t, a, 3, time.Minute, "SHA-256")
	try := func(from netip.Addr, password string) auth.Outcome { return try1(a, from, password) }
	for i := range 3 {
		if got := try(phone, "guess"); got != auth.Forbidden {
			t.Fatalf("failure %d: %v, want Forbidden", i+1, got)
		}
	}
	if got := try(phone, "secret"); got != auth.Blocked {
		t.Fatalf("after 3 failures, the right password: %v, want Blocked", got)
	}
	if !a.IsBlocked(phone) || a.IsBlocked(other) {
		t.Fatal("IsBlocked disagrees")
	}
	if got := try(other, "secret"); got != auth.OK {
		t.Fatalf("another source: %v, want OK", got)
	}
	st := a.Stats()
	if st.Failures != 3 || st.BlockedNow != 1 || st.BlocksTotal != 1 || st.Refused != 1 {
		t.Fatalf("stats %+v", st)
	}
	a.LogEndedBlocks()
	clk.Advance(time.Minute)
	a.LogEndedBlocks()
	a.LogEndedBlocks()
	src := "source=" + phone.String()
	for _, want := range []struct {
		line string
		n    int
	}{
		{`msg="auth failed" user=alice realm=example.com ` + src + ` reason="wrong password"`, 3},
		{`msg="source banned" ` + src + ` reason="auth failures" failures=3 window=10m0s for=1m0s`, 1},
		{`msg="source ban ended" ` + src + ` reason="auth failures"`, 1},
	} {
		if n := strings.Count(log.String(), want.line); n != want.n {
			t.Errorf("%d lines %s, want %d; log:\n%s", n, want.line, want.n, log.String())
		}
	}
	if got := try(phone, "secret"); got != auth.OK {
		t.Fatalf("after BlockFor: %v, want OK", got)
	}
	if st := a.Stats(); st.BlockedNow != 0 || st.BlocksTotal != 1 {
		t.Fatalf("stats after unblock %+v", st)
	}
}

// TestTrustedNeverBlocked: failures from a NeverBlocked network
// (security.trusted) are logged but block nothing, and a block made before
// a reload listed the source is lifted by it.
func TestTrustedNeverBlocked(t *testing.T) {
	a, _ := setup(t)
	log, try := guesser(t, a, 2, time.Hour, "MD5")
	for range 3 {
		try(a, phone, "guess")
	}
	if !a.IsBlocked(phone) {
		t.Fatal("3 failures did not block the phone")
	}
	// The operator lists the phone's network and reloads.
	trusted := &auth.Authenticator{Store: a.Store, Secret: a.Secret, Now: a.Now, MaxFailures: 2, BlockFor: time.Hour, Logger: a.Logger,
		NeverBlocked: []netip.Prefix{netip.PrefixFrom(phone, phone.BitLen())}}
	trusted.Continue(a)
	if got := try(trusted, phone, "secret"); got != auth.OK {
		t.Fatalf("after the reload that trusts it, the right password: %v, want OK", got)
	}
	for i := range 3 {
		if got := try(trusted, phone, "guess"); got != auth.Forbidden {
			t.Fatalf("trusted failure %d: %v, want Forbidden (answered, never Blocked)", i+1, got)
		}
	}
	if trusted.IsBlocked(phone) {
		t.Fatal("a trusted source was blocked")
	}
	if n := strings.Count(log.String(), `msg="auth failed"`); n != 5 {
		t.Errorf("%d auth failed lines, want 5: 2 before the block, 3 trusted (fail2ban reads them)", n)
	}
	for range 3 {
		try(trusted, other, "guess")
	}
	if !trusted.IsBlocked(other) {
		t.Fatal("an untrusted source is no longer blocked")
	}
}

// TestFailureWindow checks failures spread wider than the window never
// add up to a block.
func TestFailureWindow(t *testing.T) {
	a, clk := setup(t)
	a.MaxFailures, a.FailureWindow, a.NonceTTL = 2, time.Minute, time.Hour
	ch := challengeFor(t, a, request(t, "REGISTER", "sip:example.com"), false, "MD5")
	for i := range 4 {
		req := request(t, "REGISTER", "sip:example.com",
			"Authorization", answer(ch, "REGISTER", "sip:example.com", "alice", "guess", "c1", i+1))
		if got := a.Verify(context.Background(), req, realm, false, phone).Outcome; got != auth.Forbidden {
			t.Fatalf("failure %d: %v, want Forbidden", i+1, got)
		}
		clk.Advance(61 * time.Second)
	}
}

// TestBlockIPv6Prefix checks that stepping through addresses of one /64
// does not escape a block.
func TestBlockIPv6Prefix(t *testing.T) {
	a, _ := setup(t)
	a.MaxFailures = 2
	ch := challengeFor(t, a, request(t, "REGISTER", "sip:example.com"), false, "MD5")
	for i, src := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2"} {
		req := request(t, "REGISTER", "sip:example.com",
			"Authorization", answer(ch, "REGISTER", "sip:example.com", "alice", "guess", "c1", i+1))
		a.Verify(context.Background(), req, realm, false, netip.MustParseAddr(src))
	}
	if !a.IsBlocked(netip.MustParseAddr("2001:db8:1:2::99")) {
		t.Fatal("a neighbour in the same /64 is not blocked")
	}
	if a.IsBlocked(netip.MustParseAddr("2001:db8:1:3::1")) {
		t.Fatal("another /64 is blocked")
	}
}

func TestMalformedCredentials(t *testing.T) {
	a, _ := setup(t)
	nonce := params(a.Challenge(realm, false, false)[0])["nonce"]
	good := `username="alice", realm="example.com", nonce="` + nonce + `", uri="sip:example.com", response="00000000000000000000000000000000"`
	tests := []struct{ name, value string }{
		{"unterminated quote", `Digest username="alice, realm="example.com"`},
		{"no equals", `Digest username, realm="example.com"`},
		{"duplicate", `Digest ` + good + `, realm="example.com"`},
		{"missing response", `Digest username="alice", realm="example.com", nonce="n", uri="sip:example.com"`},
		{"unknown algorithm", `Digest ` + good + `, algorithm=SHA-512-256`},
		{"auth-int", `Digest ` + good + `, qop=auth-int, nc=00000001, cnonce="x"`},
		{"qop without nc", `Digest ` + good + `, qop=auth, cnonce="x"`},
		{"bad nc", `Digest ` + good + `, qop=auth, nc=xyz, cnonce="x"`},
		{"short response", strings.Replace(`Digest `+good, `response="0000`, `response="`, 1)},
		{"userhash", `Digest ` + good + `, userhash=true`},
		{"garbage after value", `Digest ` + good + ` junk`},
	}
	for _, tc := range tests {
		req := request(t, "REGISTER", "sip:example.com", "Authorization", tc.value)
		res := a.Verify(context.Background(), req, realm, false, phone)
		if code, reason := res.Status(); res.Outcome != auth.Bad || code != 400 || reason == "" {
			t.Errorf("%s: %+v, want Bad with a reason", tc.name, res)
		}
	}
	if st := a.Stats(); st.Failures != 0 {
		t.Fatalf("malformed credentials counted as failures: %+v", st)
	}
	// Another scheme is not ours to judge: it is a Challenge.
	req := request(t, "REGISTER", "sip:example.com", "Authorization", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
	if res := a.Verify(context.Background(), req, realm, false, phone); res.Outcome != auth.Challenge {
		t.Errorf("Basic credentials: %v, want Challenge", res.Outcome)
	}
}

// TestWithoutQop accepts an RFC 2069-style answer from an old phone.
func TestWithoutQop(t *testing.T) {
	a, _ := setup(t)
	nonce := params(a.Challenge(realm, false, false)[1])["nonce"]
	ha1 := subscriber.HA1("MD5", "alice", realm, "secret")
	resp := auth.Response("MD5", ha1, "REGISTER", "sip:example.com", nonce, "", "", "")
	req := request(t, "REGISTER", "sip:example.com", "Authorization",
		`Digest username="alice", realm="example.com", nonce="`+nonce+`", uri="sip:example.com", response="`+resp+`"`)
	if res := a.Verify(context.Background(), req, realm, false, phone); res.Outcome != auth.OK {
		t.Fatalf("%+v, want OK", res)
	}
}

type failingStore struct{ subscriber.Store }

func (failingStore) Get(context.Context, string, string) (subscriber.Subscriber, error) {
	return subscriber.Subscriber{}, errors.New("disk on fire")
}

// TestStoreFailure: a subscriber store that fails is answered 503 with
// Retry-After, counts nothing against the phone, and is logged once
// however many requests it fails.
func TestStoreFailure(t *testing.T) {
	a, _ := setup(t)
	var log bytes.Buffer
	a.Logger = slog.New(slog.NewTextHandler(&log, nil))
	a.Store = failingStore{}
	ch := challengeFor(t, a, request(t, "REGISTER", "sip:example.com"), false, "MD5")
	for i := range 3 {
		req := request(t, "REGISTER", "sip:example.com",
			"Authorization", answer(ch, "REGISTER", "sip:example.com", "alice", "secret", "c1", i+1))
		res := a.Verify(context.Background(), req, realm, false, phone)
		if code, _ := res.Status(); res.Outcome != auth.ServerError || code != 503 || res.Err == nil {
			t.Fatalf("%+v, want ServerError", res)
		}
		if resp := a.Respond(req, res, "tt"); resp.Header("Retry-After") != auth.RetryAfter {
			t.Fatalf("response without Retry-After: %s", resp.Bytes())
		}
	}
	if a.Stats().Failures != 0 {
		t.Fatal("a store failure counted against the phone")
	}
	if n := strings.Count(log.String(), `msg="subscriber store unavailable"`); n != 1 || strings.Count(log.String(), "\n") != 1 {
		t.Errorf("want one line for the outage, got:\n%s", log.String())
	}
}

// flakyStore is a subscriber store whose lookups and version fail
// while down is set, as a database that went away does.
type flakyStore struct {
	*subscriber.Memory
	down atomic.Bool
}

func (s *flakyStore) Get(ctx context.Context, user, domain string) (subscriber.Subscriber, error) {
	if s.down.Load() {
		return subscriber.Subscriber{}, errors.New("connection refused")
	}
	return s.Memory.Get(ctx, user, domain)
}

func (s *flakyStore) Version(ctx context.Context) (int64, error) {
	if s.down.Load() {
		return 0, errors.New("connection refused")
	}
	return s.Memory.Version(ctx)
}

// TestStoreOutageBehindTheCache: with the database down, a phone whose
// subscriber the server's cache holds still authenticates (a cluster
// node keeps serving its registered phones through a PostgreSQL
// outage); one it does not hold gets 503; the outage is logged once when
// it starts and once when the database answers again, and answers from
// memory between do not count as its end.
func TestStoreOutageBehindTheCache(t *testing.T) {
	a, clk := setup(t)
	var log bytes.Buffer
	a.Logger = slog.New(slog.NewTextHandler(&log, nil))
	db := &flakyStore{Memory: subscriber.NewMemory()}
	for _, u := range []string{"alice", "carol"} {
		if err := db.Put(context.Background(), subscriber.New(u, realm, "secret")); err != nil {
			t.Fatal(err)
		}
	}
	a.Store = &subscriber.Cache{Store: db, Now: clk.Now}
	verify := func(user string, nc int) auth.Outcome {
		t.Helper()
		ch := challengeFor(t, a, request(t, "REGISTER", "sip:example.com"), false, "MD5")
		req := request(t, "REGISTER", "sip:example.com",
			"Authorization", answer(ch, "REGISTER", "sip:example.com", user, "secret", "c1", nc))
		return a.Verify(context.Background(), req, realm, false, phone).Outcome
	}
	if got := verify("alice", 1); got != auth.OK {
		t.Fatalf("alice with the store up: %v", got)
	}
	db.down.Store(true)
	clk.Advance(2 * subscriber.DefaultCheckEvery)
	for i, step := range []struct {
		user string
		want auth.Outcome
	}{{"alice", auth.OK}, {"carol", auth.ServerError}, {"alice", auth.OK}, {"carol", auth.ServerError}} {
		if got := verify(step.user, 2+i); got != step.want {
			t.Errorf("%s during the outage: %v, want %v", step.user, got, step.want)
		}
	}
	db.down.Store(false)
	clk.Advance(2 * subscriber.DefaultCheckEvery)
	if got := verify("carol", 9); got != auth.OK {
		t.Errorf("carol after the outage: %v", got)
	}
	got := log.String()
	if strings.Count(got, `msg="subscriber store unavailable"`) != 1 ||
		strings.Count(got, `msg="subscriber store available again"`) != 1 || strings.Count(got, "\n") != 2 {
		t.Errorf("want one line as the outage starts and one as it ends, got:\n%s", got)
	}
}

func TestStripCredentials(t *testing.T) {
	ours := `Digest username="alice", realm="example.com", nonce="n", uri="sip:bob@example.com", response="r"`
	up1 := `Digest username="a", realm="upstream.net", nonce="n1", uri="sip:bob@example.com", response="r1"`
	up2 := `Digest username="a", realm="other.net", nonce="n2", uri="sip:bob@example.com", response="r2"`
	req := request(t, "INVITE", "sip:bob@example.com",
		"Proxy-Authorization", up1, "Proxy-Authorization", ours, "Proxy-Authorization", up2,
		"Authorization", strings.Replace(ours, "example.com\"", "EXAMPLE.com\"", 1))
	if n := auth.StripCredentials(req, realm); n != 2 {
		t.Fatalf("removed %d, want 2", n)
	}
	if got := headerLines(req, "Proxy-Authorization"); !reflect.DeepEqual(got, []string{up1, up2}) {
		t.Fatalf("left %q", got)
	}
	if got := headerLines(req, "Authorization"); len(got) != 0 {
		t.Fatalf("left %q", got)
	}
	clean := request(t, "INVITE", "sip:bob@example.com", "Proxy-Authorization", up1)
	if auth.StripCredentials(clean, realm) != 0 || clean.Edited() {
		t.Fatal("a request without our credentials was edited")
	}
}

func TestOutcomeString(t *testing.T) {
	if auth.Forbidden.String() != "Forbidden" || auth.Outcome(42).String() != "Outcome(42)" {
		t.Fatal(auth.Forbidden.String(), auth.Outcome(42).String())
	}
}

// TestConcurrentVerify has many requests share one nonce at once, each with
// its own nc, as a phone sending in parallel does: all must pass, and the
// race detector watches the shared tables.
func TestConcurrentVerify(t *testing.T) {
	a, _ := setup(t)
	ch := challengeFor(t, a, request(t, "REGISTER", "sip:example.com"), false, "SHA-256")
	const n = 32
	reqs := make([]*sip.Message, n)
	for i := range reqs {
		reqs[i] = request(t, "REGISTER", "sip:example.com",
			"Authorization", answer(ch, "REGISTER", "sip:example.com", "alice", "secret", "c1", i+1))
	}
	results := make([]auth.Outcome, n)
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() {
			results[i] = a.Verify(context.Background(), reqs[i], realm, false, phone).Outcome
			a.Stats()
		})
	}
	wg.Wait()
	ok := 0
	for _, r := range results {
		if r == auth.OK {
			ok++
		} else if r != auth.Stale {
			t.Fatalf("outcome %v", r)
		}
	}
	// Requests overtaking each other make a lower nc arrive late, which is
	// refused as stale; at least the highest always passes.
	if ok == 0 || a.Stats().Successes != uint64(ok) {
		t.Fatalf("%d OK, stats %+v", ok, a.Stats())
	}
}

// TestAlgorithmsConfigured: the operator's list sets the challenge order
// (a UAC takes the first it supports, RFC 8760 §2.4) and what is accepted.
func TestAlgorithmsConfigured(t *testing.T) {
	a, _ := setup(t)
	a.Algorithms = []string{"MD5"}
	req := request(t, "REGISTER", "sip:example.com")
	resp := a.Respond(req, a.Verify(context.Background(), req, realm, false, phone), "tag1")
	lines := headerLines(resp, "WWW-Authenticate")
	if len(lines) != 1 || params(lines[0])["algorithm"] != "MD5" {
		t.Fatalf("challenges %q, want one MD5 challenge", lines)
	}
	ch := challengeFor(t, a, req, false, "MD5")
	ok := request(t, "REGISTER", "sip:example.com",
		"Authorization", answer(ch, "REGISTER", "sip:example.com", "alice", "secret", "0a4f113b", 1))
	if res := a.Verify(context.Background(), ok, realm, false, phone); res.Outcome != auth.OK {
		t.Fatalf("MD5 answer: %v, want OK", res.Outcome)
	}
	// An answer with an algorithm that was not offered is refused.
	sha := strings.Replace(ch, "algorithm=MD5", "algorithm=SHA-256", 1)
	bad := request(t, "REGISTER", "sip:example.com",
		"Authorization", answer(sha, "REGISTER", "sip:example.com", "alice", "secret", "0a4f113c", 1))
	if res := a.Verify(context.Background(), bad, realm, false, phone); res.Outcome != auth.Bad {
		t.Fatalf("SHA-256 answer with only MD5 offered: %v, want Bad", res.Outcome)
	}
}

// TestContinue: an Authenticator built by a reload carries on from the
// old one: a blocked source stays blocked, and a nonce the old one
// issued is still accepted.
func TestContinue(t *testing.T) {
	prev, clk := setup(t)
	prev.MaxFailures, prev.BlockFor = 1, time.Minute
	ch := challengeFor(t, prev, request(t, "REGISTER", "sip:example.com"), false, "SHA-256")
	verify := func(a *auth.Authenticator, from netip.Addr, password string, nc int) auth.Outcome {
		req := request(t, "REGISTER", "sip:example.com",
			"Authorization", answer(ch, "REGISTER", "sip:example.com", "alice", password, "c1", nc))
		return a.Verify(context.Background(), req, realm, false, from).Outcome
	}
	if got := verify(prev, phone, "guess", 1); got != auth.Forbidden {
		t.Fatalf("wrong password: %v, want Forbidden", got)
	}
	next, _ := setup(t)
	next.Now = clk.Now
	next.MaxFailures = 5
	next.Continue(prev)
	if !next.IsBlocked(phone) {
		t.Error("the block did not survive the reload")
	}
	if got := verify(next, other, "secret", 2); got != auth.OK {
		t.Errorf("the old nonce after the reload: %v, want OK", got)
	}
	if st := next.Stats(); st.BlockedNow != 1 || st.Failures != 1 {
		t.Errorf("stats after the reload: %+v", st)
	}
}

// fakeBans is a cluster's ban list in memory.
type fakeBans struct {
	until map[netip.Addr]time.Time
}

func (f *fakeBans) Ban(src netip.Addr, until time.Time) { f.until[src] = until }
func (f *fakeBans) Banned(src netip.Addr, now time.Time) bool {
	u, ok := f.until[src]
	return ok && now.Before(u)
}

// TestSharedBans: a block made here is told to the cluster (by the
// source's /64 for IPv6, until the block ends), and a source another
// node banned is refused here without a single failure of its own.
func TestSharedBans(t *testing.T) {
	a, clk := setup(t)
	shared := &fakeBans{until: map[netip.Addr]time.Time{}}
	a.MaxFailures, a.BlockFor, a.Shared = 2, time.Minute, shared
	ch := challengeFor(t, a, request(t, "REGISTER", "sip:example.com"), false, "MD5")
	for i := range 2 {
		req := request(t, "REGISTER", "sip:example.com",
			"Authorization", answer(ch, "REGISTER", "sip:example.com", "alice", "guess", "c1", i+1))
		a.Verify(context.Background(), req, realm, false, netip.MustParseAddr("2001:db8:1:2::1"))
	}
	want := clk.Now().Add(time.Minute)
	if got := shared.until[netip.MustParseAddr("2001:db8:1:2::")]; !got.Equal(want) {
		t.Errorf("ban told to the cluster: %v (all: %v), want the /64 until %v", got, shared.until, want)
	}

	banned := netip.MustParseAddr("192.0.2.66")
	shared.until[banned] = clk.Now().Add(time.Minute)
	req := request(t, "REGISTER", "sip:example.com",
		"Authorization", answer(ch, "REGISTER", "sip:example.com", "alice", "secret", "c1", 3))
	if got := a.Verify(context.Background(), req, realm, false, banned).Outcome; got != auth.Blocked {
		t.Errorf("a source another node banned, right password: %v, want Blocked", got)
	}
	if !a.IsBlocked(banned) || a.IsBlocked(other) {
		t.Error("IsBlocked disagrees with the shared bans")
	}
	clk.Advance(time.Minute)
	req = request(t, "REGISTER", "sip:example.com",
		"Authorization", answer(ch, "REGISTER", "sip:example.com", "alice", "secret", "c1", 4))
	if got := a.Verify(context.Background(), req, realm, false, banned).Outcome; got == auth.Blocked {
		t.Error("still blocked after the other node's ban ended")
	}
}
