package b2bua

import (
	"context"
	"strings"
	"testing"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/subscriber"
)

const trunkChallenge = `Digest realm="provider.example", nonce="n-1", algorithm=MD5`

// TestTrunkChallenge: a trunk's 401 or 407 to the B leg's INVITE is
// answered once with the trunk's credentials in a new INVITE of the same
// dialog with the next CSeq; a second challenge, or one without
// credentials to answer it, reaches the caller as 403, and the
// provider's own 403 passes as it is.
func TestTrunkChallenge(t *testing.T) {
	tests := []struct {
		name     string
		creds    bool
		answers  []int
		invites  int
		final    int
		reason   string
		authName string
	}{
		{"407 answered", true, []int{407, 200}, 2, 200, "", "Proxy-Authorization"},
		{"401 answered", true, []int{401, 200}, 2, 200, "", "Authorization"},
		{"second challenge", true, []int{407, 407}, 2, 403, "Trunk Refused Credentials", "Proxy-Authorization"},
		{"403 after the answer", true, []int{407, 403}, 2, 403, "", "Proxy-Authorization"},
		{"no credentials", false, []int{407}, 1, 403, "Trunk Needs Credentials", ""},
		{"busy after the answer", true, []int{401, 486}, 2, 486, "", "Authorization"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) {
				c.Trunks = func(name string) (TrunkAccount, bool) {
					if name != "gw1" || !tt.creds {
						return TrunkAccount{}, false
					}
					return TrunkAccount{Username: "4930123456", Password: "secret"}, true
				}
			})
			plan := Plan{Route: "out", Trunk: "gw1", DialledUser: "4930999", Destinations: []Destination{{URI: "sip:4930999@203.0.113.1", Trunk: "gw1"}}}
			aTx := &serverTx{}
			f.b.takeCall(t.Context(), aTx, aIncoming(t), plan, []target{{uri: plan.Destinations[0].URI, trunk: "gw1"}})
			for i, code := range tt.answers {
				invs := f.txs.all("INVITE")
				if len(invs) != i+1 {
					t.Fatalf("after %d answers, %d INVITEs", i, len(invs))
				}
				var extra []string
				switch code {
				case 401:
					extra = []string{"WWW-Authenticate", trunkChallenge}
				case 407:
					extra = []string{"Proxy-Authenticate", trunkChallenge}
				}
				invs[i].answer(code, "gw", extra...)
			}
			invs := f.txs.all("INVITE")
			if len(invs) != tt.invites {
				t.Fatalf("%d INVITEs, want %d", len(invs), tt.invites)
			}
			if last := aTx.last(); last == nil || last.StatusCode() != tt.final || tt.reason != "" && last.Reason() != tt.reason {
				t.Fatalf("alice got %v (%q), want %d %q", aTx.codes(), aTx.last().Reason(), tt.final, tt.reason)
			}
			if tt.final >= 300 && (len(f.records) != 1 || f.records[0].Trunk != "gw1" || f.records[0].Route != "out" || f.records[0].Status != tt.final) {
				t.Errorf("records %+v, want one naming trunk gw1 and route out", f.records)
			}
			if tt.invites < 2 {
				return
			}
			checkRetry(t, invs[0].req, invs[1].req, tt.authName)
		})
	}
}

// checkRetry checks that retry is first's INVITE again with the next
// CSeq and a right answer to trunkChallenge in header name.
func checkRetry(t *testing.T, first, retry interface {
	Header(string) string
}, name string) {
	t.Helper()
	for _, h := range []string{"Call-ID", "From", "To"} {
		if first.Header(h) != retry.Header(h) {
			t.Errorf("%s changed: %q, then %q", h, first.Header(h), retry.Header(h))
		}
	}
	if !strings.HasPrefix(retry.Header("CSeq"), "2 ") || !strings.HasPrefix(first.Header("CSeq"), "1 ") {
		t.Errorf("CSeq %q then %q, want 1 then 2", first.Header("CSeq"), retry.Header("CSeq"))
	}
	ha1 := subscriber.HA1(auth.MD5, "4930123456", "provider.example", "secret")
	want := `response="` + auth.Response(auth.MD5, ha1, "INVITE", "sip:4930999@203.0.113.1", "n-1", "", "", "") + `"`
	got := retry.Header(name)
	if !strings.Contains(got, want) || !strings.Contains(got, `username="4930123456"`) {
		t.Errorf("%s %q, want the answer %s", name, got, want)
	}
}

