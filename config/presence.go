package config

import (
	"time"
)

// PresenceConfig is the presence server (RFC 3856, RFC 6665): SUBSCRIBE
// and PUBLISH for the users of the served domains.
type PresenceConfig struct {
	// Enabled makes Parley the presence server of its domains: it answers
	// SUBSCRIBE and PUBLISH for their users instead of forwarding them to
	// the phones, which mostly answer 489 or 501.
	Enabled bool `yaml:"enabled" reload:"restart"`
	// MinExpires is the shortest subscription or publication granted;
	// shorter ones are answered 423 Interval Too Brief.
	MinExpires Duration `yaml:"min_expires" reload:"live"`
	// MaxExpires is the longest granted; longer ones are shortened.
	MaxExpires Duration `yaml:"max_expires" reload:"live"`
	// DefaultExpires is granted to a SUBSCRIBE or PUBLISH without Expires
	// (RFC 3856 and RFC 3903 say 3600 s).
	DefaultExpires Duration `yaml:"default_expires" reload:"live"`
	// NotifyThrottle is the least time between two NOTIFYs of one
	// subscription (RFC 6665 §4.1.3): changes in between are sent as one,
	// the latest state winning, so a flapping phone cannot flood its
	// watchers. 0s sends every change.
	NotifyThrottle Duration `yaml:"notify_throttle" reload:"live"`
}

// presence checks the presence block: the lifetimes are whole seconds in
// order, as for the registrar.
func (ch *checker) presence(p PresenceConfig) {
	ok := true
	for _, f := range []struct {
		key string
		d   Duration
	}{{"presence.min_expires", p.MinExpires}, {"presence.default_expires", p.DefaultExpires}, {"presence.max_expires", p.MaxExpires}} {
		switch {
		case f.d <= 0:
			ch.add(f.key, "must be positive, got %s", f.d)
			ok = false
		case f.d%Duration(time.Second) != 0:
			ch.add(f.key, "must be whole seconds, as SIP Expires counts seconds; got %s", f.d)
			ok = false
		}
	}
	if ok {
		switch {
		case p.MinExpires > p.DefaultExpires:
			ch.add("presence.min_expires", "must not exceed presence.default_expires (%s), got %s", p.DefaultExpires, p.MinExpires)
		case p.DefaultExpires > p.MaxExpires:
			ch.add("presence.default_expires", "must not exceed presence.max_expires (%s), got %s", p.MaxExpires, p.DefaultExpires)
		}
	}
	if p.NotifyThrottle < 0 || p.NotifyThrottle > Duration(time.Minute) {
		ch.add("presence.notify_throttle", "must be between 0s and 60s, got %s", p.NotifyThrottle)
	}
}
