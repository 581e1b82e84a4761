package proxy

import (
	"context"

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

	stateless     bool // an ACK or stateless mode: no transaction, no response context
	preloaded     bool // an initial request that carries a route past us
	authenticated bool // the auth stage verified the sender's credentials
	answered      bool
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
}

// Stage is one step of request processing. It either answers the request
// (Respond) or calls next to hand it on.
type Stage interface {
	Name() string
	Serve(r *Request, next func())
}

func (r *Request) run(i int) {
	if i >= len(r.proxy.stages) || r.answered {
		return
	}
	r.proxy.stages[i].Serve(r, func() { r.run(i + 1) })
}

// Context returns the request's context.
func (r *Request) Context() context.Context { return r.ctx }

// Proxy returns the proxy the request runs in.
func (r *Request) Proxy() *Proxy { return r.proxy }

// Respond answers the request with a locally made response. An ACK is
// never answered (§17.2.3).
func (r *Request) Respond(code int, reason string, extra ...string) {
	if r.Msg.Method() == "ACK" {
		r.answered = true
		return
	}
	toTag := ""
	if code > 100 {
		toTag = r.proxy.toTag(r.Msg)
	}
	if r.proxy.config().ServerHeader != "" {
		extra = append(extra, "Server", r.proxy.config().ServerHeader)
	}
	r.RespondWith(sip.NewResponse(r.Msg, code, reason, toTag, extra...))
}

// RespondWith sends resp, made by a stage, as the answer to the request.
func (r *Request) RespondWith(resp *sip.Message) {
	if r.Msg.Method() == "ACK" {
		r.answered = true
		return
	}
	r.answered = true
	if r.Tx != nil {
		if err := r.Tx.Respond(resp); err != nil {
			r.proxy.log.Debug("proxy: sending response failed", "error", err)
		}
		return
	}
	dst := transport.ResponseTarget(r.In)
	if err := r.proxy.tp.Send(dst, resp.Bytes()); err != nil {
		r.proxy.log.Debug("proxy: sending response failed", "error", err)
	}
}

// drop ends a request that cannot be answered, and its transaction.
func (r *Request) drop() {
	r.answered = true
	if t, ok := r.Tx.(interface{ Terminate() }); ok {
		t.Terminate()
	}
}

// Answered reports whether a stage has answered the request.
func (r *Request) Answered() bool { return r.answered }
