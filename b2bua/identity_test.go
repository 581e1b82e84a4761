package b2bua

import (
	"testing"
)

// TestTrunkIdentity: a trunk account's identity header carries the
// caller's number (or the account's fixed one) at the account's From
// host to the provider, in place of the identity the caller's phone
// sent; without one, or to a destination that is no trunk, the caller's
// P-Asserted-Identity passes as pass_headers says.
func TestTrunkIdentity(t *testing.T) {
	tests := []struct {
		name     string
		trunk    string
		acc      TrunkAccount
		pai, ppi string
	}{
		{"caller's number", "gw1", TrunkAccount{FromHost: "provider.example", IdentityHeader: HeaderPAI},
			`"Alice" <sip:alice@provider.example>`, ""},
		{"fixed number, preferred", "gw1", TrunkAccount{IdentityHeader: HeaderPPI, IdentityUser: "+4930123456"},
			"", `"Alice" <sip:+4930123456@example.com>`},
		{"none asked", "gw1", TrunkAccount{FromHost: "provider.example"}, "<sip:alice@example.com>", ""},
		{"no trunk", "", TrunkAccount{IdentityHeader: HeaderPAI, IdentityUser: "1"}, "<sip:alice@example.com>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := trunkInvite(t, tt.acc, tt.trunk)
			if got := req.HeaderValues(HeaderPAI); len(got) > 1 || req.Header(HeaderPAI) != tt.pai {
				t.Errorf("P-Asserted-Identity %q, want %q", got, tt.pai)
			}
			if got := req.HeaderValues(HeaderPPI); len(got) > 1 || req.Header(HeaderPPI) != tt.ppi {
				t.Errorf("P-Preferred-Identity %q, want %q", got, tt.ppi)
			}
		})
	}
}
