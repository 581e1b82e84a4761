package server

import (
	"slices"
	"testing"

	"github.com/parley-sip/parley/config"
)

// TestAuthOverridesReachThePolicy: a domain's auth_overrides replace only
// the keys they set, and other domains keep the auth block's policy.
func TestAuthOverridesReachThePolicy(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte("auth:\n  methods: [REGISTER, INVITE]\n  allow_unauthenticated_to_local: true\n"+
		"auth_overrides:\n  example.org:\n    allow_unauthenticated_to_local: false\n  example.net:\n    methods: [REGISTER]\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, pol, err := authenticator(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		domain  string
		methods []string
		allow   bool
	}{
		{"example.com", []string{"REGISTER", "INVITE"}, true},
		{"example.org", []string{"REGISTER", "INVITE"}, false},
		{"EXAMPLE.NET", []string{"REGISTER"}, true},
	}
	for _, tc := range tests {
		p := pol.For(tc.domain)
		if !slices.Equal(p.Methods, tc.methods) || p.AllowUnauthenticatedToLocal != tc.allow {
			t.Errorf("%s: policy %+v, want methods %v allow %v", tc.domain, p, tc.methods, tc.allow)
		}
	}
}
