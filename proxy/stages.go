package proxy

import (
	"errors"
	"strings"

	"github.com/parley-sip/parley/sip"
)

// DefaultStages is the request route, in the order Kamailio's stock
// configuration uses too: validate, route in-dialog requests, refuse to
// relay for strangers, authenticate, answer what is for the server
// itself, find targets, relay.
func DefaultStages() []Stage {
	return []Stage{
		sanityStage{},
		maxForwardsStage{},
		proxyRequireStage{},
		loopStage{},
		cancelStage{},
		routeStage{},
		relayCheckStage{},
		authStage{},
		localStage{},
		locationStage{},
		relayStage{},
	}
}

// StageFunc makes a Stage from a name and a function.
type StageFunc struct {
	StageName string
	Fn        func(r *Request, next func())
}

// Name returns the stage's name.
func (s StageFunc) Name() string { return s.StageName }

// Serve calls the function.
func (s StageFunc) Serve(r *Request, next func()) { s.Fn(r, next) }

// sanityStage is §16.3 step 1 (and §8.2.2): a request that does not parse
// as far as the proxy needs is answered with the defect as reason phrase.
type sanityStage struct{}

func (sanityStage) Name() string { return "sanity" }

func (sanityStage) Serve(r *Request, next func()) {
	err := r.Msg.Validate()
	if err == nil {
		next()
		return
	}
	var se *sip.Error
	if !errors.As(err, &se) {
		se = &sip.Error{Code: 400, Reason: "Bad Request"}
	}
	if r.Msg.Answerable() {
		r.Respond(se.Code, se.Reason)
	} else {
		r.drop()
	}
	r.proxy.log.Debug("proxy: invalid request", "source", r.In.Source, "reason", se.Reason)
}

// maxForwardsStage is §16.3 step 3: a request that may not be forwarded
// again is answered 483, except OPTIONS, which the server answers itself
// (§11, "OPTIONS with Max-Forwards 0" probes the proxy).
type maxForwardsStage struct{}

func (maxForwardsStage) Name() string { return "maxforwards" }

func (maxForwardsStage) Serve(r *Request, next func()) {
	mf, _ := r.Msg.MaxForwards()
	if mf != 0 {
		next()
		return
	}
	if r.Msg.Method() == "ACK" {
		r.answered = true // never answered, and may not go further
		return
	}
	if r.Msg.Method() == "OPTIONS" {
		r.proxy.answerOptions(r)
		return
	}
	r.Respond(483, "Too Many Hops")
}

// proxyRequireStage is §16.3 step 5: this proxy supports no extension that
// a UAC could require of proxies, so any Proxy-Require is refused with 420.
type proxyRequireStage struct{}

func (proxyRequireStage) Name() string { return "proxyrequire" }

func (proxyRequireStage) Serve(r *Request, next func()) {
	if r.Msg.Method() == "ACK" || r.Msg.Method() == "CANCEL" {
		next()
		return
	}
	if bad := r.Msg.Unsupported("Proxy-Require", nil); bad != "" {
		r.Respond(420, "Bad Extension", "Unsupported", bad)
		return
	}
	next()
}

// loopStage is §16.3 step 4: a request whose Via holds a branch this proxy
// made for the very same request has come back: 482. A request that comes
// back changed (a spiral, e.g. a new Request-URI) is fine.
type loopStage struct{}

func (loopStage) Name() string { return "loop" }

func (loopStage) Serve(r *Request, next func()) {
	if r.Msg.Method() == "ACK" || r.Msg.Method() == "CANCEL" {
		next()
		return
	}
	vias, _ := r.Msg.Vias()
	want := r.proxy.loopHash(r.Msg)
	for i := range vias {
		if r.proxy.isOurVia(&vias[i]) && loopPart(vias[i].Branch()) == want {
			r.Respond(482, "Loop Detected")
			return
		}
	}
	next()
}

