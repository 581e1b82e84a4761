package proxy

import (
	"strings"
)

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
		r.send(p.registrar.Handle(r.ctx, r.In, p.toTag(r.Msg)))
	}()
}

// Allow is the methods Parley implements, as an answer to OPTIONS names
// them; stages that answer OPTIONS themselves say the same.
const Allow = allowed

// allowed is what the server itself accepts.
const allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, PRACK, SUBSCRIBE, NOTIFY, REFER, MESSAGE"

// supported lists the option tags of the extensions the server itself
// implements in the requests it answers: what OPTIONS advertises, and all
// a Require may name (§8.2.2.3).
var supported = []string{"path", "outbound", "gruu"}

// supportedHeader is supported as a Supported header's value.
var supportedHeader = strings.Join(supported, ", ")

func (p *Proxy) answerOptions(r *Request) {
	if r.refuseUnsupported() {
		return
	}
	if ev := p.config().AllowEvents; ev != nil && ev() != "" {
		r.Respond(200, "OK", "Allow", allowed, "Accept", "application/sdp", "Supported", supportedHeader, "Allow-Events", ev())
		return
	}
	r.Respond(200, "OK", "Allow", allowed, "Accept", "application/sdp", "Supported", supportedHeader)
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
