package b2bua

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// Locator finds where a transfer target is reached: the bindings of a
// user of ours, or the URI itself (proxy.Proxy.Locate). proxy.ErrNoBinding
// (a subscriber with no phone) fails the transfer 480, as a call; any
// other error (proxy.ErrUnknownUser) 404.
type Locator func(ctx context.Context, u sip.URI) ([]proxy.Target, error)

// reasonTransferUnproved refuses a REFER from a caller that did not
// prove who it is.
const reasonTransferUnproved = "Transfer Needs Authentication"

// transferRing bounds how long a transfer target may ring before the
// transfer is given up and the referrer told so.
const transferRing = 120 * time.Second

// Subscription-State values of the NOTIFYs of a REFER (RFC 3515 §2.4.4,
// RFC 6665): the implicit subscription lives while the new call is set
// up, and ends with the final answer.
const (
	referActive     = "active;expires=60"
	referTerminated = "terminated;reason=noresource"
)

// transfer is a blind transfer (RFC 3515) under way in a call: the party
// who sent the REFER (the referrer) is replaced by a new leg to the
// Refer-To target, and the party who stays (keep) is reconnected to it.
// Parley places the new leg itself, so nothing of either side's network
// reaches the new party, and reports the new leg's progress to the
// referrer in NOTIFYs of message/sipfrag.
type transfer struct {
	c        *Call
	referrer *Leg
	keep     *Leg
	event    string // the NOTIFYs' Event: refer;id=CSeq of the REFER
	target   sip.URI
	referBy  string
	targets  []proxy.Target
	trunks   []string     // the dial plan's trunk of each of targets
	t        proxy.Target // the target being tried
	tTrunk   string       // and its trunk, whose account the leg uses
	// authorized: the INVITE to t answers its trunk's challenge.
	authorized bool

	callID, tag string
	seq         uint32
	req         *sip.Message // the new leg's INVITE, for local answers
	flight      outbound.Flight
	inv         *dialog.Invitation
	notified    int // the last provisional reported
	ring        interface{ Stop() bool }
	leg         *Leg         // the new party's leg, once it answered
	ok          *sip.Message // its 2xx
	ack         *sip.Message // our ACK of it
	ackDst      transport.Target
	done        bool

	// For the records and the limits (transferrecord.go).
	attended         bool
	trunk, routeName string // the dial plan's, when it routed the target
	started, ringing time.Time
	limit            *calllimit.Call // the new party's slots
	limitTrunk       string          // the trunk whose slot limit holds, going out through gateways
	full             *calllimit.Refusal
}

// onREFER takes a REFER from the far end of leg l (RFC 3515 §2.4.2): a
// blind transfer of the party across the call to the Refer-To target.
// It is answered 202 only when Parley will act on it; everything else
// gets a final answer saying why.
func (c *Call) onREFER(l *Leg, tx proxy.ServerTx, req *sip.Message) {
	rt, err := req.ReferTo()
	switch {
	case err != nil:
		se := sipError(err)
		l.answer(tx, req, se.Code, se.Reason)
		return
	case c.state != stateAnswered || c.detached(l):
		l.answer(tx, req, 403, "Transfer Needs An Answered Call")
		return
	case rt.Method() != "INVITE":
		l.answer(tx, req, 403, "Only INVITE Can Be Referred")
		return
	case l.side == SideA && c.aUnproved:
		// A transfer is a call Parley places at the referrer's word,
		// through the dial plan and its trunks too: a caller that proved
		// nothing could otherwise call anywhere at the office's cost.
		l.answer(tx, req, 403, reasonTransferUnproved)
		return
	case c.xfer != nil || c.pending != nil:
		l.answer(tx, req, 491, "Request Pending")
		return
	case rt.Replaces != nil:
		c.onAttended(l, tx, req, rt)
		return
	case c.b.cfg.Locate == nil && c.b.cfg.Router == nil:
		l.answer(tx, req, 501, "Transfers Not Available")
		return
	}
	x := c.newTransfer(l, req, rt)
	targets, routed := x.routed()
	if routed && !c.mayDialOut(l, tx) {
		// A trunk's call at a stranger's word is toll fraud: with
		// passwords off everyone is vouched for, so this asks more.
		c.xfer = nil
		l.answer(tx, req, 403, reasonTransferUnproved)
		return
	}
	l.answer(tx, req, 202, "Accepted")
	x.notify(100, "Trying", false)
	if !routed {
		targets, err = x.located()
	}
	switch {
	case errors.Is(err, proxy.ErrNoBinding):
		x.fail(480, "Temporarily Unavailable")
		return
	case err != nil || len(targets) == 0:
		x.fail(404, "Not Found")
		return
	}
	x.targets = targets
	// Out through gateways the trunk is taken as each is tried (next).
	if len(x.trunks) == 0 && !x.admitLimits(targetKeys(x.target, x.trunk)) {
		return
	}
	x.ring = c.after(transferRing, func() { x.giveUp() })
	x.next()
}