// routeStage is §16.4: undo a strict router's rewrite, remove our own
// Route entries, and send in-dialog requests along their route set.
type routeStage struct{}

func (routeStage) Name() string { return "route" }

// An in-dialog request (To tag) is relayed only when it came through our
// Record-Route: one that names no Route of ours is not of a dialog we
// proxy, and relaying it unauthenticated would make us an open relay
// (Kamailio's stock WITHINDLG answers it 404 too). An initial request
// with a preloaded route goes on through the stages (auth included), then
// to its route.
func (routeStage) Serve(r *Request, next func()) {
	p := r.proxy
	ours := p.fixStrictRoute(r.Msg)
	ours = p.popOwnRoutes(r.Msg) || ours
	routes, _ := r.Msg.Routes()
	if r.Msg.ToTag() == "" {
		r.preloaded = len(routes) > 0
		next()
		return
	}
	switch {
	case ours:
		r.Targets = append(r.Targets, Target{})
		relayStage{}.Serve(r, next)
	case r.Msg.Method() == "ACK" && p.config().Stateless:
		// Maybe the ACK of a non-2xx, which takes its INVITE's path (§16.11).
		next()
	case r.Msg.Method() == "ACK":
		r.answered = true // nothing to answer, nowhere to send
	default:
		r.Respond(404, "Not Here")
	}
}

// localStage answers requests addressed to the server itself: OPTIONS,
// and REGISTER for the domains we serve (§10.3).
type localStage struct{}

func (localStage) Name() string { return "local" }

func (localStage) Serve(r *Request, next func()) {
	p := r.proxy
	u, _ := r.Msg.RequestURIParsed()
	switch r.Msg.Method() {
	case "REGISTER":
		// A REGISTER to the server's own address or name registers the
		// To's address of record (the registrar takes its domain).
		if p.registrar != nil && u.User == "" && (p.isOurDomain(u.Host) || p.isUs(&u)) {
			if !r.refuseUnsupported() {
				p.register(r)
			}
			return
		}
	case "OPTIONS":
		if u.User == "" && (p.isUs(&u) || p.isOurDomain(u.Host)) {
			p.answerOptions(r)
			return
		}
	}
	if r.Msg.Method() != "ACK" && u.User == "" && p.isUs(&u) {
		r.Respond(405, "Method Not Allowed", "Allow", allowed)
		return
	}
	next()
}

// register answers a REGISTER through the registrar. With a durable store
// an update waits for its commit, and commits are grouped: REGISTERs must
// then be handled side by side, not one at a time on the reading
// goroutine. A full pool blocks the reader, which is the back-pressure
// a saturated store should apply.
func (p *Proxy) register(r *Request) {
	if p.registering == nil {
		r.RespondWith(p.registrar.Handle(r.ctx, r.In, p.toTag(r.Msg)))
		return
	}
	r.answered = true
	p.registering <- struct{}{}
	go func() {
		defer func() { <-p.registering }()
		r.RespondWith(p.registrar.Handle(r.ctx, r.In, p.toTag(r.Msg)))
	}()
}

// allowed is what the server itself accepts.
const allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, PRACK, SUBSCRIBE, NOTIFY, REFER, MESSAGE"

// supported lists the option tags of the extensions the server itself
// implements in the requests it answers: what OPTIONS advertises, and all
// a Require may name (§8.2.2.3).
var supported = []string{"path"}

// supportedHeader is supported as a Supported header's value.
var supportedHeader = strings.Join(supported, ", ")

func (p *Proxy) answerOptions(r *Request) {
	if !r.refuseUnsupported() {
		r.Respond(200, "OK", "Allow", allowed, "Accept", "application/sdp", "Supported", supportedHeader)
	}
}

