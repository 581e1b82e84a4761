package auth

import (
	"slices"
	"strings"
)

// DefaultMethods are the methods a Policy challenges when it names none:
// those that register, start something or deliver something. In-dialog
// requests (BYE, re-INVITE, INFO, UPDATE, PRACK) are routed by the dialog
// stage before authentication runs, and ACK and CANCEL are never
// challenged at all.
var DefaultMethods = []string{"REGISTER", "INVITE", "MESSAGE", "SUBSCRIBE", "PUBLISH", "REFER", "NOTIFY"}

// Policy says which requests of one domain need credentials.
type Policy struct {
	// Methods that need credentials, in upper case as SIP writes them.
	// nil means DefaultMethods; an empty, non-nil list means none.
	Methods []string
	// AllowUnauthenticatedToLocal lets a request from outside our domains
	// through without credentials when it is addressed to one of our
	// users: that is how other providers' callers reach our subscribers,
	// who could not authenticate with us anyway.
	AllowUnauthenticatedToLocal bool
}

// Requires reports whether a request needs credentials, and whether they
// are asked for as a proxy (407, Proxy-Authenticate) rather than as the
// destination (401, WWW-Authenticate). REGISTER is addressed to this
// server and gets 401; everything else is forwarded and gets 407 (a stage
// that answers a request itself, as presence does, may ask with 401
// instead). fromOurDomain and toOurDomain say whether the From and the
// Request-URI domains are ours.
func (p Policy) Requires(method string, fromOurDomain, toOurDomain bool) (need bool, proxyAuth bool) {
	if method == "ACK" || method == "CANCEL" {
		// ACK cannot be answered and CANCEL must match its INVITE
		// hop by hop; neither can carry fresh credentials (§22.1).
		return false, false
	}
	methods := p.Methods
	if methods == nil {
		methods = DefaultMethods
	}
	if !slices.Contains(methods, method) {
		return false, false
	}
	if method == "REGISTER" {
		return true, false
	}
	if p.AllowUnauthenticatedToLocal && !fromOurDomain && toOurDomain {
		return false, false
	}
	return true, true
}

// Policies holds a default Policy and per-domain overrides.
type Policies struct {
	Default Policy
	// Domains maps a domain (any case) to its policy.
	Domains map[string]Policy
}

// For returns the policy of domain: its own when it has one, else the
// default. Which domain to ask about is the caller's choice: the From
// domain for a caller of ours, the Request-URI's for a callee of ours.
func (ps Policies) For(domain string) Policy {
	if p, ok := ps.Domains[domain]; ok {
		return p
	}
	for d, p := range ps.Domains {
		if strings.EqualFold(d, domain) {
			return p
		}
	}
	return ps.Default
}
