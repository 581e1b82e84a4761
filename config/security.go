package config

import (
	"net/netip"
	"strconv"
	"strings"
)

// SecurityConfig is the per-source defence against floods and scanners:
// every public SIP server is scanned within hours and flooded now and
// then, and these limits keep one address from taking it for itself.
type SecurityConfig struct {
	// Rate is the messages (datagrams, stream messages, new connections)
	// per second one source address (an IPv6 /64) may send on average,
	// checked before any parsing; 0 turns rate limiting and bans off.
	Rate int `yaml:"rate" reload:"live"`
	// Burst is how many messages a source may send at once on top of
	// Rate: phones re-register and re-subscribe in bursts after a reboot.
	Burst int `yaml:"burst" reload:"live"`
	// BanAfter is how long a source may stay over its rate before it is
	// banned: a phone's burst passes, a flood does not.
	BanAfter Duration `yaml:"ban_after" reload:"live"`
	// BanFor is how long a banned source's traffic is dropped unread;
	// 0s never bans, only limits.
	BanFor Duration `yaml:"ban_for" reload:"live"`
	// MaxSources bounds the sources tracked, so that a flood from many
	// (or spoofed) addresses cannot grow the table without end.
	MaxSources int `yaml:"max_sources" reload:"restart"`
	// Trusted are networks (CIDR, or single addresses) that bypass the
	// rate limits, the scanner filter and the auth failure block:
	// gateways, other nodes, an SBC
	// that concentrates many phones behind one address. With passwords
	// off they are also the only callers the routes to gateways take:
	// the office's LAN belongs here then.
	Trusted []string `yaml:"trusted" reload:"live"`
	// TrustedSkipAuth lets requests from Trusted networks through without
	// digest authentication, for peers that cannot answer a challenge.
	TrustedSkipAuth bool `yaml:"trusted_skip_auth" reload:"live"`
	// DropUserAgents are User-Agent substrings (case-insensitive) of known
	// scanners, whose requests are dropped without an answer: a scanner
	// that hears nothing lists nothing. Empty turns the filter off.
	DropUserAgents []string `yaml:"drop_user_agents" reload:"live"`
}

// minAgentPattern keeps drop_user_agents entries long enough not to
// match real phones by accident ("sip" would drop everyone).
const minAgentPattern = 4

// TrustedPrefixes returns Trusted as prefixes, a single address being a
// prefix of its full length. Entries that do not parse (which Validate
// refuses) are left out.
func (s *SecurityConfig) TrustedPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(s.Trusted))
	for _, t := range s.Trusted {
		if p, err := parsePrefix(t); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// parsePrefix reads a CIDR or a bare address.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// security checks the security block.
func (ch *checker) security(s SecurityConfig) {
	atLeast(ch, "security.rate", s.Rate, 0)
	if s.Rate > 0 {
		atLeast(ch, "security.burst", s.Burst, 1)
	}
	notNegative(ch, "security.ban_after", s.BanAfter)
	notNegative(ch, "security.ban_for", s.BanFor)
	atLeast(ch, "security.max_sources", s.MaxSources, 1)
	for i, t := range s.Trusted {
		if _, err := parsePrefix(t); err != nil {
			ch.add("security.trusted["+strconv.Itoa(i)+"]",
				"must be a network like 192.0.2.0/24 or 2001:db8::/32, or an address; got %q", t)
		}
	}
	if s.TrustedSkipAuth && len(s.Trusted) == 0 {
		ch.either(
			alt{"security.trusted_skip_auth", "has no effect without security.trusted networks"},
			alt{"security.trusted", "must list networks for security.trusted_skip_auth to apply to"},
		)
	}
	for i, a := range s.DropUserAgents {
		if len(strings.TrimSpace(a)) < minAgentPattern {
			ch.add("security.drop_user_agents["+strconv.Itoa(i)+"]",
				"must be at least %d characters, or it would match real phones; got %q", minAgentPattern, a)
		}
	}
}

// streamTimeouts checks the timeouts that cut off slow and silent
// stream peers (slowloris, half-open TLS handshakes).
func (ch *checker) streamTimeouts(tcp TCPConfig, tls TLSConfig) {
	positive(ch, "tcp.message_timeout", tcp.MessageTimeout)
	positive(ch, "tls.handshake_timeout", tls.HandshakeTimeout)
}

func notNegative(ch *checker, key string, d Duration) {
	if d < 0 {
		ch.add(key, "must not be negative, got %s", d)
	}
}
