package proxy

import (
	"net/netip"
	"testing"

	"github.com/parley-sip/parley/location"
)

// TestAuthSkippedForTrusted: with Trusted set, a trusted source's
// REGISTER and INVITE need no credentials; others are still challenged.
func TestAuthSkippedForTrusted(t *testing.T) {
	f := authFixture(t)
	c := *f.p.config()
	c.Trusted = func(src netip.Addr) bool { return src == uacAddr.Addr() }
	f.p.Reconfigure(c)
	if got := f.serve(req(t, "register.sip")).statuses(); len(got) != 1 || got[0] != "200 OK" {
		t.Errorf("trusted REGISTER: %q, want [200 OK]", got)
	}
	f.bind("sip:bob@example.com", location.Binding{Contact: phoneContact(0), Source: ap(phoneAddr(0))})
	f.serve(req(t, "invite.sip"))
	if n := len(f.txs.all("INVITE")); n != 1 {
		t.Errorf("trusted INVITE: %d forwarded, want 1", n)
	}
	in := incoming(req(t, "register.sip"))
	in.Source = netip.MustParseAddrPort("203.0.113.9:5060")
	if got := f.serveIn(in).statuses(); len(got) != 1 || got[0] != "401 Unauthorized" {
		t.Errorf("untrusted REGISTER: %q, want [401 Unauthorized]", got)
	}
}
