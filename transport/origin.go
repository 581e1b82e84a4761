package transport

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/parley-sip/parley/sip"
)

// NormalizeOrigin returns a web origin (RFC 6454) as browsers send it in
// the Origin header, "scheme://host[:port]" in lower case without the
// scheme's default port, so that a configured origin and a header match
// when they name the same site. It refuses anything that is not an
// origin: a path, a query, user info, or the opaque origin "null".
func NormalizeOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	switch {
	case err != nil:
		return "", err
	case u.Scheme == "" || u.Host == "" || u.Opaque != "":
		return "", errors.New("must look like https://app.example.com")
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", errors.New("an origin has no user, path, query or fragment")
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if a, err := netip.ParseAddr(host); err == nil {
		host = formatHost(a.Unmap().WithZone(""))
	} else if !sip.ValidHostname(host) {
		return "", fmt.Errorf("%q is neither an IP address nor a host name", host)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("bad port %q", port)
		}
		port = strconv.Itoa(n)
	}
	if port == defaultWebPort[scheme] {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

var defaultWebPort = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443"}

// originPolicy decides which web pages may open WebSocket connections.
type originPolicy map[string]bool

func newOriginPolicy(allowed []string) (originPolicy, error) {
	if len(allowed) == 0 {
		return nil, nil
	}
	p := make(originPolicy, len(allowed))
	for _, o := range allowed {
		n, err := NormalizeOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("allowed origin %q: %w", o, err)
		}
		p[n] = true
	}
	return p, nil
}

// SetAllowedOrigins replaces the web origins whose pages may open
// WebSocket connections (Config.WSAllowedOrigins; empty allows any), for
// the upgrades that follow, as a reloaded configuration asks. Open
// connections stay. An origin that does not parse changes nothing.
func (m *Manager) SetAllowedOrigins(origins []string) error {
	p, err := newOriginPolicy(origins)
	if err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	m.origins.Store(&p)
	return nil
}

// allows reports whether a request with this Origin header may upgrade:
// any when no origins are configured, and any request without an Origin
// (not a browser, so no other site's page can be behind it).
func (p originPolicy) allows(header string) bool {
	if p == nil || header == "" {
		return true
	}
	n, err := NormalizeOrigin(header)
	return err == nil && p[n]
}
