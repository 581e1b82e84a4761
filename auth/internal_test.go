package auth

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/subscriber"
)

// TestRFC7616ThroughCheck runs RFC 7616 §3.9.1's credentials through the
// verifier itself. The RFC's nonce is not one of ours, so the best answer
// is Stale, and Stale is only given when the digest matched: anything
// else would be Forbidden.
func TestRFC7616ThroughCheck(t *testing.T) {
	store := subscriber.NewMemory()
	sub := subscriber.New("Mufasa", "http-auth@example.org", "Circle of Life")
	if err := store.Put(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	a := NewAuthenticator(store, []byte("0123456789abcdef"))
	a.init()
	for alg, resp := range map[string]string{
		"MD5":     "8ca523f5e9506fed4657c9700eebdbec",
		"SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
	} {
		c, err := ParseCredentials(fmt.Sprintf(`Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=%s, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="%s", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`, alg, resp))
		if err != nil || validate(c) != "" {
			t.Fatalf("%s: %v %q", alg, err, validate(c))
		}
		res := a.check(context.Background(), "GET", c, Result{Realm: c.Realm}, netip.Addr{}, time.Now())
		if res.Outcome != Stale {
			t.Errorf("%s: %v, want Stale (digest right, nonce foreign)", alg, res.Outcome)
		}
		c.Response = strings.Replace(c.Response, "8", "9", 1)
		if res := a.check(context.Background(), "GET", c, Result{Realm: c.Realm}, netip.Addr{}, time.Now()); res.Outcome != Forbidden {
			t.Errorf("%s with a changed response: %v, want Forbidden", alg, res.Outcome)
		}
	}
}

func TestParseCredentials(t *testing.T) {
	c, err := ParseCredentials(`digest USERNAME="al\"ice" ,realm = "example.com",nonce=abc,  uri="sip:x", response="r", qop="auth", nc=1, future=x, userhash=FALSE`)
	if err != nil {
		t.Fatal(err)
	}
	want := Credentials{Scheme: "digest", Username: `al"ice`, Realm: "example.com", Nonce: "abc", URI: "sip:x", Response: "r", QOP: "auth", NC: "1"}
	if c != want {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	for _, bad := range []string{"", "Digest", `"Digest" a=b`, "Digest a=", `Digest a="x\`, `Digest a=b c=d`, `Digest a=b, A=c`} {
		if c, err := ParseCredentials(bad); err == nil && bad != "Digest" {
			t.Errorf("ParseCredentials(%q) = %+v, want an error", bad, c)
		}
	}
}

func TestNonce(t *testing.T) {
	key, now := newNonceKey([]byte("k")), time.Unix(1_900_000_000, 0)
	n := newNonce(key, "example.com", now)
	if _, ok := checkNonce(key, n, "example.com", now.Add(time.Minute), time.Minute); !ok {
		t.Fatal("a nonce at exactly its TTL was refused")
	}
	if _, ok := checkNonce(key, n, "example.com", now.Add(time.Minute+time.Second), time.Minute); ok {
		t.Fatal("an expired nonce was accepted")
	}
	if _, ok := checkNonce(key, n, "example.com", now.Add(-time.Hour), time.Minute); ok {
		t.Fatal("a nonce from the future was accepted")
	}
	tampered := []byte(n)
	tampered[3] ^= 1 // one bit of one character
	if _, ok := checkNonce(key, string(tampered), "example.com", now, time.Minute); ok {
		t.Fatal("a tampered nonce was accepted")
	}
	if _, ok := checkNonce(key, n, "example.org", now, time.Minute); ok {
		t.Fatal("a nonce for another realm was accepted")
	}
	for _, junk := range []string{"", "!!!", n + "AA", strings.Repeat("A", len(n))} {
		if _, ok := checkNonce(key, junk, "example.com", now, time.Minute); ok {
			t.Fatalf("junk nonce %q accepted", junk)
		}
	}
}

// TestReplayCacheBounded checks the table never passes its cap and drops
// expired entries.
func TestReplayCacheBounded(t *testing.T) {
	r, now := newReplayCache(4), time.Unix(0, 0)
	for i := range 10 {
		if !r.accept(fmt.Sprint(i), 1, now.Add(time.Hour), now) {
			t.Fatalf("nonce %d refused", i)
		}
		if r.len() > 4 {
			t.Fatalf("table holds %d, cap 4", r.len())
		}
	}
	if r.accept("9", 1, now.Add(time.Hour), now) {
		t.Fatal("a replay of a recent nonce was accepted")
	}
	r.accept("late", 1, now.Add(2*time.Hour), now.Add(90*time.Minute))
	if r.len() != 1 {
		t.Fatalf("after expiry the table holds %d, want only the new nonce", r.len())
	}
}

func TestFailureTableBounded(t *testing.T) {
	f, now := newFailureTable(3), time.Unix(0, 0)
	for i := range 10 {
		f.fail(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), now, 100, time.Hour, time.Hour)
	}
	failures, _, _, tracked := f.stats(now)
	if tracked != 3 || failures != 10 {
		t.Fatalf("tracked %d sources (cap 3), %d failures (want 10)", tracked, failures)
	}
	if _, ok := f.m[netip.AddrFrom4([4]byte{10, 0, 0, 0})]; ok {
		t.Fatal("the oldest source was not evicted")
	}
	// An invalid address is counted but never tracked.
	f.fail(netip.Addr{}, now, 1, time.Hour, time.Hour)
	if f.blocked(netip.Addr{}, now) {
		t.Fatal("the invalid address was blocked")
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add(`Digest username="Mufasa", realm="r", nonce="n", uri="/", response="x", qop=auth, nc=00000001, cnonce="c"`)
	f.Add(`Digest a="\"", b=c`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCredentials(s)
		if err == nil {
			validate(c)
		}
	})
}
