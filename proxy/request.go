package proxy

import (
	"context"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// Request is one request on its way through the stages: the message, the
// transaction it arrived in, and the target set stages build (§16.5).
type Request struct {
	proxy *Proxy
	// Tx is the server transaction; nil when forwarding statelessly.
	Tx  ServerTx
	In  *transport.Incoming
	Msg *sip.Message
	// Targets is the target set the relay stage forwards to.
	Targets []Target
	ctx     context.Context

	chain   *chain
	pos     int       // the stage serving the request
	entered time.Time // when that stage was called
	next    func()    // r.advance, made once per request

	stateless     bool // an ACK or stateless mode: no transaction, no response context
	preloaded     bool // an initial request that carries a route past us
	flowRouted    bool // our Route entry named a phone's flow (a flow token we signed): it goes there
	authenticated bool // the auth stage verified the sender's credentials
	user, realm   string
	answered      bool
	dropped       bool
	// ended is set, on the reading goroutine, when the request was
	// forwarded statelessly there and then: nothing holds it afterwards,
	// so the proxy releases it to the transport (transport.Incoming.
	// Release) once the stages return.
	ended bool
}

// Target is one destination of the target set.
type Target struct {
	// URI becomes the Request-URI of the branch; "" keeps the request's.
	URI string
	// Q orders targets for serial forking, in thousandths.
	Q int
	// Route is prepended to the branch's Route headers (a binding's Path).
	Route []string
	// Dest, when its Proto is set, is where the branch is sent regardless
	// of URI and Route: the flow a phone behind NAT registered on.
	Dest transport.Target
	// Failover makes the target one of ordered alternatives (a dial
	// plan's gateways): targets are tried one at a time in Q order
	// whatever proxy.forking says, and the next only after a 5xx, a 408
	// or a transport error; any other final response ends the search.
	Failover bool
	// Flows are the other live flows of the same phone (RFC 5626), tried
	// in turn when Dest fails.
	Flows []transport.Target
	// flow marks a target made of outbound flows: when none of them can
	// be reached the branch's answer is 430 Flow Failed.
	flow bool
}

// newRequest makes the request the chain serves.
func (p *Proxy) newRequest(tx ServerTx, in *transport.Incoming, stateless bool) *Request {
	r := &Request{proxy: p, Tx: tx, In: in, Msg: in.Msg, ctx: p.requestContext(), chain: p.chain, stateless: stateless}
	r.next = r.advance
	return r
}

// Context returns the request's context: it ends when the server stops
// or when the request's time is up (Config.RequestTimeout), whichever
// comes first. Stages pass it to whatever may block: stores, DNS.
func (r *Request) Context() context.Context { return r.ctx }

// AddTarget adds a destination to the target set the relay stage forks
// to (§16.5).
func (r *Request) AddTarget(t Target) { r.Targets = append(r.Targets, t) }

// Identity returns the subscriber whose credentials the auth stage
// verified, and the realm; ok is false when nobody authenticated (auth
// off, a trusted source, or a request that needs none).
func (r *Request) Identity() (user, realm string, ok bool) {
	return r.user, r.realm, r.authenticated
}

// Vouched reports whether the request's From can be believed: the auth
// stage verified the sender's credentials, authentication is off (any
// From is as good as any other then), or the request comes from a
// gateway or a trusted network, which answer for their own callers. A
// request from another domain that the policy lets in unchallenged
// (auth.allow_unauthenticated_to_local) is not vouched for.
func (r *Request) Vouched() bool {
	if r.authenticated {
		return true
	}
	if r.proxy.config().Auth == nil {
		return true
	}
	return r.fromTrusted()
}

// Accountable reports whether someone answers for the request's sender:
// the auth stage verified its credentials, or it comes from a gateway
// or a trusted network. Unlike Vouched it does not hold for everyone
// when passwords are off: a From that nobody checked may be believed,
// but calling out at the office's cost takes more than a name.
func (r *Request) Accountable() bool {
	return r.authenticated || r.fromTrusted()
}

// fromTrusted reports whether the request comes from a gateway or a
// trusted network (security.trusted).
func (r *Request) fromTrusted() bool {
	cfg := r.proxy.config()
	src := r.In.Source.Addr()
	return cfg.RelayTrusted != nil && cfg.RelayTrusted(src) || cfg.Trusted != nil && cfg.Trusted(src)
}

// Proxy returns the proxy the request runs in.
func (r *Request) Proxy() *Proxy { return r.proxy }

// Respond answers the request with a locally made response. An ACK is
// never answered (§17.2.3).
func (r *Request) Respond(code int, reason string, extra ...string) {
	if r.Msg.Method() == "ACK" {
		r.answered = true
		return
	}
	r.RespondWith(r.response(code, reason, extra...))
}

// response makes a local response to the request: To tagged (§8.2.6.2)
// but for a 100, and Server when configured.
func (r *Request) response(code int, reason string, extra ...string) *sip.Message {
	toTag := ""
	if code > 100 {
		toTag = r.proxy.toTag(r.Msg)
	}
	if r.proxy.config().ServerHeader != "" {
		extra = append(extra, "Server", r.proxy.config().ServerHeader)
	}
	return sip.NewResponse(r.Msg, code, reason, toTag, extra...)
}

// RespondWith sends resp, made by a stage, as the answer to the request.
func (r *Request) RespondWith(resp *sip.Message) {
	r.answered = true
	if r.Msg.Method() != "ACK" {
		r.send(resp)
	}
}

// send sends resp upstream. It touches none of the request's state, so a
// goroutine the request was handed to (a durable REGISTER, a DNS lookup)
// may answer with it while the chain, on the reading goroutine, unwinds.
func (r *Request) send(resp *sip.Message) {
	if r.Tx != nil {
		if err := r.Tx.Respond(resp); err != nil {
			r.proxy.log.Debug("proxy: sending response failed", "error", err)
		}
		return
	}
	dst := transport.ResponseTarget(r.In)
	if err := r.proxy.sendWire(dst, resp); err != nil {
		r.proxy.log.Debug("proxy: sending response failed", "error", err)
	}
}

// Drop ends a request unanswered, and its transaction: what a request
// that cannot be answered, or a source that should learn nothing, gets.
func (r *Request) Drop() {
	r.answered, r.dropped = true, true
	if t, ok := r.Tx.(interface{ Terminate() }); ok {
		t.Terminate()
	}
}

// Answered reports whether a stage has answered the request.
func (r *Request) Answered() bool { return r.answered }