// routed asks the dial plan (Config.Router) for the transfer target:
// the destinations of its route out through trunks, or ok false when no
// route takes the target.
func (x *transfer) routed() (out []proxy.Target, ok bool) {
	c := x.c
	if c.b.cfg.Router == nil {
		return nil, false
	}
	req, err := sip.NewRequestBuilder("INVITE", x.target.String()).
		Header("Max-Forwards", "70").
		Header("From", x.keepParty()).
		Header("To", "<"+x.target.String()+">").
		Header("Call-ID", x.callID).
		Header("CSeq", "1 INVITE").
		Message("", nil)
	if err != nil {
		return nil, false
	}
	plan, ok := c.b.cfg.Router(c.ctx(), req)
	if !ok {
		return nil, false
	}
	x.trunk, x.routeName = plan.Trunk, plan.Route
	out = make([]proxy.Target, len(plan.Destinations))
	x.trunks = make([]string, len(plan.Destinations))
	for i, d := range plan.Destinations {
		out[i], x.trunks[i] = proxy.Target{URI: d.URI}, d.Trunk
	}
	return out, true
}

// located finds a target no route took: its bindings, or the URI itself
// (Config.Locate).
func (x *transfer) located() ([]proxy.Target, error) {
	c := x.c
	if c.b.cfg.Locate == nil {
		return nil, proxy.ErrNoBinding
	}
	if c.b.cfg.Routing != nil {
		x.routeName = c.b.cfg.Routing(netip.Addr{}, x.target, x.target).Route
	}
	return c.b.cfg.Locate(c.ctx(), x.target)
}

// senderTx is a request's transaction with whether someone answers for
// its sender, which the stage knew (Config.Accountable) and the call does
// not: a REFER's, or an INVITE's that replaces a leg.
type senderTx struct {
	proxy.ServerTx
	accountable bool
}

// accountableTx reports whether the stage found tx's sender accountable.
func accountableTx(tx proxy.ServerTx) bool {
	st, ok := tx.(senderTx)
	return ok && st.accountable
}

// mayDialOut reports whether the far end of l may have a transfer go out
// through gateways: the caller when its INVITE was accountable, a callee
// when its REFER is, or when passwords are on (it proved one on
// registering).
func (c *Call) mayDialOut(l *Leg, tx proxy.ServerTx) bool {
	if c.b.cfg.Accountable == nil {
		return true
	}
	if l.side == SideA {
		return !c.aStranger
	}
	if p := c.b.cfg.Passwords; p != nil && p() {
		return true
	}
	return accountableTx(tx)
}

// newTransfer starts tracking a transfer asked for by l's REFER req.
func (c *Call) newTransfer(l *Leg, req *sip.Message, rt sip.ReferTo) *transfer {
	cs, _ := req.CSeq()
	x := &transfer{c: c, referrer: l, keep: c.peer(l), event: "refer;id=" + strconv.FormatUint(uint64(cs.Seq), 10),
		target: rt.Target(), callID: newID(), tag: dialog.NewTag(), started: c.b.clock.Now()}
	if by, ok, _ := req.ReferredBy(); ok {
		x.referBy = by.String()
	}
	c.xfer = x
	return x
}

// next sends the new leg's INVITE to the next target: from the party who
// stays, with the session description Parley last gave the referrer
// (the remaining party's), so the new party answers with its own.
func (x *transfer) next() {
	if len(x.targets) == 0 {
		x.fail(404, "Not Found")
		return
	}
	x.t, x.targets = x.targets[0], x.targets[1:]
	x.tTrunk, x.authorized = "", false
	if len(x.trunks) > 0 {
		x.tTrunk, x.trunks = x.trunks[0], x.trunks[1:]
	}
	if !x.takeTrunk() {
		if len(x.targets) == 0 {
			x.fail(x.full.Code, x.full.Reason)
			return
		}
		x.next() // at its limit: the next gateway may have room
		return
	}
	req, err := x.invite()
	if err != nil {
		x.fail(500, "Cannot Build Transfer Leg")
		return
	}
	x.send(req, x.t.Dest)
}

