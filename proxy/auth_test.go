package proxy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/subscriber"
)

// authFixture is a proxy that demands credentials, with alice, bob and carol as
// subscribers of example.com (password "secret").
func authFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixture(t, authConfig(t))
}

// authConfig is authFixture's configuration.
func authConfig(t *testing.T) Config {
	t.Helper()
	users := subscriber.NewMemory()
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := users.Put(context.Background(), subscriber.New(u, "example.com", "secret")); err != nil {
			t.Fatal(err)
		}
	}
	cfg := defaultConfig()
	cfg.Auth = auth.NewAuthenticator(users, []byte("0123456789abcdef0123456789abcdef"))
	cfg.Auth.Algorithms = []string{auth.SHA256, auth.MD5} // credentials answers SHA-256
	cfg.AuthPolicy = auth.Policies{Default: auth.Policy{AllowUnauthenticatedToLocal: true}}
	cfg.Users = users
	return cfg
}

var nonceRE = regexp.MustCompile(`nonce="([^"]+)"`)

// credentials answers the SHA-256 challenge of resp as user would.
func credentials(t *testing.T, resp *sip.Message, header, user, method, uri string) string {
	t.Helper()
	m := nonceRE.FindStringSubmatch(resp.Header(header))
	if m == nil {
		t.Fatalf("no nonce in %s: %q", header, resp.Header(header))
	}
	ha1 := subscriber.HA1("SHA-256", user, "example.com", "secret")
	r := auth.Response("SHA-256", ha1, method, uri, m[1], "00000001", "c0ffee", "auth")
	return fmt.Sprintf(`Digest username="%s", realm="example.com", nonce="%s", uri="%s", response="%s", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c0ffee"`,
		user, m[1], uri, r)
}

