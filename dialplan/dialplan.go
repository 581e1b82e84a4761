// Package dialplan is the dial plan: an ordered list of routes that
// match the dialled user (a prefix or a regular expression), rewrite it
// (regex replace, strip, E.164, prefix) and name where the call goes —
// gateways tried in order, or a local user — plus the DID table that
// maps a gateway's inbound numbers to local users. It decides; the
// proxy stage in this package and the B2BUA act on its Plan.
package dialplan

import (
	"context"
	"regexp"
	"strings"

	"github.com/parley-sip/parley/sip"
)

// Rule is one route of the plan, as the config's routes list gives it.
type Rule struct {
	Name string
	// Prefix or Regex match the dialled user (unescaped).
	Prefix string
	Regex  *regexp.Regexp
	// Domain, when set, limits the rule to Request-URIs of that host.
	Domain string
	// Replace is Regex's template ($1) the user is rewritten with.
	Replace string
	// Strip drops leading characters after Replace.
	Strip int
	// CountryCode, when set, normalises to E.164 with the two prefixes
	// ("0" and "00" when empty).
	CountryCode, NationalPrefix, InternationalPrefix string
	// AddPrefix goes in front, last.
	AddPrefix string
	// Gateways are tried in order; empty with Local.
	Gateways []string
	Local    bool
	// B2BUA says the call goes through the B2BUA, not the proxy.
	B2BUA bool
}

// Gateways is what the plan asks of the gateway set: whether one is in
// service and the Request-URI that reaches a user through it.
type Gateways interface {
	Up(name string) bool
	URI(name, user string) (string, bool)
}

// Destination is one place a planned call is sent, in order.
type Destination struct {
	URI   string
	Trunk string // the gateway's name; "" for a local user
}

// Plan is where a request goes: the same fields as the B2BUA's Plan.
type Plan struct {
	// Route is the matching rule's name.
	Route string
	// Trunk is the first gateway tried; "" for a local route.
	Trunk string
	// DialledUser is the user as dialled, before rewriting.
	DialledUser string
	// Destinations are tried in order; for a local route, one URI at
	// the local domain whose bindings the location service finds.
	Destinations []Destination
	// B2BUA is the rule's b2bua flag.
	B2BUA bool
}

// Dialplan holds the rules; it is read-only once built and safe for
// concurrent use.
type Dialplan struct {
	rules []Rule
	gws   Gateways
}

// New builds a plan from rules, in order.
func New(rules []Rule, gws Gateways) *Dialplan {
	return &Dialplan{rules: rules, gws: gws}
}

// Match returns the first rule that takes user (unescaped) dialled at
// domain, and the user rewritten by it.
func (d *Dialplan) Match(user, domain string) (*Rule, string, bool) {
	for i := range d.rules {
		r := &d.rules[i]
		if r.Domain != "" && !strings.EqualFold(r.Domain, domain) {
			continue
		}
		if r.Regex != nil {
			if m := r.Regex.FindStringSubmatchIndex(user); m != nil {
				return r, r.rewrite(user, m), true
			}
			continue
		}
		if strings.HasPrefix(user, r.Prefix) {
			return r, r.rewrite(user, nil), true
		}
	}
	return nil, "", false
}

// rewrite applies the rule's rewriting in the documented order:
// replace, strip, E.164, add_prefix. m is Regex's match of user.
func (r *Rule) rewrite(user string, m []int) string {
	if r.Replace != "" && m != nil {
		user = string(r.Regex.ExpandString(nil, r.Replace, user, m))
	}
	if r.Strip > 0 {
		user = user[min(r.Strip, len(user)):]
	}
	if r.CountryCode != "" {
		user = E164(user, r.CountryCode, r.NationalPrefix, r.InternationalPrefix)
	}
	return r.AddPrefix + user
}

// E164 normalises a dialled number to E.164 (+CC…): visual separators
// (RFC 3966: - . ( ) and space) go, the international prefix (00 by
// default) becomes +, the national prefix (0) becomes +CC. A number
// already in E.164, or a local one with neither prefix, is returned
// without separators but otherwise unchanged: without an area code it
// cannot be made whole. Anything but digits after that is left as is.
func E164(number, cc, national, international string) string {
	if national == "" {
		national = "0"
	}
	if international == "" {
		international = "00"
	}
	n := stripSeparators(number)
	switch {
	case strings.HasPrefix(n, "+") || !isDigits(n):
		return n
	case strings.HasPrefix(n, international):
		return "+" + n[len(international):]
	case strings.HasPrefix(n, national):
		return "+" + cc + n[len(national):]
	}
	return n
}

func stripSeparators(s string) string {
	if !strings.ContainsAny(s, "-.() ") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune("-.() ", r) {
			return -1
		}
		return r
	}, s)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Route plans req: its Request-URI's user is the dialled number. ok is
// false when no rule matches, or when the rule's gateways are all down
// (then Plan names the route with no destinations). It has the shape of
// the B2BUA's Router.
func (d *Dialplan) Route(_ context.Context, req *sip.Message) (Plan, bool) {
	u, err := req.RequestURIParsed()
	if err != nil || u.User == "" {
		return Plan{}, false
	}
	dialled := sip.Unescape(u.User)
	r, user, ok := d.Match(dialled, u.Host)
	if !ok {
		return Plan{}, false
	}
	p := Plan{Route: r.Name, DialledUser: dialled, B2BUA: r.B2BUA}
	if r.Local {
		local := u
		local.User = sip.EscapeUser(user)
		p.Destinations = []Destination{{URI: local.Rebuild().String()}}
		return p, true
	}
	for _, g := range r.Gateways {
		if d.gws == nil || !d.gws.Up(g) {
			continue
		}
		if uri, ok := d.gws.URI(g, user); ok {
			p.Destinations = append(p.Destinations, Destination{URI: uri, Trunk: g})
		}
	}
	if len(p.Destinations) == 0 {
		return p, false
	}
	p.Trunk = p.Destinations[0].Trunk
	return p, true
}