// invite builds the new leg's INVITE to the current target, with the
// leg's next CSeq.
func (x *transfer) invite() (*sip.Message, error) {
	c := x.c
	uri := x.uri()
	// Towards a trunk the leg speaks as the account, as a call's B leg
	// does: the provider's From and identity header, not the party's.
	keep, gw := x.keepIdentity(), target{trunk: x.tTrunk}
	from, to := newFrom(c.trunkFrom(keep, gw), x.tag), "<"+x.target.String()+">"
	if x.tTrunk != "" {
		to = toOf(uri, to)
	}
	x.seq++
	rb := sip.NewRequestBuilder("INVITE", uri).
		Header("Max-Forwards", "70").
		Header("From", from).
		Header("To", to).
		Header("Call-ID", x.callID).
		Header("CSeq", strconv.FormatUint(uint64(x.seq), 10)+" INVITE")
	if x.referBy != "" {
		rb.Header("Referred-By", x.referBy)
	}
	req, err := rb.Message("", nil)
	if err != nil {
		return nil, err
	}
	c.trunkIdentity(req, keep, gw)
	if ct, body := c.sentBody(x.referrer.side); len(body) > 0 {
		req.SetBody(ct, body)
	}
	c.offerTimer(req, 0)
	return req, nil
}

// uri is the Request-URI of the new leg's INVITE to the current target.
func (x *transfer) uri() string {
	if x.t.URI == "" {
		return x.target.String()
	}
	return x.t.URI
}

// send starts the new leg's INVITE req towards dst (the target's, or
// where a challenge came from), following the dialogs it makes afresh.
func (x *transfer) send(req *sip.Message, dst transport.Target) {
	x.inv, x.req = nil, req
	x.c.b.cfg.Outbound.Start(x.c.ctx(), &x.flight, outbound.Request{Msg: req, Route: x.t.Route, Dest: dst}, x)
}

// challenged answers a trunk's 401 or 407 to the new leg's INVITE as a
// call's B leg does (challenge.go): once, with the trunk's credentials,
// in an INVITE with the next CSeq to the server that challenged. What
// Parley cannot answer ends the transfer with 403 and the reason, which
// the final NOTIFY tells the referrer. It reports whether it took resp;
// a challenge from a target that is no trunk's is the transfer's failure.
func (x *transfer) challenged(resp *sip.Message) bool {
	c := x.c
	if x.tTrunk == "" || c.b.cfg.Trunks == nil {
		return false
	}
	acc, ch, refusal := c.b.trunkAnswer(x.tTrunk, x.authorized, resp)
	if refusal != "" {
		x.fail(403, refusal)
		return true
	}
	req, err := x.invite()
	if err == nil {
		err = authorize(req, resp.StatusCode(), ch, x.uri(), acc)
	}
	if err != nil {
		x.fail(500, "Cannot Answer Trunk Challenge")
		return true
	}
	x.authorized = true
	_, dst := x.flight.Sent() // the nonce is the challenging server's
	x.send(req, dst)
	return true
}

// keepParty is the From of the new leg: the identity of the party who
// stays, with a tag of Parley's.
func (x *transfer) keepParty() string { return newFrom(x.keepIdentity(), x.tag) }

// keepIdentity is the identity of the party who stays, anonymous when
// its dialog's party does not parse.
func (x *transfer) keepIdentity() *sip.NameAddr {
	na, err := sip.ParseNameAddr(x.keep.d.Info().RemoteParty)
	if err != nil {
		return &sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "anonymous", Host: "anonymous.invalid"}.Rebuild()}
	}
	return &na
}

func (x *transfer) Post(fn func()) { x.c.Post(fn) }

// Stamp adds the Via and Contact of the listener the INVITE leaves from,
// and starts following the dialogs its responses make.
func (x *transfer) Stamp(msg *sip.Message, _ transport.Target, out *transport.ListenerInfo, last bool) (*sip.Message, error) {
	msg = stampVia(msg, out, last)
	msg.SetHeader("Contact", "<"+contactFor(out)+">")
	if x.inv == nil {
		inv, err := x.c.b.table.NewInvitation(msg)
		if err != nil {
			return nil, err
		}
		x.inv = inv
	}
	return msg, nil
}

