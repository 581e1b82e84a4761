package dialplan

import (
	"cmp"
	"net/netip"
	"sync/atomic"

	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
)

// Stage is the proxy stage "dialplan", inserted before "location". A
// request from a gateway goes to the local user its number (DID) maps
// to; any other initial request that a route matches goes to the
// route's gateways, in order with failover, or to the rewritten local
// user. Requests no route takes pass on untouched, as without a plan.
// Only a caller someone answers for (proxy.Request.Accountable) goes to
// gateways; others get 403 Relaying Denied.
// Its Table can be swapped while requests run (a reload).
type Stage struct {
	gateway func(src netip.Addr) (string, bool)
	table   atomic.Pointer[Table]
}

// Table is what the stage routes by, and what a reload replaces.
type Table struct {
	// Plan is the dial plan; nil routes nothing.
	Plan *Dialplan
	// DIDs maps inbound numbers to users; empty lets a gateway's
	// requests pass on untouched.
	DIDs DIDs
	// Domain is the domain of a DID's bare user; "" is the host of the
	// request's Request-URI (a server that serves its own addresses).
	Domain string
}

// NewStage makes the stage; gateway names the gateway whose address src
// is (nil: no request is a gateway's).
func NewStage(gateway func(src netip.Addr) (string, bool), t Table) *Stage {
	s := &Stage{gateway: gateway}
	s.table.Store(&t)
	return s
}

// Update makes t the table for requests from now on.
func (s *Stage) Update(t Table) { s.table.Store(&t) }

// Table returns the table in force.
func (s *Stage) Table() Table { return *s.table.Load() }

// Name is the stage's label in metrics.
func (*Stage) Name() string { return "dialplan" }

// Serve routes r by the plan, or hands it on.
func (s *Stage) Serve(r *proxy.Request, next func()) {
	if !initial(r.Msg) {
		next()
		return
	}
	t := s.table.Load()
	if s.gateway != nil {
		if _, ok := s.gateway(r.In.Source.Addr()); ok {
			inbound(r, t, next)
			return
		}
	}
	if t.Plan == nil {
		next()
		return
	}
	p, ok := t.Plan.Route(r.Context(), r.Msg)
	toGateways := p.Trunk != "" || !ok // a local route always has its one destination
	switch {
	case p.Route == "":
		next()
	case toGateways && !r.Accountable():
		// A caller nobody answers for would otherwise call out on the
		// office's trunk account (toll fraud): another domain's, let in
		// without a password to reach our users
		// (auth.allow_unauthenticated_to_local), or, with passwords
		// off, anyone beyond security.trusted.
		r.Respond(403, "Relaying Denied")
	case !ok:
		r.Respond(503, "No Gateway Available", "Retry-After", "30")
	case p.Trunk == "":
		// A local route: the location stage finds the rewritten user,
		// and in mode b2bua the B2BUA takes the call after it.
		r.Msg.SetRequestURI(p.Destinations[0].URI)
		next()
	case p.B2BUA && r.Msg.Method() == "INVITE":
		// The B2BUA's route stage, placed after this one, takes it with
		// the plan; other methods are proxied along the route.
		next()
	default:
		for i, d := range p.Destinations {
			r.AddTarget(proxy.Target{URI: d.URI, Q: 1000 - i, Failover: true})
		}
		next()
	}
}

// inbound maps a gateway's request to the user of its number: the
// Request-URI's user, else the To's (a provider that sends calls to the
// registered Contact puts the dialled number in To).
func inbound(r *proxy.Request, t *Table, next func()) {
	if len(t.DIDs) == 0 {
		next()
		return
	}
	u, err := r.Msg.RequestURIParsed()
	if err != nil {
		next() // sanity has answered a broken one already
		return
	}
	var to sip.URI
	if na, err := r.Msg.To(); err == nil {
		to = na.URI
	}
	if uri, ok := t.Inbound(u, to); ok {
		r.Msg.SetRequestURI(uri)
		next()
		return
	}
	if r.Msg.Method() == "OPTIONS" {
		// A provider's keepalive to the Contact Parley registered: the
		// trunk is alive, whatever number the ping names.
		r.Respond(200, "OK", "Allow", proxy.Allow)
		return
	}
	r.Respond(404, "Unknown DID")
}

// Inbound returns the Request-URI of the user a gateway's request maps
// to: by the number of its Request-URI ruri, else of its To to; false
// when neither is a DID. Busy lamps ask it too, to show a DID call as
// the user's.
func (t Table) Inbound(ruri, to sip.URI) (string, bool) {
	number, ok := t.Number(ruri, to)
	if !ok {
		return "", false
	}
	domain := t.Domain
	if domain == "" {
		domain = cmp.Or(ruri.Host, to.Host)
	}
	return t.DIDs.Target(number, domain)
}

// Number returns the DID a gateway's request was for, as the provider
// wrote it (the number its call records keep as dialled): its
// Request-URI's user when that is one of the DIDs, else its To's; false
// when neither is.
func (t Table) Number(ruri, to sip.URI) (string, bool) {
	if n := sip.Unescape(ruri.User); n != "" {
		if _, ok := t.DIDs.Lookup(n); ok {
			return n, true
		}
	}
	if n := sip.Unescape(to.User); n != "" {
		if _, ok := t.DIDs.Lookup(n); ok {
			return n, true
		}
	}
	return "", false
}

// initial reports whether m starts something the plan routes: not an
// in-dialog request, ACK, CANCEL or REGISTER.
func initial(m *sip.Message) bool {
	switch m.Method() {
	case "ACK", "CANCEL", "REGISTER":
		return false
	}
	return m.ToTag() == ""
}
