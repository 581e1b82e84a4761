package proxy

import (
	"net/netip"
	"testing"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// TestVouched: a request's From is believed when the auth stage checked
// it, when passwords are off, or when it comes from a gateway or a
// trusted network; a stranger let in unchallenged is not vouched for.
// Someone answers for the sender (Accountable) only in the last two
// cases: passwords off do not make a stranger one of the office's.
func TestVouched(t *testing.T) {
	tests := []struct {
		name          string
		auth          bool
		authenticated bool
		trusted       bool // security.trusted with trusted_skip_auth
		relayTrusted  bool // a gateway, or security.trusted alone
		want          bool
		accountable   bool
	}{
		{name: "passwords off", want: true},
		{name: "passwords off, a trusted network or gateway", relayTrusted: true, want: true, accountable: true},
		{name: "passwords on, a stranger", auth: true},
		{name: "passwords on, credentials checked", auth: true, authenticated: true, want: true, accountable: true},
		{name: "passwords on, trusted and not challenged", auth: true, trusted: true, want: true, accountable: true},
		{name: "passwords on, a gateway", auth: true, relayTrusted: true, want: true, accountable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			if tt.auth {
				cfg = authConfig(t)
			}
			cfg.Trusted = func(netip.Addr) bool { return tt.trusted }
			cfg.RelayTrusted = func(netip.Addr) bool { return tt.relayTrusted }
			f := newFixture(t, cfg)
			msg, err := sip.Parse([]byte(load(t, "invite.sip", "From: <sip:mallory@evil.example>;tag=m1")))
			if err != nil {
				t.Fatal(err)
			}
			in := &transport.Incoming{Msg: msg, Proto: transport.UDP, Source: uacAddr}
			r := f.p.newRequest(nil, in, false)
			r.authenticated = tt.authenticated
			if got := r.Vouched(); got != tt.want {
				t.Fatalf("Vouched() = %v, want %v", got, tt.want)
			}
			if got := r.Accountable(); got != tt.accountable {
				t.Fatalf("Accountable() = %v, want %v", got, tt.accountable)
			}
		})
	}
}
