package dialplan

import (
	"strings"

	"github.com/parley-sip/parley/sip"
)

// DIDs maps the numbers a gateway's inbound calls are for to local
// users: "alice" or "alice@example.com".
type DIDs map[string]string

// Lookup finds number's user. Providers write one number several ways,
// so a number matches with separators removed and with or without its
// leading +.
func (d DIDs) Lookup(number string) (string, bool) {
	n := stripSeparators(number)
	if u, ok := d[n]; ok {
		return u, true
	}
	if rest, ok := strings.CutPrefix(n, "+"); ok {
		u, ok := d[rest]
		return u, ok
	}
	u, ok := d["+"+n]
	return u, ok
}

// Target returns the Request-URI for number's user: a bare user is
// taken to be at domain.
func (d DIDs) Target(number, domain string) (string, bool) {
	u, ok := d.Lookup(number)
	if !ok {
		return "", false
	}
	user, host, found := strings.Cut(u, "@")
	if !found {
		host = domain
	}
	return "sip:" + sip.EscapeUser(user) + "@" + host, true
}
