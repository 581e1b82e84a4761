package config

import (
	"errors"
	"strings"
	"testing"
)

// TestCallControlErrors checks that each broken b2bua or limits.calls key
// is reported at its file, line and key.
func TestCallControlErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml []byte
		line int
		key  string
		msg  string
	}{
		{"min_se below 90s", lines("b2bua:", "  min_se: 60s"), 2, "b2bua.min_se", "must be at least 90s (RFC 4028 §4), got 60s"},
		{"session_expires below min_se", lines("b2bua:", "  session_expires: 100s", "  min_se: 120s"), 2,
			"b2bua.session_expires", "must be at least b2bua.min_se (120s)"},
		{"min_se above session_expires, when only min_se is set", lines("b2bua:", "  min_se: 3600s"), 2,
			"b2bua.min_se", "must not exceed b2bua.session_expires (1800s)"},
		{"negative session_expires", lines("b2bua:", "  session_expires: -1s"), 2, "b2bua.session_expires", "must not be negative"},
		{"negative max_call_duration", lines("b2bua:", "  max_call_duration: -5m"), 2, "b2bua.max_call_duration", "must not be negative"},
		{"max_call_duration under a second", lines("b2bua:", "  max_call_duration: 10ms"), 2, "b2bua.max_call_duration", "must be at least 1s"},
		{"bare number", lines("b2bua:", "  session_expires: 1800"), 2, "b2bua.session_expires", "must be a duration"},
		{"unknown key", lines("b2bua:", "  session_expire: 1800s"), 2, "b2bua.session_expire", "did you mean session_expires?"},
		{"negative per_user", lines("limits:", "  calls:", "    per_user: -1"), 3, "limits.calls.per_user", "must be at least 0, got -1"},
		{"user that is not an AOR", lines("limits:", "  calls:", "    users:", "      alice: 2"), 4,
			"limits.calls.users.alice", "must be an address of record like alice@example.com"},
		{"negative user override", lines("limits:", "  calls:", "    users:", "      alice@example.com: -2"), 4,
			"limits.calls.users.alice@example.com", "must be at least 0"},
		{"bad domain", lines("limits:", "  calls:", "    domains:", "      'bad domain': 2"), 4,
			"limits.calls.domains.bad domain", "is not a domain name"},
		{"zero retry_after", lines("limits:", "  calls:", "    retry_after: 0s"), 3, "limits.calls.retry_after", "must be positive"},
		{"string for a maximum", lines("limits:", "  calls:", "    trunks: {provider: many}"), 3, "limits.calls.trunks.provider", "must be a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("parley.yaml", tt.yaml)
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("want one error, got %v", err)
			}
			e := errs[0]
			if e.Line != tt.line || e.Key != tt.key || !strings.Contains(e.Error(), tt.msg) || !strings.HasPrefix(e.Error(), "parley.yaml:") {
				t.Fatalf("got %q (line %d, key %q), want line %d key %q containing %q", e.Error(), e.Line, e.Key, tt.line, tt.key, tt.msg)
			}
		})
	}
}

func TestCallControlValid(t *testing.T) {
	c, err := Parse("parley.yaml", lines(
		"b2bua:", "  session_expires: 0s", "  max_call_duration: 4h",
		"limits:", "  calls:", "    per_user: 2", "    users: {boss@example.com: 0}", "    trunks: {provider: 30}"))
	if err != nil {
		t.Fatal(err)
	}
	if c.B2BUA.SessionExpires != 0 || c.B2BUA.MinSE != dur("90s") || c.Limits.Calls.Users["boss@example.com"] != 0 || c.Limits.Calls.PerUser != 2 {
		t.Fatalf("decoded %+v %+v", c.B2BUA, c.Limits.Calls)
	}
}
