package b2bua

import (
	"errors"
	"strconv"
	"strings"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// inDialog handles a request the far end of leg l sent in its dialog.
// Every method is dispatched here, in one switch: an extension (REFER,
// session timers) adds its case. tx is nil for an ACK.
func (c *Call) inDialog(l *Leg, tx proxy.ServerTx, req *sip.Message) {
	method := req.Method()
	if method == "ACK" {
		c.onACK(l, req)
		return
	}
	if c.state == stateEnded {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if err := l.d.ReceiveRequest(req); err != nil {
		se := &sip.Error{Code: 500, Reason: "Server Internal Error"}
		errors.As(err, &se)
		if errors.Is(err, dialog.ErrTerminated) {
			se = &sip.Error{Code: 481, Reason: "Call/Transaction Does Not Exist"}
		}
		respond(tx, req, se.Code, se.Reason)
		return
	}
	if c.detached(l) {
		c.onDetached(l, tx, req)
		return
	}
	c.dispatch(l, tx, req)
}

// dispatch takes a request of l's far end that its dialog accepted. One
// that overtook an ACK (UDP, or the stage's workers, reorder them) is
// held until the ACK has gone on: see waitsFor.
func (c *Call) dispatch(l *Leg, tx proxy.ServerTx, req *sip.Message) {
	if c.state == stateEnded {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	method := req.Method()
	for _, iv := range []*invite{c.answer, c.pending} {
		if iv != nil && iv.waitsFor(l, method) {
			iv.held = append(iv.held, func() { c.dispatch(l, tx, req) })
			return
		}
	}
	switch method {
	case "BYE":
		c.onBYE(l, tx, req)
	case "INVITE", "UPDATE":
		if c.pending != nil {
			c.glare(l, tx, req)
			return
		}
		if c.refusedRefresh(l, tx, req) {
			return
		}
		c.relay(l, tx, req)
	case "PRACK":
		c.relayPRACK(l, tx, req)
	case "REFER":
		c.onREFER(l, tx, req)
	default: // INFO, OPTIONS, MESSAGE, NOTIFY, and what no case takes
		c.relay(l, tx, req)
	}
}

// respond answers an in-dialog request with a local response.
func respond(tx proxy.ServerTx, req *sip.Message, code int, reason string, extra ...string) *sip.Message {
	resp := sip.NewResponse(req, code, reason, "", extra...)
	if tx != nil {
		_ = tx.Respond(resp)
	}
	return resp
}

// answer responds on l and records the response in its dialog.
func (l *Leg) answer(tx proxy.ServerTx, req *sip.Message, code int, reason string, extra ...string) {
	resp := sip.NewResponse(req, code, reason, "", extra...)
	_ = l.d.SendResponse(resp)
	if tx != nil {
		_ = tx.Respond(resp)
	}
}

// glare answers an offer that crosses one in progress (§14.1, §14.2,
// RFC 3311 §5.2): 491 when the other side's offer is pending, 500 with
// Retry-After when the same side sent two.
func (c *Call) glare(l *Leg, tx proxy.ServerTx, req *sip.Message) {
	if c.pending.from == l {
		l.answer(tx, req, 500, "Offer Pending", "Retry-After", "1")
		return
	}
	l.answer(tx, req, 491, "Request Pending")
}

// onBYE ends the call from leg l's side: BYE on the other, and 200 there
// once the call's record is durable.
func (c *Call) onBYE(l *Leg, tx proxy.ServerTx, req *sip.Message) {
	defer c.afterRecord(func() { l.answer(tx, req, 200, "OK") })
	by := cdr.Caller
	if l.side == SideB {
		by = cdr.Callee
	}
	if c.state == stateSetup {
		// A BYE in an early dialog (§15): the call ends unanswered.
		c.respondA(487, "Request Terminated")
		c.finish(487, cdr.ReasonHungUpEarly, by)
		return
	}
	c.ackOvertaken(l)
	c.relayBye(c.peer(l), req)
	c.end(by, cdr.ReasonHungUp)
}

// ackOvertaken ACKs the far side's 2xx whose ACK l's BYE overtook (UDP
// reorders them): the far side's dialog is confirmed before its BYE
// comes, so its 2xx is not retransmitted into a call that has ended.
func (c *Call) ackOvertaken(l *Leg) {
	for _, iv := range []*invite{c.answer, c.pending} {
		if iv != nil && iv.from == l && !iv.acked {
			iv.passACK(nil)
		}
	}
}

// onACK passes the ACK of a 2xx on to the 2xx it answers across the call.
func (c *Call) onACK(l *Leg, ack *sip.Message) {
	cs, err := ack.CSeq()
	if err != nil {
		return
	}
	for _, iv := range []*invite{c.answer, c.pending} {
		if iv != nil && iv.from == l && iv.seq == cs.Seq && iv.out != nil {
			iv.passACK(ack)
			if iv == c.pending {
				c.pending = nil
			}
			return
		}
	}
}

// onCancel is the caller's CANCEL: every branch is cancelled, and the
// caller's INVITE gets 487 once they have ended.
func (c *Call) onCancel() {
	if c.state != stateSetup || c.cancelled {
		return
	}
	c.cancelled = true
	c.su.groups = nil
	c.cancelBranches()
	if c.liveBranches() == 0 {
		c.respondA(487, "Request Terminated")
		c.finish(487, "Request Terminated", cdr.Caller)
	}
}

// relay sends a request of leg l's far end on across the call, and its
// responses back.
func (c *Call) relay(l *Leg, tx proxy.ServerTx, req *sip.Message) {
	c.relayTo(l, c.peer(l), tx, req)
}

// relayPRACK passes a PRACK to the B dialog whose reliable provisional
// it acknowledges, its RAck renumbered (RFC 3262 §7.2).
func (c *Call) relayPRACK(l *Leg, tx proxy.ServerTx, req *sip.Message) {
	if l.side != SideA {
		c.relay(l, tx, req)
		return
	}
	n, ok := parseRAck(req.Header("RAck"))
	if !ok {
		l.answer(tx, req, 400, "Malformed RAck")
		return
	}
	var maps []rseqMap
	if c.su != nil { // none once answered, nor the early dialogs they are of
		maps = c.su.rseq
	}
	for _, m := range maps {
		if bl := c.earlies[m.d]; m.a == n && bl != nil {
			c.relayTo(l, bl, tx, req, "RAck", strconv.FormatUint(uint64(m.b), 10)+" "+strconv.FormatUint(uint64(m.bSeq), 10)+" INVITE")
			return
		}
	}
	l.answer(tx, req, 481, "No Such Reliable Response")
}

// relayTo sends req, from l's far end, to leg to; extra are header lines
// the B2BUA sets itself (a renumbered RAck).
func (c *Call) relayTo(l, to *Leg, tx proxy.ServerTx, req *sip.Message, extra ...string) {
	if to == nil || to.d.State() == dialog.Terminated {
		l.answer(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	out, err := to.d.NewRequest(req.Method(), "", c.b.passed(req, c.b.agent(false, extra)...)...)
	if err != nil {
		l.answer(tx, req, 500, "Cannot Relay")
		return
	}
	c.withBody(out, req, l.side)
	out.RelayOf(req)
	r := &relayed{c: c, from: l, to: to, tx: tx, req: req}
	if req.Method() == "INVITE" || req.Method() == "UPDATE" {
		c.offerRefresh(to, out)
		cs, _ := req.CSeq()
		r.offer = &invite{c: c, from: l, to: to, seq: cs.Seq, tx: tx}
		c.pending = r.offer
	}
	c.b.cfg.Outbound.Start(c.ctx(), &r.flight, outbound.Request{Msg: out, Dest: to.dest}, r)
}

// relayed is one request relayed across the call.
type relayed struct {
	c        *Call
	from, to *Leg
	tx       proxy.ServerTx
	req      *sip.Message // as the far end of from sent it
	flight   outbound.Flight
	offer    *invite // for an INVITE or UPDATE: the glare guard
}

// Post queues the request's events with its call's.
func (r *relayed) Post(fn func()) { r.c.Post(fn) }

// Stamp adds a Via of the listener it leaves from.
func (r *relayed) Stamp(msg *sip.Message, _ transport.Target, out *transport.ListenerInfo, last bool) (*sip.Message, error) {
	if !last {
		msg = msg.Clone()
	}
	msg.PrependHeader("Via", string(sip.AppendVia(nil, out.Proto.ViaName(), out.Host, out.Port, transaction.NewBranch())))
	return msg, nil
}

// Response maps a response of to's far end back to the request from.
func (r *relayed) Response(resp *sip.Message, err error) {
	c := r.c
	if err != nil || resp == nil {
		resp = sip.NewResponse(r.req, 503, "Service Unavailable", "")
	} else {
		_ = r.to.d.ReceiveResponse(resp)
	}
	code := resp.StatusCode()
	method := r.req.Method()
	if code == 100 {
		return
	}
	if method == "INVITE" && code >= 200 && code < 300 && r.offer.answered {
		r.offer.resendACK() // a retransmission of the 2xx we passed on
		return
	}
	var extra []string
	if code < 300 && (method == "INVITE" || method == "UPDATE") {
		extra = append(extra, "Contact", "<"+r.from.d.Info().LocalTarget+">")
	}
	out := sip.NewResponse(r.req, code, resp.Reason(), "", c.b.passed(resp, c.b.agent(true, extra)...)...)
	c.withBody(out, resp, r.to.side)
	out.RelayOf(resp)
	if r.offer != nil && code >= 200 && code < 300 {
		c.refreshed(r.from, r.to, r.req, resp, out)
	}
	if code >= 200 {
		r.flight.Release()
		_ = r.from.d.SendResponse(out)
	}
	if r.tx != nil {
		_ = r.tx.Respond(out)
	}
	if code < 200 || r.offer == nil {
		return
	}
	switch {
	case method == "INVITE" && code < 300:
		r.offer.out, r.offer.toOK, r.offer.answered = out, resp, true
		r.offer.complete = len(r.req.Body()) > 0 && len(resp.Body()) > 0
		r.offer.arm()
	case c.pending == r.offer:
		c.pending = nil
	}
	if code == 481 || code == 408 {
		// RFC 5057 §5.1: the far end has lost the dialog; so has the call.
		c.bye(r.from)
		c.bye(r.to)
		c.end(cdr.System, "dialog lost: "+strconv.Itoa(code))
	}
}

// parseRAck reads the response number of an RAck value (RFC 3262 §7.2:
// "RAck: response-num CSeq-num Method"); ok is false unless all three
// parts are there and both numbers fit 32 bits.
func parseRAck(v string) (rseq uint32, ok bool) {
	f := strings.Fields(v)
	if len(f) != 3 {
		return 0, false
	}
	n, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil {
		return 0, false
	}
	if _, err := strconv.ParseUint(f[1], 10, 32); err != nil {
		return 0, false
	}
	return uint32(n), true
}
