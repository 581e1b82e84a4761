package proxy

import (
	"errors"
	"testing"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
)

// TestLocateNoBinding: a transfer target of ours with no phone is told
// apart as a call's is: a subscriber gets ErrNoBinding (480), a user
// nobody added ErrUnknownUser (404). A blind transfer to a mistyped
// extension said 480 Temporarily Unavailable while a call to it said 404.
// Without passwords Parley cannot vouch for who asks (a caller may be
// anyone), so every missing user is ErrUnknownUser, as a call answers an
// unauthenticated caller.
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
