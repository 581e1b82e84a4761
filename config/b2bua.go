package config

import (
	"sort"
	"strings"
	"time"
)

// CallLimitsConfig bounds concurrent calls through the B2BUA. A maximum
// of 0 is no limit; the maps override the defaults by name.
type CallLimitsConfig struct {
	// PerUser bounds the calls one user (address of record) is in, as
	// caller or callee; over it a call gets 486.
	PerUser int `yaml:"per_user" reload:"live"`
	// PerDomain bounds the calls of one domain's users; over it 503.
	PerDomain int `yaml:"per_domain" reload:"live"`
	// PerTrunk bounds the calls on one trunk; over it 503.
	PerTrunk int `yaml:"per_trunk" reload:"live"`
	// Users overrides PerUser by address of record (user@domain).
	Users map[string]int `yaml:"users" reload:"live"`
	// Domains overrides PerDomain by domain.
	Domains map[string]int `yaml:"domains" reload:"live"`
	// Trunks overrides PerTrunk by trunk name.
	Trunks map[string]int `yaml:"trunks" reload:"live"`
	// RetryAfter is the Retry-After of a 503 for a full domain or trunk.
	RetryAfter Duration `yaml:"retry_after" reload:"live"`
}

// minSessionExpires is RFC 4028 §4's floor for Min-SE and Session-Expires.
const minSessionExpires = Duration(90 * time.Second)

// sessionTimers checks the call control keys of the b2bua block.
func (ch *checker) sessionTimers(b B2BUAConfig) {
	if b.MinSE < minSessionExpires {
		ch.add("b2bua.min_se", "must be at least 90s (RFC 4028 §4), got %s", b.MinSE)
	}
	switch {
	case b.SessionExpires < 0:
		ch.add("b2bua.session_expires", "must not be negative (0 turns session timers off), got %s", b.SessionExpires)
	case b.SessionExpires > 0 && b.SessionExpires < b.MinSE && b.MinSE >= minSessionExpires:
		ch.either(
			alt{"b2bua.session_expires", "must be at least b2bua.min_se (" + b.MinSE.String() + "), or 0 to turn session timers off, got " + b.SessionExpires.String()},
			alt{"b2bua.min_se", "must not exceed b2bua.session_expires (" + b.SessionExpires.String() + "), got " + b.MinSE.String()},
		)
	}
	notNegative(ch, "b2bua.max_call_duration", b.MaxCallDuration)
	if b.MaxCallDuration > 0 && b.MaxCallDuration < Duration(time.Second) {
		ch.add("b2bua.max_call_duration", "must be at least 1s, or 0 for no limit, got %s", b.MaxCallDuration)
	}
}

// callLimits checks limits.calls.
func (ch *checker) callLimits(c CallLimitsConfig) {
	atLeast(ch, "limits.calls.per_user", c.PerUser, 0)
	atLeast(ch, "limits.calls.per_domain", c.PerDomain, 0)
	atLeast(ch, "limits.calls.per_trunk", c.PerTrunk, 0)
	positive(ch, "limits.calls.retry_after", c.RetryAfter)
	for _, name := range sortedKeys(c.Users) {
		key := "limits.calls.users." + name
		user, dom, ok := strings.Cut(name, "@")
		if !ok || user == "" || !validDomain(dom) {
			ch.add(key, "must be an address of record like alice@example.com, got %q", name)
		}
		atLeast(ch, key, c.Users[name], 0)
	}
	for _, name := range sortedKeys(c.Domains) {
		key := "limits.calls.domains." + name
		if !validDomain(name) {
			ch.add(key, "%q is not a domain name or IP address", name)
		}
		atLeast(ch, key, c.Domains[name], 0)
	}
	for _, name := range sortedKeys(c.Trunks) {
		key := "limits.calls.trunks." + name
		if strings.TrimSpace(name) == "" {
			ch.add(key, "must name a trunk")
		}
		atLeast(ch, key, c.Trunks[name], 0)
	}
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