// Response follows the new leg's INVITE: provisionals are reported to
// the referrer, the answer reconnects the party who stays, a failure
// tries the next target or ends the transfer.
func (x *transfer) Response(resp *sip.Message, err error) {
	c := x.c
	if err != nil || resp == nil {
		resp = sip.NewResponse(x.req, 503, "Service Unavailable", "")
	}
	var d *dialog.Dialog
	if x.inv != nil {
		d, _ = x.inv.ReceiveResponse(resp)
	}
	code := resp.StatusCode()
	switch {
	case x.leg != nil && code >= 200 && code < 300:
		if x.ack != nil {
			c.sendACK(x.ack, x.ackDst) // a retransmission of the answer
		}
	case x.done:
		if code >= 200 && code < 300 && d != nil {
			c.ackAndBye(&Leg{call: c, side: x.referrer.side, d: d, dest: x.t.Dest}, resp)
		}
	case code < 200:
		if code > 100 && x.ringing.IsZero() {
			x.ringing = c.b.clock.Now()
		}
		if code > 100 && code != x.notified {
			x.notified = code
			x.notify(code, resp.Reason(), false)
		}
	case code < 300:
		x.flight.Release()
		x.answered(d, resp)
	default:
		x.flight.Release()
		if (code == 401 || code == 407) && x.challenged(resp) {
			return
		}
		if (code >= 500 || code == 408) && len(x.targets) > 0 {
			x.next()
			return
		}
		x.fail(code, resp.Reason())
	}
}

// answered is the new party's 2xx: ACK it, and offer its session to the
// party who stays in a re-INVITE.
func (x *transfer) answered(d *dialog.Dialog, resp *sip.Message) {
	c := x.c
	if d == nil {
		x.fail(500, "No Dialog")
		return
	}
	_, sent := x.flight.Sent()
	x.leg = &Leg{call: c, side: x.referrer.side, d: d, dest: gruuDest(d, x.t.Dest, sent, x.tTrunk), trunk: x.tTrunk}
	if x.tTrunk != "" {
		x.trunk = x.tTrunk // the record bills the trunk that answered
	}
	x.ok = resp
	c.b.addLeg(x.leg)
	c.addLeg(x.leg)
	c.ack(x.leg, resp, nil, func(a *sip.Message, dst transport.Target) { x.ack, x.ackDst = a, dst })
	req, err := x.keep.d.NewRequest("INVITE", "")
	if err != nil {
		x.fail(500, "Cannot Reconnect")
		return
	}
	if body := resp.Body(); len(body) > 0 {
		req.SetBody(resp.ContentType(), body)
		c.noteBody(x.referrer.side, resp.ContentType(), body)
	}
	c.offerRefresh(x.keep, req)
	cs, _ := req.CSeq()
	r := &reconnect{x: x, req: req, guard: &invite{c: c, to: x.keep, seq: cs.Seq}}
	c.pending = r.guard
	c.b.cfg.Outbound.Start(c.ctx(), &r.flight, outbound.Request{Msg: req, Dest: x.keep.dest}, r)
}

// complete puts the new leg in the referrer's place: the call goes on
// between the party who stayed and the new party; the referrer hears the
// transfer succeeded, then gets BYE.
func (x *transfer) complete(keepOK *sip.Message) {
	c := x.c
	if x.referrer.side == SideB {
		c.bl, c.early = x.leg, x.leg
	} else {
		c.a = x.leg
	}
	x.referrer.stopTimer()
	c.leave(x.referrer)
	if ct := c.b.control(); ct.timersOn() {
		if s, err := ct.SessionTimer.Accept(x.ok); err == nil {
			c.armLeg(x.leg, s, s.LocalRefresh(false), x.ok.HasToken("Allow", "UPDATE"))
		}
		if s, err := ct.SessionTimer.Accept(keepOK); err == nil {
			c.armLeg(x.keep, s, s.LocalRefresh(false), x.keep.allowsUpdate())
		}
	}
	x.splitRecord()
	x.finish(200, "OK")
	c.bye(x.referrer)
}

// fail ends the transfer with the new leg's failure, reported to the
// referrer; the call stays as it was.
func (x *transfer) fail(code int, reason string) {
	if x.leg != nil {
		x.c.bye(x.leg)
	}
	x.finish(code, reason)
}

