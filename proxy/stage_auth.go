package proxy

import (
	"context"
	"errors"
	"strings"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/sip"
)

// Users tells whether a subscriber exists, so that a call to a known user
// with no phone registered gets 480 rather than 404.
type Users interface {
	Exists(ctx context.Context, user, domain string) (bool, error)
}

// identityDomain is the domain a request claims to come from, whose
// policy applies and whose subscribers may authenticate: From's host, or
// To's for a REGISTER (the address being registered). An error is the
// *sip.Error of the header that does not parse.
func identityDomain(m *sip.Message) (string, error) {
	get := m.From
	if m.Method() == "REGISTER" {
		get = m.To
	}
	n, err := get()
	if err != nil {
		return "", err
	}
	return strings.ToLower(n.URI.Host), nil
}

// authStage is RFC 3261 §22: requests the policy names must carry digest
// credentials of a subscriber of our domain. REGISTER is challenged with
// 401 (the registrar is the destination), requests we forward with 407.
// A source blocked after repeated failures is dropped unanswered, which
// tells a scanner nothing.
type authStage struct{}

func (authStage) Name() string { return "auth" }

func (authStage) Serve(r *Request, next func()) {
	p := r.proxy
	a := p.config().Auth
	method := r.Msg.Method()
	if a == nil || method == "ACK" || method == "CANCEL" {
		next()
		return
	}
	src := r.In.Source.Addr()
	if p.config().Trusted != nil && p.config().Trusted(src) {
		next()
		return
	}
	if a.IsBlocked(src) {
		r.Drop()
		return
	}
	realm, err := identityDomain(r.Msg)
	if err != nil {
		// The identity is what credentials are checked against: strict.
		se := &sip.Error{Code: 400, Reason: "Bad Request"}
		errors.As(err, &se)
		r.Respond(se.Code, se.Reason)
		return
	}
	u, _ := r.Msg.RequestURIParsed()
	fromOurs, toOurs := p.isOurDomain(realm), p.isOurDomain(u.Host) || p.isUs(&u)
	need, proxyAuth := p.config().AuthPolicy.For(realm).Requires(method, fromOurs, toOurs)
	if !need && (fromOurs || toOurs) {
		next()
		return
	}
	if !fromOurs {
		// Nobody of that domain can authenticate with us, and the request
		// is not for us either: relaying it would make us an open relay,
		// whatever its method. A REGISTER relays nothing, though: it
		// is a phone set up with a domain not (yet) in domains, often
		// the server's own address, and is told so as relaycheck tells it.
		if method == "REGISTER" {
			r.Respond(403, "Domain Not Served Here")
			return
		}
		r.Respond(403, "Relaying Denied")
		return
	}
	res := a.Verify(r.ctx, r.Msg, realm, proxyAuth, src)
	if res.Outcome != auth.OK {
		if res.Outcome == auth.Blocked {
			r.Drop()
			return
		}
		r.RespondWith(a.Respond(r.Msg, res, p.toTag(r.Msg)))
		return
	}
	if err := auth.CheckIdentity(r.Msg, res.User, realm); err != nil {
		r.Respond(403, "Identity Mismatch")
		return
	}
	if proxyAuth {
		auth.StripCredentials(r.Msg, realm) // §22.3: our credentials end here
	}
	r.authenticated, r.user, r.realm = true, res.User, realm
	next()
}