func TestAuthStage(t *testing.T) {
	t.Run("REGISTER is challenged with 401, then accepted", func(t *testing.T) {
		f := authFixture(t)
		tx := f.serve(req(t, "register.sip"))
		resps := tx.responses()
		if len(resps) != 1 || status(resps[0]) != "401 Unauthorized" {
			t.Fatalf("upstream = %q, want [401 Unauthorized]", tx.statuses())
		}
		cred := credentials(t, resps[0], "WWW-Authenticate", "carol", "REGISTER", "sip:example.com")
		tx = f.serve(req(t, "register.sip", "+Authorization: "+cred))
		if got := tx.statuses(); len(got) != 1 || got[0] != "200 OK" {
			t.Fatalf("with credentials: upstream = %q, want [200 OK]", got)
		}
	})
	t.Run("INVITE is challenged with 407, then forwarded without our credentials", func(t *testing.T) {
		f := authFixture(t)
		f.bind("sip:bob@example.com", location.Binding{Contact: phoneContact(0), Source: ap(phoneAddr(0))})
		tx := f.serve(req(t, "invite.sip"))
		resps := tx.responses()
		if len(resps) != 1 || status(resps[0]) != "407 Proxy Authentication Required" {
			t.Fatalf("upstream = %q, want [407 Proxy Authentication Required]", tx.statuses())
		}
		cred := credentials(t, resps[0], "Proxy-Authenticate", "alice", "INVITE", "sip:bob@example.com")
		f.serve(req(t, "invite.sip", "+Proxy-Authorization: "+cred, "CSeq: 2 INVITE"))
		sent := f.txs.all("INVITE")
		if len(sent) != 1 {
			t.Fatalf("%d INVITEs forwarded, want 1", len(sent))
		}
		if sent[0].req.HasHeader("Proxy-Authorization") {
			t.Errorf("our realm's Proxy-Authorization was forwarded")
		}
	})
	t.Run("a subscriber may not call as another", func(t *testing.T) {
		f := authFixture(t)
		tx := f.serve(req(t, "invite.sip"))
		cred := credentials(t, tx.responses()[0], "Proxy-Authenticate", "bob", "INVITE", "sip:bob@example.com")
		tx = f.serve(req(t, "invite.sip", "+Proxy-Authorization: "+cred, "CSeq: 2 INVITE"))
		if got := tx.statuses(); len(got) != 1 || got[0] != "403 Identity Mismatch" {
			t.Errorf("upstream = %q, want [403 Identity Mismatch]", got)
		}
	})
	t.Run("a call from another provider to our user needs no credentials", func(t *testing.T) {
		f := authFixture(t)
		f.bind("sip:bob@example.com", location.Binding{Contact: phoneContact(0), Source: ap(phoneAddr(0))})
		f.serve(req(t, "invite.sip", "From: Carol <sip:carol@other.net>;tag=c1"))
		if n := len(f.txs.all("INVITE")); n != 1 {
			t.Errorf("%d INVITEs forwarded, want 1", n)
		}
	})
	t.Run("relaying for another domain is refused", func(t *testing.T) {
		f := authFixture(t)
		tx := f.serve(req(t, "invite.sip", "From: Carol <sip:carol@other.net>;tag=c1", "RURI sip:dave@elsewhere.org"))
		if got := tx.statuses(); len(got) != 1 || got[0] != "403 Relaying Denied" {
			t.Errorf("upstream = %q, want [403 Relaying Denied]", got)
		}
	})
	t.Run("a known subscriber with no phone gets 480, an unknown user 404", func(t *testing.T) {
		f := authFixture(t)
		tx := f.serve(req(t, "invite.sip"))
		cred := credentials(t, tx.responses()[0], "Proxy-Authenticate", "alice", "INVITE", "sip:bob@example.com")
		tx = f.serve(req(t, "invite.sip", "+Proxy-Authorization: "+cred, "CSeq: 2 INVITE"))
		if got := tx.statuses(); len(got) != 1 || got[0] != "480 Temporarily Unavailable" {
			t.Errorf("bob unregistered: upstream = %q, want [480 Temporarily Unavailable]", got)
		}
		tx = f.serve(req(t, "invite.sip", "From: Carol <sip:carol@other.net>;tag=c1", "RURI sip:nobody@example.com"))
		if got := tx.statuses(); len(got) != 1 || got[0] != "404 Not Found" {
			t.Errorf("unknown user: upstream = %q, want [404 Not Found]", got)
		}
	})
	t.Run("an unauthenticated caller cannot tell subscribers from strangers", func(t *testing.T) {
		f := authFixture(t)
		tx := f.serve(req(t, "invite.sip", "From: Carol <sip:carol@other.net>;tag=c1"))
		if got := tx.statuses(); len(got) != 1 || got[0] != "404 Not Found" {
			t.Errorf("bob unregistered, foreign caller: upstream = %q, want [404 Not Found]", got)
		}
	})
	t.Run("a REGISTER to the server for a domain it does not serve names the domain, not relaying", func(t *testing.T) {
		f := authFixture(t)
		tx := f.serve(req(t, "register.sip", "RURI sip:192.0.2.1:5060", "From: <sip:carol@192.0.2.1>;tag=r1", "To: <sip:carol@192.0.2.1>"))
		if got := tx.statuses(); len(got) != 1 || got[0] != "403 Domain Not Served Here" {
			t.Errorf("upstream = %q, want [403 Domain Not Served Here]", got)
		}
	})
	t.Run("methods that need no credentials are not relayed between foreign domains", func(t *testing.T) {
		f := authFixture(t)
		tx := f.serve(req(t, "options.sip", "From: <sip:scan@other.net>;tag=s1", "RURI sip:x@elsewhere.org"))
		if got := tx.statuses(); len(got) != 1 || got[0] != "403 Relaying Denied" {
			t.Errorf("upstream = %q, want [403 Relaying Denied]", got)
		}
	})
}

// TestLocateNoBinding: a transfer to a subscriber with no phone is 480
// (ErrNoBinding), to anyone else 404 (ErrUnknownUser), as for a call;
// without passwords nobody may learn which users exist.
func TestLocateNoBinding(t *testing.T) {
	tests := []struct {
		name   string
		auth   bool
		target string
		want   error
	}{
		{"subscriber, no phone", true, "sip:bob@example.com", ErrNoBinding},
		{"no such user", true, "sip:nobody@example.com", ErrUnknownUser},
		{"passwords off: a subscriber looks like anyone", false, "sip:bob@example.com", ErrUnknownUser},
		{"registered", true, "sip:carol@example.com", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := authConfig(t)
			if !tt.auth {
				cfg.Auth = nil
			}
			f := newFixture(t, cfg)
			f.bind("sip:carol@example.com", location.Binding{Contact: phoneContact(0), Source: ap(phoneAddr(0))})
			u, err := sip.ParseURI(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			targets, err := f.p.Locate(t.Context(), u)
			if !errors.Is(err, tt.want) || tt.want == nil && len(targets) != 1 {
				t.Errorf("Locate(%s) = %v, %v; want %v", tt.target, targets, err, tt.want)
			}
		})
	}
}
