package proxy

import (
	"strings"

	"github.com/parley-sip/parley/gruu"
	"github.com/parley-sip/parley/sip"
)

// locationStage is §16.5 for our domains: the target set is the AOR's
// bindings. Requests for other domains pass on with the Request-URI as
// the only target.
type locationStage struct{}

func (locationStage) Name() string { return "location" }

func (locationStage) Serve(r *Request, next func()) {
	p := r.proxy
	if len(r.Targets) > 0 {
		next() // a stage before (a dial plan to gateways) chose the targets
		return
	}
	u, err := r.Msg.RequestURIParsed()
	// An ACK for a 2xx goes where its Request-URI says; but a stateless
	// proxy must send a non-2xx ACK where it sent the INVITE (§16.11).
	// A GRUU of ours says where only through the location service.
	skipACK := r.Msg.Method() == "ACK" && !p.config().Stateless && !u.Params.Has(gruu.Param)
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
	p.locate(r, u, next)
}

// locate makes the target set of a Request-URI of our domain: the AOR's
// bindings, or for a GRUU its instance's (RFC 5627), and hands on to
// next; with none it answers as §16.5 and RFC 5626/5627 say.
func (p *Proxy) locate(r *Request, u sip.URI, next func()) {
	ref, isGRUU, err := p.readGRUU(&u)
	if err != nil {
		if r.Msg.Method() == "ACK" {
			r.answered = true // nothing to answer, nowhere to send
			return
		}
		r.Respond(404, "Not Found") // no such GRUU here (RFC 5627 §6)
		return
	}
	aor := u.AOR()
	if isGRUU {
		aor = ref.AOR
	}
	bindings, err := p.store.Lookup(r.ctx, aor, p.now())
	if err != nil {
		// Debug: a store whose database fails logs the outage itself,
		// once each way; a line per call would be thousands a second.
		p.log.Debug("proxy: location lookup failed", "error", err)
		r.Respond(503, "Location Service Unavailable", "Retry-After", "5")
		return
	}
	all := len(bindings)
	invalidated := false
	if isGRUU {
		bindings, invalidated = gruuBindings(bindings, ref)
	}
	had := len(r.Targets)
	var dead int
	r.Targets, dead = p.bindingTargets(r.Targets, bindings)
	if len(r.Targets) == had {
		switch {
		case r.Msg.Method() == "ACK" && isGRUU:
			r.answered = true // the phone is gone: nowhere to send
		case r.Msg.Method() == "ACK":
			r.Targets = append(r.Targets, Target{})
			next()
		case dead > 0:
			r.Respond(430, "Flow Failed") // RFC 5626 §5.3: every flow of the phone is gone
		case invalidated:
			r.Respond(404, "Not Found") // the instance registered again: the temporary GRUU is gone
		case isGRUU && (all > 0 || ref.Temp):
			r.Respond(480, "Temporarily Unavailable") // a GRUU of ours whose instance is not registered now
		default:
			p.answerNoBinding(r, &u)
		}
		return
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