// finish sends the final NOTIFY and forgets the transfer.
func (x *transfer) finish(code int, reason string) {
	if x.done {
		return
	}
	x.done = true
	x.limit.Release() // nil once the call holds them (splitRecord)
	if x.ring != nil {
		x.ring.Stop()
	}
	if x.c.xfer == x {
		x.c.xfer = nil
	}
	x.notify(code, reason, true)
}

// giveUp ends a transfer whose target rings too long: CANCEL, and 408.
func (x *transfer) giveUp() {
	if x.done || x.leg != nil {
		return
	}
	x.cancel()
	x.finish(408, "Request Timeout")
}

// cancel stops the new leg's INVITE if it is still ringing.
func (x *transfer) cancel() {
	req, dst := x.flight.Sent()
	if req == nil || x.leg != nil {
		return
	}
	cancel, err := proxy.BuildCancel(req)
	if err != nil {
		return
	}
	o := &oneShot{c: x.c, msg: cancel}
	x.c.b.cfg.Outbound.Start(x.c.ctx(), &o.flight, outbound.Request{Msg: cancel, Dest: dst}, o)
}

// abort ends a transfer because its call ended.
func (x *transfer) abort() {
	if x.done {
		return
	}
	x.cancel()
	x.fail(487, "Request Terminated")
}

// notify reports the new leg's progress to the referrer (RFC 3515
// §2.4.5): the status line as message/sipfrag.
func (x *transfer) notify(code int, reason string, final bool) {
	state := referActive
	if final {
		state = referTerminated
	}
	err := x.referrer.Send("NOTIFY", sip.ContentTypeSipfrag, sip.Sipfrag(code, reason), nil,
		"Event", x.event, "Subscription-State", state)
	if err != nil {
		x.c.b.log.Debug("b2bua: cannot report a transfer's progress", "call", x.c.id, "error", err)
	}
}

// reconnect is the re-INVITE that gives the party who stays the new
// party's session.
type reconnect struct {
	x      *transfer
	req    *sip.Message
	guard  *invite
	flight outbound.Flight
	final  bool
	ack    *sip.Message
	ackDst transport.Target
}

func (r *reconnect) Post(fn func()) { r.x.c.Post(fn) }

func (r *reconnect) Stamp(msg *sip.Message, _ transport.Target, out *transport.ListenerInfo, last bool) (*sip.Message, error) {
	return stampVia(msg, out, last), nil
}

func (r *reconnect) Response(resp *sip.Message, err error) {
	x, c := r.x, r.x.c
	if err != nil || resp == nil {
		resp = sip.NewResponse(r.req, 408, "Request Timeout", "")
	} else {
		_ = x.keep.d.ReceiveResponse(resp)
	}
	code := resp.StatusCode()
	if code < 200 {
		return
	}
	if r.final {
		if code < 300 && r.ack != nil {
			c.sendACK(r.ack, r.ackDst)
		}
		return
	}
	r.final = true
	r.flight.Release()
	if c.pending == r.guard {
		c.pending = nil
	}
	if code >= 300 {
		x.fail(code, resp.Reason())
		return
	}
	c.ack(x.keep, resp, nil, func(a *sip.Message, dst transport.Target) { r.ack, r.ackDst = a, dst })
	if c.state != stateAnswered || x.done {
		return
	}
	x.complete(resp)
}

// detached reports whether l has left the call: a referrer after its
// transfer. What it still sends is answered without touching the call.
func (c *Call) detached(l *Leg) bool {
	if c.moved == nil {
		return false
	}
	for _, g := range c.moved.gone {
		if g == l {
			return true
		}
	}
	return false
}

// onDetached answers a request from a leg that has left the call: its
// BYE (a referrer hanging up after the transfer, as phones do) ends that
// leg alone; anything else is 481.
func (c *Call) onDetached(l *Leg, tx proxy.ServerTx, req *sip.Message) {
	if req.Method() == "BYE" {
		l.answer(tx, req, 200, "OK")
		return
	}
	l.answer(tx, req, 481, "Call/Transaction Does Not Exist")
}

// ackAndBye ends a dialog answered after Parley no longer wanted it.
func (c *Call) ackAndBye(l *Leg, ok *sip.Message) {
	c.ack(l, ok, nil, nil)
	c.bye(l)
}

// stopTransfer ends a transfer whose call is ending.
func (c *Call) stopTransfer() {
	if c.xfer != nil {
		c.xfer.abort()
	}
}
