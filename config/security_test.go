package config

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// TestSecurityErrors checks the security block's rules and the stream
// timeouts, each at the line and key the operator must change.
func TestSecurityErrors(t *testing.T) {
	tests := []struct {
		name string
		src  []byte
		line int
		key  string
		msg  string
	}{
		{"negative rate", lines("security:", "  rate: -1"), 2, "security.rate", "must be at least 0, got -1"},
		{"zero burst", lines("security:", "  burst: 0"), 2, "security.burst", "must be at least 1, got 0"},
		{"negative ban_after", lines("security:", "  ban_after: -1s"), 2, "security.ban_after", "must not be negative"},
		{"negative ban_for", lines("security:", "  ban_for: -5m"), 2, "security.ban_for", "must not be negative"},
		{"zero max_sources", lines("security:", "  max_sources: 0"), 2, "security.max_sources", "must be at least 1, got 0"},
		{"bad network", lines("security:", "  trusted: [192.0.2.0/24, 10.0.0.0/33]"), 2, "security.trusted[1]", `must be a network like 192.0.2.0/24`},
		{"host name as network", lines("security:", "  trusted: [gw.example.com]"), 2, "security.trusted[0]", `got "gw.example.com"`},
		{"skip auth without networks", lines("security:", "  trusted_skip_auth: true"), 2, "security.trusted_skip_auth", "has no effect without security.trusted"},
		{"short agent pattern", lines("security:", "  drop_user_agents: [friendly-scanner, sip]"), 2, "security.drop_user_agents[1]", `at least 4 characters, or it would match real phones; got "sip"`},
		{"bare number ban", lines("security:", "  ban_for: 600"), 2, "security.ban_for", "must be a duration"},
		{"zero message timeout", lines("tcp:", "  message_timeout: 0s"), 2, "tcp.message_timeout", "must be positive"},
		{"zero handshake timeout", lines("tls:", "  handshake_timeout: 0s"), 2, "tls.handshake_timeout", "must be positive"},
		{"unknown security key", lines("security:", "  rate_limit: 5"), 2, "security.rate_limit", "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", tt.src)
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("got %v, want one error", err)
			}
			e := errs[0]
			if e.Line != tt.line || e.Key != tt.key || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got  %q\nwant line %d, key %s, ...%q...", e.Error(), tt.line, tt.key, tt.msg)
			}
		})
	}
}

// TestSecurityAccepted lists configurations that must pass: limits off
// (where the burst no longer matters), no bans, an empty scanner list,
// trusted networks with and without auth.
func TestSecurityAccepted(t *testing.T) {
	for _, src := range [][]byte{
		lines("security:", "  rate: 0", "  burst: 0"),
		lines("security:", "  ban_for: 0s", "  ban_after: 0s"),
		lines("security:", "  drop_user_agents: []"),
		lines("security:", "  trusted: [10.0.0.0/8, '::1', 192.0.2.7]", "  trusted_skip_auth: true"),
	} {
		if _, err := Parse("t.yaml", src); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

func TestTrustedPrefixes(t *testing.T) {
	s := SecurityConfig{Trusted: []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1", "bogus"}}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("::1/128"),
	}
	if got := s.TrustedPrefixes(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
