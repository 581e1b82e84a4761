package proxy

import (
	"context"
	"net/netip"
	"testing"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/transport"
)

// TestAddressedToTheServer: a Request-URI naming one of the server's own
// addresses or names (a listen address, localhost on a loopback listener,
// a configured alias) is addressed to the server, as desk phones that take
// an IP as "registrar" send it: REGISTER registers the To's address of
// record, OPTIONS is answered. Requests the server answers itself refuse
// a Require it does not support with 420 (§8.2.2.3); one it forwards keeps
// its Require for the UAS.
func TestAddressedToTheServer(t *testing.T) {
	registered := map[string][]string{"Contact": {"<sip:carol@198.51.100.7:5060>;expires=3600"}}
	options := map[string][]string{"Allow": {allowed}, "Supported": {"path, outbound, gruu"}}
	tests := []struct {
		name     string
		loopback bool // the server listens on 127.0.0.1 instead of 192.0.2.1
		file     string
		edits    []string
		code     int
		reason   string
		extra    map[string][]string
		aor      string // with a 200 to REGISTER: the AOR that now has a binding
	}{
		{name: "REGISTER to the listen address", file: "register.sip", edits: []string{"RURI sip:192.0.2.1"},
			code: 200, reason: "OK", extra: registered, aor: "sip:carol@example.com"},
		{name: "REGISTER to the listen address and port", file: "register.sip", edits: []string{"RURI sip:192.0.2.1:5060"},
			code: 200, reason: "OK", extra: registered, aor: "sip:carol@example.com"},
		{name: "REGISTER to localhost", loopback: true, file: "register.sip", edits: []string{"RURI sip:localhost"},
			code: 200, reason: "OK", extra: registered, aor: "sip:carol@example.com"},
		{name: "REGISTER to an alias", file: "register.sip", edits: []string{"RURI sip:PBX.example.net"},
			code: 200, reason: "OK", extra: registered, aor: "sip:carol@example.com"},
		{name: "REGISTER to the listen address for a foreign AOR", file: "register.sip",
			edits: []string{"RURI sip:192.0.2.1", "To: <sip:carol@example.org>", "From: <sip:carol@example.org>;tag=r1"},
			code:  403, reason: "Domain Not Served Here"},
		{name: "OPTIONS to localhost", loopback: true, file: "options.sip", edits: []string{"RURI sip:localhost", "To: <sip:localhost>"},
			code: 200, reason: "OK", extra: options},
		{name: "OPTIONS to an alias", file: "options.sip", edits: []string{"RURI sip:pbx.example.net", "To: <sip:pbx.example.net>"},
			code: 200, reason: "OK", extra: options},

		{name: "OPTIONS requiring an unknown extension", file: "options.sip", edits: []string{"Require: foo"},
			code: 420, reason: "Bad Extension", extra: map[string][]string{"Unsupported": {"foo"}}},
		{name: "OPTIONS requiring path", file: "options.sip", edits: []string{"Require: path"},
			code: 200, reason: "OK", extra: options},
		{name: "OPTIONS with Max-Forwards 0 requiring an unknown extension", file: "options.sip",
			edits: []string{"Max-Forwards: 0", "Require: 100rel, foo"},
			code:  420, reason: "Bad Extension", extra: map[string][]string{"Unsupported": {"100rel, foo"}}},
		{name: "REGISTER requiring an unknown extension", file: "register.sip", edits: []string{"Require: foo, path", "+Require: bar"},
			code: 420, reason: "Bad Extension", extra: map[string][]string{"Unsupported": {"foo, bar"}}},
		{name: "REGISTER requiring path", file: "register.sip", edits: []string{"Require: path", "Path: <sip:edge.example.com;lr>"},
			code: 200, reason: "OK", extra: map[string][]string{"Contact": registered["Contact"], "Require": nil}, aor: "sip:carol@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Names = func(host string) bool { return host == "pbx.example.net" || host == "PBX.example.net" }
			f := newFixture(t, cfg)
			if tt.loopback {
				lo := &transport.ListenerInfo{Proto: transport.UDP, Bound: ap("127.0.0.1:5060"), Host: "127.0.0.1", Port: 5060}
				f.tp.listeners = []*transport.ListenerInfo{lo}
			}
			answeredLocally(t, f, req(t, tt.file, tt.edits...), tt.code, tt.reason, tt.extra)
			if tt.aor != "" {
				bs, err := f.store.Lookup(context.Background(), tt.aor, t0)
				if err != nil || len(bs) != 1 {
					t.Errorf("bindings of %s = %v, %v; want one", tt.aor, bs, err)
				}
			}
		})
	}
}

// TestRequireIsForwarded: Require is for the UAS; a proxy neither checks
// nor changes it (§16.3), unlike Proxy-Require.
func TestRequireIsForwarded(t *testing.T) {
	f := newFixture(t, defaultConfig())
	f.bind("sip:bob@example.com", bobBinding())
	tx := f.serve(req(t, "invite.sip", "+Require: 100rel, foo"))
	if got := tx.statuses(); len(got) != 0 {
		t.Fatalf("answered %q, want the INVITE forwarded", got)
	}
	c := onlyBranch(t, f)
	checkHeaders(t, "forwarded INVITE", c.req, map[string][]string{"Require": {"100rel, foo"}})
}

func bobBinding() (b location.Binding) {
	b.Contact, b.Source = "sip:bob@10.0.0.5:5062", netip.MustParseAddrPort("198.51.100.20:40000")
	return b
}

// TestUserAtServerAddress: a phone whose registrar is configured as an IP
// dials `sip:bob@<that IP>`; the call finds bob in the caller's domain
// instead of looping back to Parley. A caller of a foreign domain gets no
// such mapping, and a 404 rather than a loop.
func TestUserAtServerAddress(t *testing.T) {
	tests := []struct {
		name, ruri, from string
		forwarded        bool
	}{
		{"listen address", "sip:bob@192.0.2.1", "Alice <sip:alice@example.com>;tag=a1", true},
		{"listen address and port", "sip:bob@192.0.2.1:5060", "Alice <sip:alice@example.com>;tag=a1", true},
		{"alias", "sip:bob@pbx.example.net", "Alice <sip:alice@example.com>;tag=a1", true},
		{"foreign caller", "sip:bob@192.0.2.1", "Mallory <sip:mallory@evil.example>;tag=m1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Names = func(host string) bool { return host == "pbx.example.net" }
			f := newFixture(t, cfg)
			f.bind("sip:bob@example.com", bobBinding())
			tx := f.serve(req(t, "invite.sip", "RURI "+tt.ruri, "From: "+tt.from))
			if !tt.forwarded {
				if got := tx.statuses(); len(got) != 1 || got[0] != "404 Not Found" {
					t.Fatalf("answered %v, want 404", got)
				}
				return
			}
			if got := tx.statuses(); len(got) != 0 {
				t.Fatalf("answered %q, want the INVITE forwarded to bob's phone", got)
			}
			c := onlyBranch(t, f)
			if got := c.req.RequestURI(); got != "sip:bob@10.0.0.5:5062" {
				t.Errorf("forwarded to %q, want bob's contact", got)
			}
		})
	}
}