// TestTrunkFrom: a trunk account's from_user and from_host replace the
// caller's in the B leg's From, keeping its display name; a destination
// that is no trunk keeps the caller's.
func TestTrunkFrom(t *testing.T) {
	tests := []struct {
		name  string
		trunk string
		acc   TrunkAccount
		want  string
	}{
		{"account", "gw1", TrunkAccount{FromUser: "4930123456", FromHost: "provider.example"}, `"Alice" <sip:4930123456@provider.example>`},
		{"user only", "gw1", TrunkAccount{FromUser: "+4930123456"}, `"Alice" <sip:+4930123456@example.com>`},
		{"not set", "gw1", TrunkAccount{}, `"Alice" <sip:alice@example.com>`},
		{"no trunk", "", TrunkAccount{FromUser: "x"}, `"Alice" <sip:alice@example.com>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := trunkInvite(t, tt.acc, tt.trunk).Header("From")
			if got, _, _ := strings.Cut(from, ";tag="); got != tt.want {
				t.Errorf("From %q, want %q", from, tt.want)
			}
		})
	}
}

// trunkInvite is the B leg's INVITE of alice's call to a number through
// trunk ("" for a destination that is no trunk) with account acc.
func trunkInvite(t *testing.T, acc TrunkAccount, trunk string) *sip.Message {
	t.Helper()
	f := newFixture(t, func(c *Config) {
		c.Trunks = func(string) (TrunkAccount, bool) { return acc, true }
	})
	f.b.takeCall(t.Context(), &serverTx{}, aIncoming(t), Plan{}, []target{{uri: "sip:4930999@203.0.113.1", trunk: trunk}})
	invs := f.txs.all("INVITE")
	if len(invs) != 1 {
		t.Fatalf("%d INVITEs", len(invs))
	}
	return invs[0].req
}

// TestInboundTrunkKept: a trunk's call to a local phone (Config.Inbound
// gave its plan the trunk) keeps the trunk in its record, and its B leg
// is no trunk's: the caller's From, and a phone's challenge is not
// answered with the trunk's credentials.
func TestInboundTrunkKept(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Trunks = func(string) (TrunkAccount, bool) {
			return TrunkAccount{Username: "u", Password: "p", FromUser: "acct"}, true
		}
	})
	aTx := &serverTx{}
	f.b.takeCall(t.Context(), aTx, aIncoming(t), Plan{Trunk: "provider"}, []target{{uri: "sip:bob@203.0.113.9"}})
	inv := f.txs.all("INVITE")[0]
	if !strings.Contains(inv.req.Header("From"), "sip:alice@example.com") {
		t.Errorf("From %q, want the caller's", inv.req.Header("From"))
	}
	inv.answer(407, "bob", "Proxy-Authenticate", trunkChallenge)
	if n := len(f.txs.all("INVITE")); n != 1 || aTx.last().StatusCode() != 407 {
		t.Fatalf("%d INVITEs, alice got %v: a phone's challenge was answered", n, aTx.codes())
	}
	if len(f.records) != 1 || f.records[0].Trunk != "provider" {
		t.Errorf("records %+v, want trunk provider", f.records)
	}
}

// BenchmarkTrunkCall is BenchmarkCall to a trunk that challenges the
// INVITE with 407: the challenge parsed, answered (MD5) and the INVITE
// sent again, then 180, 200, ACK and BYE. Beside BenchmarkCall it is
// the price of the challenge.
func BenchmarkTrunkCall(b *testing.B) {
	t := &testing.T{}
	f := newFixture(t, func(c *Config) {
		c.Trunks = func(string) (TrunkAccount, bool) {
			return TrunkAccount{Username: "4930123456", Password: "secret", FromUser: "4930123456"}, true
		}
	})
	f.b.cfg.Record = nil
	f.b.cfg.OnEnd = nil
	ts := []target{{uri: "sip:4930999@203.0.113.1:5060", trunk: "gw1"}}
	b.ReportAllocs()
	for b.Loop() {
		f.txs.txs = f.txs.txs[:0]
		aTx := &serverTx{}
		f.b.takeCall(context.Background(), aTx, aIncoming(t), Plan{Trunk: "gw1"}, ts)
		f.txs.txs[0].answer(407, "gw", "Proxy-Authenticate", trunkChallenge)
		inv := f.txs.txs[1]
		inv.answer(180, "gw-1")
		inv.answer(200, "gw-1")
		f.deliver(aRequest(t, aTx, "ACK", 10))
		f.deliver(bRequest(t, inv.req, "gw-1", "BYE", 1))
	}
	if f.b.Len() != 0 {
		b.Fatalf("%d calls left", f.b.Len())
	}
}
