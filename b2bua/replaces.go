package b2bua

import (
	"errors"
	"slices"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sessiontimer"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// An attended transfer (RFC 3515 with RFC 3891's Replaces, RFC 5589
// §7): the transferor is in two calls through Parley, with the party to
// transfer (call 1) and with the target (call 2), and sends REFER on
// call 1 naming the target with Replaces of its own dialog in call 2.
// Both dialogs are legs of Parley's, so no new call is placed: call 2
// hands its target leg over to call 1 and ends, and Parley joins the
// party who stays to the target with two re-INVITEs (RFC 3725 flow I: an
// offer fetched from the target with an INVITE without a body, given to
// the party who stays, whose answer goes to the target in the ACK).

// errNotTransferable is why a call cannot hand a leg over now.
var errNotTransferable = errors.New("b2bua: the replaced call is not answered or is busy")

// reasonTransferred is the record's reason of a call whose target leg
// was handed to another call.
const reasonTransferred = "transferred (attended)"

// legByReplaces finds the leg a Replaces names, seen from Parley: the
// to-tag is Parley's tag in that dialog, the from-tag the far end's
// (RFC 3891 §3, as the recipient of the replacing request matches it).
func (b *B2BUA) legByReplaces(r sip.Replaces) *Leg {
	d := b.table.Find(dialog.ID{CallID: r.CallID, LocalTag: r.ToTag, RemoteTag: r.FromTag})
	if d == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.legs[d]
}

// onAttended starts an attended transfer from leg l's REFER.
func (c *Call) onAttended(l *Leg, tx proxy.ServerTx, req *sip.Message, rt sip.ReferTo) {
	other := c.b.legByReplaces(*rt.Replaces)
	if other == nil || other.call == c {
		l.answer(tx, req, 481, "Replaced Dialog Does Not Exist")
		return
	}
	x := c.newTransfer(l, req, rt)
	x.attended = true
	l.answer(tx, req, 202, "Accepted")
	x.notify(100, "Trying", false)
	c2 := other.call
	c2.Post(func() {
		// The target's route and trunk are the second call's: the joined
		// call's record bills them from now on.
		route, trunk := c2.route(), c2.trunk
		moved, err := c2.handOver(other)
		c.Post(func() {
			x.routeName, x.trunk = route, trunk
			x.adopt(moved, err)
		})
	})
}

// handOver gives up the leg across from replaced (the target's) and ends
// this call: BYE to the transferor on replaced, the target left alone.
// It runs on this call's queue and returns the target's leg as it was.
func (c *Call) handOver(replaced *Leg) (*Leg, error) {
	if c.state != stateAnswered || c.pending != nil || c.xfer != nil || c.detached(replaced) {
		return nil, errNotTransferable
	}
	moved := c.peer(replaced)
	if moved == nil {
		return nil, errNotTransferable
	}
	moved.stopTimer()
	switch moved {
	case c.a:
		c.a = nil
	case c.bl:
		c.bl, c.early = nil, nil
	}
	delete(c.earlies, moved.d)
	if c.moved != nil {
		c.moved.added = slices.DeleteFunc(c.moved.added, func(l *Leg) bool { return l == moved })
	}
	c.bye(replaced)
	by := cdr.Caller
	if replaced.side == SideB {
		by = cdr.Callee
	}
	c.end(by, reasonTransferred)
	return moved, nil
}

// adopt takes the target's leg into this call, in the referrer's place
// once the media is joined, and starts the first re-INVITE.
func (x *transfer) adopt(moved *Leg, err error) {
	c := x.c
	if x.done {
		if moved != nil {
			c.bye(&Leg{call: c, side: moved.side, d: moved.d, dest: moved.dest})
		}
		return
	}
	if err != nil || c.state != stateAnswered || c.pending != nil {
		if moved != nil {
			c.bye(&Leg{call: c, side: moved.side, d: moved.d, dest: moved.dest})
		}
		x.fail(481, "Replaced Call Not Available")
		return
	}
	// A new Leg, not the old one changed: requests on other goroutines
	// may still be reading the old one's call.
	x.leg = &Leg{call: c, side: x.referrer.side, d: moved.d, dest: moved.dest, trunk: moved.trunk}
	c.b.addLeg(x.leg)
	c.addLeg(x.leg)
	if !x.admitLimits(targetKeys(x.target, x.trunk)) {
		return
	}
	req, err := x.leg.d.NewRequest("INVITE", "")
	if err != nil {
		x.fail(500, "Cannot Reconnect")
		return
	}
	c.offerRefresh(x.leg, req)
	j := &join{x: x, to: x.leg, req: req}
	cs, _ := req.CSeq()
	j.guard = &invite{c: c, to: x.leg, seq: cs.Seq}
	c.pending = j.guard
	j.start()
}

// join is one of the attended transfer's re-INVITEs: first to the target
// without a body (its 2xx holds an offer, whose ACK waits), then to the
// party who stays with that offer (its 2xx holds the answer).
type join struct {
	x      *transfer
	to     *Leg
	req    *sip.Message
	guard  *invite
	first  *join // for the second: the first, whose 2xx waits for our ACK
	ok     *sip.Message
	flight outbound.Flight
	final  bool
	ack    *sip.Message
	ackDst transport.Target
}

func (j *join) start() {
	c := j.x.c
	c.b.cfg.Outbound.Start(c.ctx(), &j.flight, outbound.Request{Msg: j.req, Dest: j.to.dest}, j)
}

func (j *join) Post(fn func()) { j.x.c.Post(fn) }

func (j *join) Stamp(msg *sip.Message, _ transport.Target, out *transport.ListenerInfo, last bool) (*sip.Message, error) {
	return stampVia(msg, out, last), nil
}

func (j *join) Response(resp *sip.Message, err error) {
	x, c := j.x, j.x.c
	if err != nil || resp == nil {
		resp = sip.NewResponse(j.req, 408, "Request Timeout", "")
	} else {
		_ = j.to.d.ReceiveResponse(resp)
	}
	code := resp.StatusCode()
	switch {
	case code < 200:
		return
	case j.final:
		if code < 300 && j.ack != nil {
			c.sendACK(j.ack, j.ackDst) // a retransmitted 2xx
		}
		return
	}
	j.final = true
	j.flight.Release()
	if code >= 300 {
		if j.first != nil {
			j.first.ackWith(nil) // the target's 2xx must be ACKed even so
		}
		c.pending = nil
		x.fail(code, resp.Reason())
		return
	}
	j.ok = resp
	if j.first == nil {
		j.offerToKeep()
		return
	}
	j.ackWith(nil)
	j.first.ackWith(resp)
	c.pending = nil
	x.ok = j.first.ok
	x.complete(resp)
}

// offerToKeep sends the target's offer (the first 2xx's body) to the
// party who stays; our ACK to the target waits for the answer.
func (j *join) offerToKeep() {
	x, c := j.x, j.x.c
	req, err := x.keep.d.NewRequest("INVITE", "")
	if err != nil {
		j.ackWith(nil)
		c.pending = nil
		x.fail(500, "Cannot Reconnect")
		return
	}
	if body := j.ok.Body(); len(body) > 0 {
		req.SetBody(j.ok.ContentType(), body)
		c.noteBody(x.referrer.side, j.ok.ContentType(), body)
	}
	c.offerRefresh(x.keep, req)
	next := &join{x: x, to: x.keep, req: req, guard: j.guard, first: j}
	next.start()
}

// ackWith ACKs this re-INVITE's 2xx, carrying from's body (the answer
// from the party who stays) when from is set.
func (j *join) ackWith(from *sip.Message) {
	if j.ok == nil {
		return
	}
	c := j.x.c
	if from != nil && len(from.Body()) > 0 {
		c.noteBody(c.sideAcross(j.to), from.ContentType(), from.Body())
	}
	c.ack(j.to, j.ok, from, func(a *sip.Message, dst transport.Target) { j.ack, j.ackDst = a, dst })
}

// An INVITE with Replaces (RFC 3891) from a phone outside any of
// Parley's dialogs, naming a confirmed leg of a call of Parley's: the
// phone takes that leg's place in the call (an attended transfer a phone
// completes itself, a call taken over from another phone). The party
// across the call is re-INVITEd with the new phone's offer, the new
// phone gets the answer, and the replaced leg gets a BYE. The phone has
// passed authentication first (the Replacing stage goes after it): the
// dialog's identifiers alone are no proof, as watchers of a busy lamp
// see them (RFC 3891 §7).

// replacing takes an initial INVITE whose Replaces names a leg of
// Parley's: true when it was taken here (replaced, or refused with the
// reason). An INVITE without Replaces, or replacing a dialog Parley only
// proxies, goes on as any other; with every call the B2BUA's (Config.All)
// a Replaces naming none of them is 481.
func (b *B2BUA) replacing(r *proxy.Request) bool {
	rep, ok, err := r.Msg.Replaces()
	if err != nil || !ok {
		return false
	}
	l := b.legByReplaces(rep)
	if l == nil && b.pickingUp(rep, r) {
		return true
	}
	if l == nil && b.cfg.All {
		// Every call is the B2BUA's: the dialog is none of ours.
		_ = r.Tx.Respond(sip.NewResponse(r.Msg, 481, "Replaced Dialog Does Not Exist", dialog.NewTag()))
		return true
	}
	if l == nil {
		return false
	}
	if b.refuseUnvouched(r) {
		return true
	}
	c, in := l.call, r.In
	tx := senderTx{ServerTx: r.Tx, accountable: b.accountable(r)}
	c.Post(func() { c.replaceLeg(l, rep, tx, in) })
	return true
}

// reasonUnvouched refuses a Replaces from a sender the auth stage let in
// without proof (another domain's caller, passwords on): it could be
// anyone, and a call's identifiers are no secret.
const reasonUnvouched = "Replaces Needs Authentication"

// refuseUnvouched answers 403 to an INVITE with Replaces whose sender
// has not proved who it is; true when it did.
func (b *B2BUA) refuseUnvouched(r *proxy.Request) bool {
	if b.cfg.Vouched == nil || b.cfg.Vouched(r) {
		return false
	}
	_ = r.Tx.Respond(sip.NewResponse(r.Msg, 403, reasonUnvouched, dialog.NewTag()))
	return true
}

// replaceLeg starts replacing leg l with the phone that sent in.Msg.
func (c *Call) replaceLeg(l *Leg, rep sip.Replaces, tx proxy.ServerTx, in *transport.Incoming) {
	inv := in.Msg
	answer := func(code int, reason string) { _ = tx.Respond(sip.NewResponse(inv, code, reason, dialog.NewTag())) }
	switch {
	case c.canPickUp(l):
		c.pickup(l, tx, in) // pickup.go
		return
	case c.state != stateAnswered || c.detached(l) || (l != c.a && l != c.bl):
		// A leg that left the call, or an early one of a call given up
		// or answered by another phone.
		answer(481, "Replaced Dialog Does Not Exist")
		return
	case rep.EarlyOnly:
		answer(486, "Busy Here") // RFC 3891 §3: the dialog is confirmed
		return
	case c.pending != nil || c.xfer != nil:
		answer(491, "Request Pending")
		return
	}
	keep := c.peer(l)
	req, err := keep.d.NewRequest("INVITE", "")
	if err != nil {
		answer(500, "Cannot Reconnect")
		return
	}
	c.withBody(req, inv, l.side)
	c.offerRefresh(keep, req)
	cs, _ := req.CSeq()
	rp := &replacer{c: c, old: l, keep: keep, tx: tx, in: in, req: req, guard: &invite{c: c, to: keep, seq: cs.Seq}}
	c.pending = rp.guard
	c.b.cfg.Outbound.Start(c.ctx(), &rp.flight, outbound.Request{Msg: req, Dest: keep.dest}, rp)
}

// replacer is the re-INVITE that gives the party who stays the new
// phone's offer; its 2xx answers the new phone.
type replacer struct {
	c      *Call
	old    *Leg // the leg replaced
	keep   *Leg
	tx     proxy.ServerTx
	in     *transport.Incoming
	req    *sip.Message
	guard  *invite
	flight outbound.Flight
	final  bool
	out    *invite // the 2xx to the new phone, until its ACK
}

func (rp *replacer) Post(fn func()) { rp.c.Post(fn) }

func (rp *replacer) Stamp(msg *sip.Message, _ transport.Target, out *transport.ListenerInfo, last bool) (*sip.Message, error) {
	return stampVia(msg, out, last), nil
}

func (rp *replacer) Response(resp *sip.Message, err error) {
	c := rp.c
	if err != nil || resp == nil {
		resp = sip.NewResponse(rp.req, 408, "Request Timeout", "")
	} else {
		_ = rp.keep.d.ReceiveResponse(resp)
	}
	code := resp.StatusCode()
	switch {
	case code < 200:
		return
	case rp.final:
		if code < 300 && rp.out != nil {
			rp.out.resendACK() // a retransmission of the keeper's 2xx
		}
		return
	}
	rp.final = true
	rp.flight.Release()
	if c.pending == rp.guard {
		c.pending = nil
	}
	if code >= 300 || c.state != stateAnswered {
		_ = rp.tx.Respond(sip.NewResponse(rp.in.Msg, code, resp.Reason(), dialog.NewTag()))
		return
	}
	rp.answerNew(resp)
}

// answerNew answers the new phone with the keeper's answer, puts its leg
// in the old one's place, and hangs the old one up.
func (rp *replacer) answerNew(keepOK *sip.Message) {
	c, inv := rp.c, rp.in.Msg
	out := sip.NewResponse(inv, 200, "OK", dialog.NewTag(), "Contact", "<"+contactFor(rp.in.Listener)+">")
	c.withBody(out, keepOK, rp.keep.side)
	ans, timed := c.replacerTimer(inv, out)
	d, err := c.b.table.NewUAS(inv, out)
	if err != nil {
		_ = rp.tx.Respond(sip.NewResponse(inv, 500, "Cannot Make Dialog", ""))
		return
	}
	l := &Leg{call: c, side: rp.old.side, d: d}
	if len(d.Info().RouteSet) == 0 {
		l.dest = transport.Target{Proto: rp.in.Proto, Addr: rp.in.Source, Conn: rp.in.Conn, Listener: rp.in.Listener}
	}
	c.b.addLeg(l)
	c.b.own(d.ID().CallID)
	c.addLeg(l)
	rp.out = c.newInvite2xx(l, rp.keep, keepOK, out, rp.tx)
	c.pending = rp.out // until the new phone's ACK crosses to the keeper
	_ = rp.tx.Respond(out)
	if rp.old == c.a {
		c.a = l
		c.aUnproved = false // the new phone was vouched for (refuseUnvouched)
		c.aStranger = !accountableTx(rp.tx)
	} else {
		c.bl, c.early = l, l
	}
	rp.old.stopTimer()
	c.leave(rp.old)
	c.bye(rp.old)
	if timed {
		c.armLeg(l, ans.Session, ans.Session.LocalRefresh(true), inv.HasToken("Allow", "UPDATE"))
		if s, err := c.b.control().SessionTimer.Accept(keepOK); err == nil {
			c.armLeg(rp.keep, s, s.LocalRefresh(false), rp.keep.allowsUpdate())
		}
	}
}

// replacerTimer is the new phone's session timer answer, written on its
// 2xx; false when timers are off or its request asks for none usable.
func (c *Call) replacerTimer(inv, out *sip.Message) (sessiontimer.Answer, bool) {
	ct := c.b.control()
	if !ct.timersOn() {
		return sessiontimer.Answer{}, false
	}
	ans, err := ct.SessionTimer.Answer(inv)
	if err != nil || ans.Reject {
		return sessiontimer.Answer{}, false
	}
	setTimerHeaders(out, ans)
	return ans, true
}
