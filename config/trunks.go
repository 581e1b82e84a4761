package config

import (
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// GatewayConfig is one way out to the phone network: a provider's
// server or an office's media gateway. The same entry, with register
// on, is also the provider account Parley registers to.
type GatewayConfig struct {
	// Name is how routes and metrics name the gateway.
	Name string `yaml:"name"`
	// Address is a SIP URI (sip:sip.provider.example:5060) or HOST[:PORT].
	Address string `yaml:"address"`
	// Transport pins udp, tcp or tls; empty lets RFC 3263 choose.
	Transport string `yaml:"transport"`
	// Username and Password are the account's digest credentials, for
	// registration; Username is also the user of the registered AOR.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// PingInterval is how often an OPTIONS ping checks the gateway; one
	// that does not answer is skipped until it does. 0s sends none.
	PingInterval Duration `yaml:"ping_interval"`
	// Register makes Parley register to the gateway as a client, so that
	// the provider sends the account's inbound calls here.
	Register bool `yaml:"register"`
	// Registrar is where the REGISTER goes when it is not Address.
	Registrar string `yaml:"registrar"`
	// Expires is the registration lifetime asked for; 0s is 3600s.
	Expires Duration `yaml:"expires"`
	// ContactUser is the user part of the Contact registered; empty is
	// Username.
	ContactUser string `yaml:"contact_user"`
	// FromUser and FromHost are the From of calls through the B2BUA to
	// this gateway, in place of the caller's: providers accept calls
	// from their account. Empty FromUser is Username when registering
	// (else the caller's user); empty FromHost is the registrar's host
	// when registering (else the caller's host).
	FromUser string `yaml:"from_user"`
	FromHost string `yaml:"from_host"`
	// IdentityHeader, pai or ppi, makes calls through the B2BUA to this
	// gateway carry P-Asserted-Identity or P-Preferred-Identity (RFC 3325)
	// with the caller's number: providers that bill the account show
	// that number to the called party, and many take only calls that
	// name one. Empty sends neither (the caller's own pass as
	// b2bua.pass_headers says).
	IdentityHeader string `yaml:"identity_header"`
	// IdentityUser is a fixed number for that header (the office's main
	// number); empty is the caller's user.
	IdentityUser string `yaml:"identity_user"`
	// Sources are more networks (CIDR or addresses) the gateway's
	// requests come from, beside its address: providers often send
	// calls from servers other than the one they take them on.
	Sources []string `yaml:"sources,omitempty"`
}

// RouteConfig is one entry of the dial plan: which dialled numbers it
// takes, how it rewrites them and where it sends them.
type RouteConfig struct {
	// Name names the route in logs, CDRs and metrics.
	Name string `yaml:"name"`
	// Prefix matches a dialled user that starts with it.
	Prefix string `yaml:"prefix"`
	// Regex matches the dialled user; compiled once, when the file loads.
	Regex Regexp `yaml:"regex"`
	// Domain, when set, limits the route to requests for that domain.
	Domain string `yaml:"domain"`
	// Replace rewrites the dialled user with Regex's submatches ($1).
	Replace string `yaml:"replace"`
	// Strip removes that many leading characters.
	Strip int `yaml:"strip"`
	// CountryCode turns national and international numbers into E.164
	// (+CC…) with NationalPrefix and InternationalPrefix.
	CountryCode string `yaml:"country_code"`
	// NationalPrefix is the trunk prefix of national numbers; empty is 0.
	NationalPrefix string `yaml:"national_prefix"`
	// InternationalPrefix is the prefix of international numbers; empty is 00.
	InternationalPrefix string `yaml:"international_prefix"`
	// AddPrefix is put in front of the rewritten number.
	AddPrefix string `yaml:"add_prefix"`
	// Gateways are tried in order (failover on 5xx, 408 and transport
	// errors); gateways marked down by pings are skipped.
	Gateways []string `yaml:"gateways,omitempty"`
	// Local sends the rewritten number to a local user instead.
	Local bool `yaml:"local"`
	// B2BUA sends the call through the B2BUA rather than the proxy.
	B2BUA bool `yaml:"b2bua"`
}

// SourcePrefixes returns Sources as prefixes, a single address being a
// prefix of its full length; entries Validate refuses are left out.
func (g *GatewayConfig) SourcePrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(g.Sources))
	for _, s := range g.Sources {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Regexp is a regular expression compiled when the config is decoded,
// so a bad one is an error with its line, and routing never compiles.
type Regexp struct {
	// Source is the expression as written.
	Source string
	re     *regexp.Regexp
}

// Compiled returns the expression, nil when none was given.
func (r Regexp) Compiled() *regexp.Regexp { return r.re }

// MustRegexp compiles s, for tests and built configs; it panics on error.
func MustRegexp(s string) Regexp { return Regexp{Source: s, re: regexp.MustCompile(s)} }

// MarshalYAML writes the source, so marshalled configs parse back.
func (r Regexp) MarshalYAML() (any, error) { return r.Source, nil }

// IsZero lets omitempty-style marshalling treat a missing regex as unset.
func (r Regexp) IsZero() bool { return r.Source == "" }

func (r *Regexp) decodeNode(dec *decoder, n *yaml.Node, key string) {
	if !isScalar(n, "!!str") {
		dec.fail(n.Line, key, "must be a regular expression string, got %s", describe(n))
		return
	}
	if n.Value == "" {
		*r = Regexp{}
		return
	}
	re, err := regexp.Compile(n.Value)
	if err != nil {
		dec.fail(n.Line, key, "is not a valid regular expression: %v", err)
		return
	}
	*r = Regexp{Source: n.Value, re: re}
}

// gatewayTransports are the values of gateways[].transport.
var gatewayTransports = []string{"", "udp", "tcp", "tls"}

// trunks checks gateways, routes and dids.
func (ch *checker) trunks(c *Config) {
	names := make(map[string]int)
	for i, g := range c.Gateways {
		key := "gateways[" + strconv.Itoa(i) + "]"
		ch.gateway(key, g, c.Mode == ModeStateless)
		if j, dup := names[g.Name]; dup && g.Name != "" {
			ch.add(key+".name", "%q is already the name of gateways[%d]", g.Name, j)
		}
		names[g.Name] = i
	}
	routes := make(map[string]int)
	for i, r := range c.Routes {
		key := "routes[" + strconv.Itoa(i) + "]"
		ch.route(key, r, names)
		if j, dup := routes[r.Name]; dup && r.Name != "" {
			ch.add(key+".name", "%q is already the name of routes[%d]", r.Name, j)
		}
		routes[r.Name] = i
	}
	for did, user := range c.DIDs {
		key := "dids." + did
		if !isNumber(did) {
			ch.add(key, "must be a number (digits, optionally after +), got %q", did)
		}
		u, dom, _ := strings.Cut(user, "@")
		if u == "" || strings.ContainsAny(user, " \t<>;:") || (dom != "" && !validDomain(dom)) {
			ch.add(key, "must name a local user (alice or alice@example.com), got %q", user)
		}
	}
}

func (ch *checker) gateway(key string, g GatewayConfig, stateless bool) {
	if g.Name == "" || g.Name == "local" || strings.ContainsAny(g.Name, " \t,\"{}") {
		ch.add(key+".name", "must be a name without spaces, quotes or braces, and not \"local\"; got %q", g.Name)
	}
	if !validGatewayAddress(g.Address) {
		ch.add(key+".address", "must be a SIP URI (sip:host[:port]) or host[:port], got %q", g.Address)
	}
	if !slices.Contains(gatewayTransports, g.Transport) {
		ch.add(key+".transport", "must be one of udp, tcp, tls or empty; got %q", g.Transport)
	}
	notNegative(ch, key+".ping_interval", g.PingInterval)
	notNegative(ch, key+".expires", g.Expires)
	if g.Password != "" && g.Username == "" {
		ch.add(key+".username", "must be set when password is")
	}
	if g.Register && (g.Username == "" || g.Password == "") {
		ch.add(key+".register", "needs username and password to register with")
	}
	if stateless && (g.Register || g.PingInterval > 0) {
		ch.add(key+".register", "registering and pinging (ping_interval) need mode: stateful, which keeps transactions")
	}
	for j, src := range g.Sources {
		if _, err := parsePrefix(src); err != nil {
			ch.add(key+".sources["+strconv.Itoa(j)+"]", "must be a network like 192.0.2.0/24, or an address; got %q", src)
		}
	}
	if g.FromUser != "" && strings.ContainsAny(g.FromUser, " \t<>@;:\"") {
		ch.add(key+".from_user", "must be a user part without spaces, quotes, <>, @, ; or :; got %q", g.FromUser)
	}
	if g.IdentityHeader != "" && g.IdentityHeader != "pai" && g.IdentityHeader != "ppi" {
		ch.add(key+".identity_header", "must be pai, ppi or empty; got %q", g.IdentityHeader)
	}
	if g.IdentityUser != "" && strings.ContainsAny(g.IdentityUser, " \t<>@;:\"") {
		ch.add(key+".identity_user", "must be a user part without spaces, quotes, <>, @, ; or :; got %q", g.IdentityUser)
	}
	if g.FromHost != "" && !validDomain(g.FromHost) {
		ch.add(key+".from_host", "%q is not a domain name or IP address", g.FromHost)
	}
	if g.Registrar != "" && !validGatewayAddress(g.Registrar) {
		ch.add(key+".registrar", "must be a SIP URI (sip:host[:port]) or host[:port], got %q", g.Registrar)
	}
}

func (ch *checker) route(key string, r RouteConfig, gateways map[string]int) {
	if r.Name == "" {
		ch.add(key+".name", "must be set: logs and records name the route")
	}
	if r.Prefix == "" && r.Regex.re == nil {
		// Either key: a regex that failed to compile must not also be
		// reported as missing.
		ch.either(
			alt{key + ".prefix", "must be set, or regex (use regex: '.*' for a catch-all)"},
			alt{key + ".regex", "must be set, or prefix"},
		)
	}
	if r.Prefix != "" && r.Regex.re != nil {
		ch.add(key+".regex", "must not be set with prefix: a route matches one way")
	}
	if r.Replace != "" && r.Regex.re == nil {
		ch.add(key+".replace", "needs regex, whose submatches it uses")
	}
	atLeast(ch, key+".strip", r.Strip, 0)
	for _, f := range []struct{ name, v string }{{"country_code", r.CountryCode}, {"national_prefix", r.NationalPrefix}, {"international_prefix", r.InternationalPrefix}} {
		if f.v != "" && !isDigits(f.v) {
			ch.add(key+"."+f.name, "must be digits, got %q", f.v)
		}
	}
	if r.Domain != "" && !validDomain(r.Domain) {
		ch.add(key+".domain", "%q is not a domain name or IP address", r.Domain)
	}
	if r.Local == (len(r.Gateways) > 0) {
		ch.add(key+".gateways", "must list gateways, or local: true must be set (one of the two)")
	}
	for j, g := range r.Gateways {
		if _, ok := gateways[g]; !ok {
			ch.add(key+".gateways["+strconv.Itoa(j)+"]", "%q is not the name of a gateway", g)
		}
	}
}

// validGatewayAddress accepts sip:host[:port], sips:… and host[:port].
func validGatewayAddress(s string) bool {
	if rest, ok := strings.CutPrefix(s, "sips:"); ok {
		s = rest
	} else if rest, ok := strings.CutPrefix(s, "sip:"); ok {
		s = rest
	}
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	if _, after, ok := strings.Cut(s, "@"); ok {
		s = after
	}
	host := s
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		host, s = s[:end+1], s[end+1:]
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, s = s[:i], s[i:]
	} else {
		s = ""
	}
	if s != "" {
		p, err := strconv.Atoi(strings.TrimPrefix(s, ":"))
		if !strings.HasPrefix(s, ":") || err != nil || p < 1 || p > 65535 {
			return false
		}
	}
	return host != "" && validDomain(host)
}

func isNumber(s string) bool { return isDigits(strings.TrimPrefix(s, "+")) }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
