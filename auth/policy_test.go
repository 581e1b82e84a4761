package auth_test

import (
	"testing"

	"github.com/parley-sip/parley/auth"
)

func TestPolicyRequires(t *testing.T) {
	open := auth.Policy{AllowUnauthenticatedToLocal: true}
	only := auth.Policy{Methods: []string{"REGISTER"}}
	none := auth.Policy{Methods: []string{}}
	tests := []struct {
		name           string
		p              auth.Policy
		method         string
		fromUs, toUs   bool
		need, proxyAut bool
	}{
		{"register", auth.Policy{}, "REGISTER", true, true, true, false},
		{"register from outside", open, "REGISTER", false, true, true, false},
		{"invite from us", auth.Policy{}, "INVITE", true, false, true, true},
		{"invite in", auth.Policy{}, "INVITE", false, true, true, true},
		{"invite in, allowed", open, "INVITE", false, true, false, false},
		{"message in, allowed", open, "MESSAGE", false, true, false, false},
		{"invite from us to us, allowed", open, "INVITE", true, true, true, true},
		{"relay attempt", open, "INVITE", false, false, true, true},
		{"ack", auth.Policy{}, "ACK", true, true, false, false},
		{"cancel", auth.Policy{}, "CANCEL", true, false, false, false},
		{"ack listed", auth.Policy{Methods: []string{"ACK", "CANCEL"}}, "ACK", true, false, false, false},
		{"options not by default", auth.Policy{}, "OPTIONS", true, false, false, false},
		{"only register: invite", only, "INVITE", true, false, false, false},
		{"only register: register", only, "REGISTER", true, true, true, false},
		{"none", none, "REGISTER", true, true, false, false},
		{"methods are case-sensitive", auth.Policy{}, "invite", true, false, false, false},
	}
	for _, tc := range tests {
		need, proxy := tc.p.Requires(tc.method, tc.fromUs, tc.toUs)
		if need != tc.need || proxy != tc.proxyAut {
			t.Errorf("%s: Requires = %v, %v; want %v, %v", tc.name, need, proxy, tc.need, tc.proxyAut)
		}
	}
}

func TestPoliciesFor(t *testing.T) {
	ps := auth.Policies{
		Default: auth.Policy{},
		Domains: map[string]auth.Policy{"Example.com": {AllowUnauthenticatedToLocal: true}},
	}
	if !ps.For("example.COM").AllowUnauthenticatedToLocal {
		t.Error("domain override not found case-insensitively")
	}
	if ps.For("example.org").AllowUnauthenticatedToLocal {
		t.Error("another domain got the override")
	}
}
