package server

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// served is the set of domains this server is responsible for: the
// registrar takes their REGISTERs, the location service finds their
// users, and the proxy relays only for them. It is the configured
// domains; with none configured it is the server's own names (its host
// name, its aliases, localhost, its listeners' addresses and advertised
// hosts, and the machine's addresses behind a wildcard listener), so that a phone
// registering to Parley's address works out of the box while strangers'
// domains are not ours to relay for.
type served struct {
	names map[string]bool     // lower case
	addrs map[netip.Addr]bool // unmapped
	own   bool                // the server's own names: no domains configured
}

func newServed(cfg *config.Config) *served {
	s := &served{names: map[string]bool{}, addrs: map[netip.Addr]bool{}, own: len(cfg.Domains) == 0}
	if !s.own {
		for _, d := range cfg.Domains {
			s.add(d)
		}
		return s
	}
	s.add("localhost")
	if h, err := os.Hostname(); err == nil {
		s.add(h)
	}
	for _, a := range cfg.Aliases {
		s.add(a)
	}
	wildcard := false
	for _, l := range cfg.Listen {
		s.add(l.Host)
		if a, err := netip.ParseAddr(l.Host); err == nil && a.IsUnspecified() {
			wildcard = true
		}
		if host, _, err := net.SplitHostPort(l.Advertise); err == nil {
			s.add(host) // config keeps advertise as HOST:PORT
		}
	}
	if wildcard {
		for _, a := range transport.MachineAddrs() {
			s.addrs[a] = true
		}
	}
	return s
}

// add puts a host in the set: an address in any spelling, or a name.
// Wildcard addresses name no one.
func (s *served) add(host string) {
	host = sip.TrimBrackets(host)
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.IsUnspecified() {
			s.addrs[a.Unmap()] = true
		}
		return
	}
	s.names[strings.ToLower(host)] = true
}

// has reports whether host, as a URI writes it, is one of ours.
func (s *served) has(host string) bool {
	host = sip.TrimBrackets(host)
	if a, err := netip.ParseAddr(host); err == nil {
		return s.addrs[a.Unmap()]
	}
	if s.names[host] {
		return true
	}
	return s.names[strings.ToLower(host)]
}

// list returns the set sorted, for the startup log.
func (s *served) list() []string {
	out := make([]string, 0, len(s.names)+len(s.addrs))
	for n := range s.names {
		out = append(out, n)
	}
	for a := range s.addrs {
		out = append(out, a.String())
	}
	slices.Sort(out)
	return out
}

// logRelayPolicy says in one line whom the proxy forwards for, at start
// and when a reload changes it.
func (s *Server) logRelayPolicy() {
	set := s.settings.Load()
	if set.cfg.Proxy.Relay == config.RelayOpen {
		s.log.Warn("relay policy: open, requests between any domains are forwarded (proxy.relay: open)",
			"relay", string(config.RelayOpen))
		return
	}
	what := "configured domains"
	if set.served.own {
		what = "own names (no domains configured)"
	}
	s.log.Info("relay policy: only requests to a served domain, from a trusted network, or from a served domain's user who gives a password are forwarded; others get 403 Relaying Denied",
		"relay", string(config.RelayDomains), "served", what, "domains", set.served.list(),
		"trusted", set.cfg.Security.Trusted)
	s.logRoutesOut(set.cfg)
	s.logCallLimits(set.cfg)
}

// logCallLimits warns, outside mode: b2bua, that limits.calls count only
// the calls the B2BUA holds: a proxied call (between local phones, on a
// route without b2bua: true) takes no place, so a user at per_user: 1
// still rings, which an admin who set it would not guess.
func (s *Server) logCallLimits(cfg *config.Config) {
	c := cfg.Limits.Calls
	set := c.PerUser > 0 || c.PerDomain > 0 || c.PerTrunk > 0 || len(c.Users) > 0 || len(c.Domains) > 0 || len(c.Trunks) > 0
	if !set || cfg.Mode == config.ModeB2BUA {
		return
	}
	if cfg.Mode == config.ModeStateless {
		s.log.Warn("limits.calls: no call is counted in mode: stateless (it holds no calls); the limits apply in mode: b2bua, or in mode: stateful to routes with b2bua: true",
			"mode", string(cfg.Mode))
		return
	}
	s.log.Warn("limits.calls: only calls through the B2BUA are counted (routes with b2bua: true, and with b2bua.inbound the trunks' calls to DIDs); proxied calls, between local phones too, take no place; mode: b2bua counts every call",
		"mode", string(cfg.Mode))
}

// logRoutesOut says, with passwords off, who calls out through the
// routes to gateways: only callers on a trusted network. With none
// listed nobody can, which is what the admin must hear to fix it.
func (s *Server) logRoutesOut(cfg *config.Config) {
	routes := routesOutByNetwork(cfg)
	switch {
	case len(routes) == 0:
	case len(cfg.Security.Trusted) == 0:
		s.log.Warn("dial plan: passwords are off, so only callers on a security.trusted network call out through these routes' gateways, and none is listed: every call to them gets 403 Relaying Denied; list the office LAN in security.trusted, or turn auth.enabled on",
			"routes", routes)
	default:
		s.log.Info("dial plan: passwords are off, so only callers on a security.trusted network call out through these routes' gateways; others get 403 Relaying Denied",
			"routes", routes, "trusted", cfg.Security.Trusted)
	}
}

// routesOutByNetwork names the routes to gateways that, with passwords
// off, take only callers from a trusted network (or a gateway): the dial
// plan cannot tell a stranger from a phone of the office by its From
// then, and the relay policy's line above does not cover a call to a
// served domain that a route sends out.
func routesOutByNetwork(cfg *config.Config) []string {
	if cfg.Auth.Enabled {
		return nil
	}
	var out []string
	for _, r := range cfg.Routes {
		if len(r.Gateways) > 0 {
			out = append(out, r.Name)
		}
	}
	return out
}

// relayPolicy is what logRelayPolicy reports, to tell whether a reload
// changed it.
func relayPolicy(set *settings) string {
	return string(set.cfg.Proxy.Relay) + " " + strings.Join(set.served.list(), ",") + " " + strings.Join(set.cfg.Security.Trusted, ",") +
		" " + strings.Join(routesOutByNetwork(set.cfg), ",")
}

// tlsNames are the names the self-signed certificate must carry besides
// the listeners': the served domains and the server's aliases, which is
// what a phone that checks the certificate may have been told to reach.
func tlsNames(cfg *config.Config) []string {
	return append(slices.Clone(cfg.Domains), cfg.Aliases...)
}

// Serves reports whether a server started with cfg serves domain, for the
// tools that run beside it: "parley user" warns about the others.
func Serves(cfg *config.Config, domain string) bool { return newServed(cfg).has(domain) }