// refuseUnsupported is §8.2.2.3 for every request the server answers
// itself (OPTIONS, REGISTER, and what comes later): a Require naming an
// extension it does not implement is answered 420 Bad Extension, with
// those option tags in Unsupported. It reports whether it answered.
// Requests the proxy forwards keep their Require for the UAS (§16.3).
func (r *Request) refuseUnsupported() bool {
	bad := r.Msg.Unsupported("Require", supported)
	if bad == "" {
		return false
	}
	r.Respond(420, "Bad Extension", "Unsupported", bad)
	return true
}

// locationStage is §16.5 for our domains: the target set is the AOR's
// bindings. Requests for other domains pass on with the Request-URI as
// the only target.
type locationStage struct{}

func (locationStage) Name() string { return "location" }

func (locationStage) Serve(r *Request, next func()) {
	p := r.proxy
	u, err := r.Msg.RequestURIParsed()
	// An ACK for a 2xx goes where its Request-URI says; but a stateless
	// proxy must send a non-2xx ACK where it sent the INVITE (§16.11).
	skipACK := r.Msg.Method() == "ACK" && !p.config().Stateless
	if err == nil && u.IsSIP() && !p.isOurDomain(u.Host) && u.User != "" && p.isUs(&u) && !r.preloaded {
		var ok bool
		if u, ok = p.userAtUs(r, u); !ok && r.Msg.Method() != "ACK" {
			r.Respond(404, "Not Found") // relayed, it would only come back to us
			return
		}
	}
	if err != nil || !u.IsSIP() || !p.isOurDomain(u.Host) || p.store == nil || skipACK || r.preloaded {
		if len(r.Targets) == 0 {
			r.Targets = append(r.Targets, Target{})
		}
		next()
		return
	}
	bindings, err := p.store.Lookup(r.ctx, u.AOR(), p.now())
	if err != nil {
		// Debug: a store whose database fails logs the outage itself,
		// once each way; a line per call would be thousands a second.
		p.log.Debug("proxy: location lookup failed", "error", err)
		r.Respond(503, "Location Service Unavailable", "Retry-After", "5")
		return
	}
	if len(bindings) == 0 {
		if r.Msg.Method() == "ACK" {
			r.Targets = append(r.Targets, Target{})
			next()
			return
		}
		p.answerNoBinding(r, &u)
		return
	}
	for _, b := range bindings {
		r.Targets = append(r.Targets, p.bindingTarget(b))
	}
	next()
}

// userAtUs maps a user at one of the server's own addresses or names
// (`sip:bob@192.0.2.10`, what a desk phone dials when its registrar is an
// IP) into the caller's domain, so the call finds bob@example.com instead
// of looping back to Parley. It fails when the caller's domain is not
// served: then nothing says which of our domains was meant.
func (p *Proxy) userAtUs(r *Request, u sip.URI) (sip.URI, bool) {
	from, err := r.Msg.From()
	if err != nil || !from.URI.IsSIP() || !p.isOurDomain(from.URI.Host) {
		return u, false
	}
	u.Host, u.Port = from.URI.Host, 0
	return u, true
}

// answerNoBinding is §16.5's empty target set: 480 for a subscriber who
// has no phone registered now, 404 for a user we do not know. Only a
// caller who authenticated learns the difference: anyone else could use
// it to list our subscribers.
func (p *Proxy) answerNoBinding(r *Request, u *sip.URI) {
	if p.config().Users != nil && r.authenticated {
		known, err := p.config().Users.Exists(r.ctx, sip.Unescape(u.User), strings.ToLower(u.Host))
		if err == nil && known {
			r.Respond(480, "Temporarily Unavailable")
			return
		}
	}
	r.Respond(404, "Not Found")
}

// relayStage forwards the request to its target set: statefully with a
// response context, or statelessly.
type relayStage struct{}

func (relayStage) Name() string { return "relay" }

func (relayStage) Serve(r *Request, _ func()) {
	if len(r.Targets) == 0 {
		r.Respond(404, "Not Found")
		return
	}
	if r.stateless || r.Tx == nil {
		r.proxy.forwardStateless(r)
		return
	}
	r.proxy.forwardStateful(r)
}
