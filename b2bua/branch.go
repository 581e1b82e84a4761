package b2bua

import (
	"strconv"
	"strings"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/gruu"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// branch is one B-leg INVITE on its way to a target.
type branch struct {
	c           *Call
	t           target
	flight      outbound.Flight
	inv         *dialog.Invitation
	done        bool // its final response came (or it failed)
	cancelAsked bool // cancelled before any provisional came (§9.1)
	cancelSent  bool
	authorized  bool // its INVITE answers a trunk's challenge
}

// Post queues the branch's events with the rest of its call's.
func (br *branch) Post(fn func()) { br.c.Post(fn) }

// Stamp finishes the INVITE for one destination: a Via and a Contact of
// the listener it leaves from. The first attempt starts following the
// dialogs its responses make.
func (br *branch) Stamp(msg *sip.Message, _ transport.Target, out *transport.ListenerInfo, last bool) (*sip.Message, error) {
	if !last {
		msg = msg.Clone()
	}
	msg.PrependHeader("Via", string(sip.AppendVia(nil, out.Proto.ViaName(), out.Host, out.Port, transaction.NewBranch())))
	msg.SetHeader("Contact", "<"+contactFor(out)+">")
	if br.inv == nil {
		inv, err := br.c.b.table.NewInvitationIn(msg, br.c.bDialog())
		if err != nil {
			return nil, err
		}
		br.inv = inv
	}
	return msg, nil
}

// Response takes every response of the branch's destination, or the
// news that none took the INVITE.
func (br *branch) Response(resp *sip.Message, err error) {
	c := br.c
	if (err != nil || resp == nil) && c.state != stateSetup {
		br.done = true // a losing branch's end: nothing to tell the caller
		return
	}
	if err != nil || resp == nil {
		resp = sip.NewResponse(c.aInvite, 503, "Destination Unreachable", "")
		br.final(resp)
		return
	}
	d, derr := br.inv.ReceiveResponse(resp)
	if derr != nil {
		c.b.log.Debug("b2bua: B dialog refused a response", "call", c.id, "error", derr)
	}
	code := resp.StatusCode()
	switch {
	case code < 200:
		if br.cancelAsked && !br.cancelSent {
			br.sendCancel()
		}
		if code > 100 && d != nil && c.state == stateSetup && !c.cancelled {
			c.provisional(br, d, resp)
		}
	case code < 300 && d == nil && c.state != stateSetup:
		br.done = true
	case code < 300 && d == nil:
		// A 2xx that makes no dialog (no Contact, no To tag) cannot be
		// ACKed or hung up: the branch failed.
		br.final(sip.NewResponse(c.aInvite, 502, "Bad 2xx From Callee", ""))
	case code < 300:
		br.done = true
		c.success(br, d, resp)
	case c.retry422(br, resp):
	case (code == 401 || code == 407) && br.challenged(resp):
	default:
		br.final(resp)
	}
}

// final is a branch's failure: the next group is tried when the whole
// group failed with what a next destination may cure (5xx, 408, no
// answer), else the caller gets the best failure.
func (br *branch) final(resp *sip.Message) {
	c := br.c
	if br.done {
		return
	}
	br.done = true
	br.flight.Release()
	if c.state != stateSetup {
		return
	}
	if c.cancelled {
		if c.liveBranches() == 0 {
			c.respondA(487, "Request Terminated")
			c.finish(487, "Request Terminated", cdr.Caller)
		}
		return
	}
	c.consider(resp)
	code := resp.StatusCode()
	if code >= 600 {
		c.su.groups = nil
		c.cancelBranches()
	}
	if c.liveBranches() > 0 || c.starting {
		return
	}
	if code >= 500 || code == 408 {
		c.startNextGroup(nil)
		return
	}
	c.su.groups = nil
	c.failWithBest()
}

// provisional passes a B leg's 1xx to the caller, with our tag, and
// numbers a reliable one for the A leg (RFC 3262).
func (c *Call) provisional(br *branch, d *dialog.Dialog, resp *sip.Message) {
	l := c.earlyLeg(br, d)
	c.early = l
	out := c.aResponse(resp)
	if rs := resp.Header("RSeq"); rs != "" && resp.HasToken("Require", "100rel") {
		n, err := strconv.ParseUint(strings.TrimSpace(rs), 10, 32)
		if err != nil {
			return // a reliable provisional without a usable RSeq cannot be PRACKed
		}
		out.SetHeader("RSeq", strconv.FormatUint(uint64(c.mapRSeq(d, uint32(n), resp)), 10))
	}
	if c.ringing == 0 {
		c.ringing = stampOf(c.b.clock.Now())
		defer c.watch(Ringing)
		defer c.journal() // after the provisional goes out
	}
	c.ensureA(out)
	c.sendA(out)
}

// earlyLeg is the leg of a B dialog, made on its first response.
func (c *Call) earlyLeg(br *branch, d *dialog.Dialog) *Leg {
	if l := c.earlies[d]; l != nil {
		return l
	}
	if c.bl != nil && c.bl.d == d { // a retransmission of the answer
		return c.bl
	}
	l := c.newLeg(SideB, d)
	_, sent := br.flight.Sent()
	l.dest, l.trunk = gruuDest(d, br.t.dest, sent, br.t.trunk), br.t.trunk
	if c.earlies == nil { // a late fork's 2xx after the answer
		c.earlies = map[*dialog.Dialog]*Leg{}
	}
	c.earlies[d] = l
	c.b.addLeg(l)
	return l
}

// mapRSeq returns the A leg's RSeq for a B dialog's reliable provisional;
// a retransmission gets the number its first copy got.
func (c *Call) mapRSeq(d *dialog.Dialog, rseq uint32, resp *sip.Message) uint32 {
	su := c.su
	for _, m := range su.rseq {
		if m.d == d && m.b == rseq {
			return m.a
		}
	}
	cs, _ := resp.CSeq()
	a := uint32(len(su.rseq) + 1)
	su.rseq = append(su.rseq, rseqMap{a: a, d: d, b: rseq, bSeq: cs.Seq})
	return a
}

// success is a 2xx on a branch: the first answers the call, any later
// one (another fork, or one after the caller gave up) is ACKed and hung
// up (§13.2.2.4); a retransmission of the winner's is ACKed again once
// the caller's ACK has been passed on.
func (c *Call) success(br *branch, d *dialog.Dialog, resp *sip.Message) {
	if d == nil {
		return
	}
	l := c.earlyLeg(br, d)
	if c.bl == l {
		if c.answer != nil {
			c.answer.resendACK()
		}
		return
	}
	if c.state != stateSetup || c.cancelled || c.bl != nil {
		c.ack(l, resp, nil, nil)
		c.bye(l)
		return
	}
	c.bl, c.early = l, l
	if _, sent := br.flight.Sent(); l.dest.Proto == "" {
		l.dest = gruuDest(d, l.dest, sent, l.trunk) // the 2xx set the remote target
	}
	if l.trunk != "" {
		c.trunk = l.trunk // the record bills the trunk that answered
	}
	c.state = stateAnswered
	c.stopRinging()
	c.status = int32(resp.StatusCode())
	c.setupDone()
	br.flight.Release()
	c.cancelBranches()
	c.dropEarlies()
	// Each branch lives on in its flight until its transaction ends; the
	// losing dialogs are over, and a held call keeps only its two legs.
	c.earlies = nil
	out := c.aResponse(resp)
	c.answerTimer(out)
	c.ensureA(out)
	c.answered = stampOf(c.b.clock.Now())
	c.answer = c.newInvite2xx(c.a, l, resp, out, c.su.aTx)
	c.sendA(out)
	c.startTimers(resp)
	if c.b.cfg.OnChange != nil {
		m, _ := c.markOf() // what OnAnswer's snapshot holds
		c.mark = &m
	}
	if c.b.cfg.OnAnswer != nil {
		c.b.cfg.OnAnswer(c)
	}
	c.watch(Answered)
	c.journal()
	// What the call needs of the caller's INVITE from now on was copied
	// at its start: a held call does not keep the message, nor its setup
	// (the answer's 2xx retransmissions hold the transaction).
	c.aInvite, c.su = nil, nil
}

// dropEarlies ends the B dialogs that lost.
func (c *Call) dropEarlies() {
	for d, l := range c.earlies {
		if l != c.bl && d.State() == dialog.Early {
			d.Terminate("", 0)
		}
	}
}

// cancel sends CANCEL on the branch once it has had a provisional
// response; before that it waits for one (§9.1).
func (br *branch) cancel() {
	if br.cancelAsked {
		return
	}
	br.cancelAsked = true
	if br.flight.Provisional() {
		br.sendCancel()
	}
}

func (br *branch) sendCancel() {
	req, dst := br.flight.Sent()
	if req == nil || br.cancelSent {
		return
	}
	cancel, err := proxy.BuildCancel(req)
	if err != nil {
		return
	}
	br.cancelSent = true
	o := &oneShot{c: br.c, msg: cancel}
	br.c.b.cfg.Outbound.Start(br.c.ctx(), &o.flight, outbound.Request{Msg: cancel, Dest: dst}, o)
}

// oneShot is a request Parley originates whose answer matters only to
// its dialog and its sender: a CANCEL, a BYE that ends a leg, a request
// an extension sends with Leg.Send.
type oneShot struct {
	c      *Call
	flight outbound.Flight
	msg    *sip.Message
	d      *dialog.Dialog          // fed the final response when set
	done   func(resp *sip.Message) // told of the final response when set
}

// Post queues the request's events with its call's.
func (o *oneShot) Post(fn func()) { o.c.Post(fn) }

// Stamp keeps a CANCEL's Via, which must be its INVITE's (§9.1); any
// other request gets one of its listener.
func (o *oneShot) Stamp(msg *sip.Message, _ transport.Target, out *transport.ListenerInfo, last bool) (*sip.Message, error) {
	if msg.Method() == "CANCEL" {
		return msg, nil
	}
	if !last {
		msg = msg.Clone()
	}
	msg.PrependHeader("Via", string(sip.AppendVia(nil, out.Proto.ViaName(), out.Host, out.Port, transaction.NewBranch())))
	return msg, nil
}

// Response feeds the final response to the dialog the request ends.
func (o *oneShot) Response(resp *sip.Message, err error) {
	if err != nil || resp == nil {
		resp = sip.NewResponse(o.msg, 503, "Service Unavailable", "")
	}
	if resp.StatusCode() < 200 {
		return
	}
	o.flight.Release()
	if o.d != nil {
		_ = o.d.ReceiveResponse(resp)
	}
	if o.done != nil {
		o.done(resp)
	}
}

// Send sends a request Parley itself originates on leg l, in its dialog:
// a session refresh, a NOTIFY of a transfer's progress. extra are header
// lines as name/value pairs; body goes with its contentType when not
// empty. done, when not nil, gets the final response on the call's queue
// (a local 503 when none came). Call it on the call's queue (Call.Post).
func (l *Leg) Send(method, contentType string, body []byte, done func(resp *sip.Message), extra ...string) error {
	req, err := l.d.NewRequest(method, "", extra...)
	if err != nil {
		return err
	}
	if len(body) > 0 {
		req.SetBody(contentType, body)
	}
	c := l.call
	o := &oneShot{c: c, msg: req, d: l.d, done: done}
	c.b.cfg.Outbound.Start(c.ctx(), &o.flight, outbound.Request{Msg: req, Dest: l.dest}, o)
	return nil
}

// bye ends leg l with a BYE.
func (c *Call) bye(l *Leg) { c.relayBye(l, nil) }

// relayBye ends leg l with a BYE that relays cause, the other leg's BYE,
// when not nil.
func (c *Call) relayBye(l *Leg, cause *sip.Message) {
	if l == nil || l.d.State() == dialog.Terminated {
		return
	}
	req, err := l.d.NewRequest("BYE", "")
	if err != nil {
		return
	}
	req.RelayOf(cause)
	o := &oneShot{c: c, msg: req, d: l.d}
	c.b.cfg.Outbound.Start(c.ctx(), &o.flight, outbound.Request{Msg: req, Dest: l.dest}, o)
}

// gruuDest is where a B leg's requests go when its phone answered with
// a GRUU as Contact (RFC 5627; Linphone does, once Parley's registrar
// gave it one): the address the INVITE reached it at, since a GRUU of our
// own domain resolves through our location service, which the dialog's
// requests (ACK, BYE, re-INVITE) would not pass through, and by DNS
// would go nowhere. A leg with its flow (dest), a route set, or a trunk
// keeps what the dialog says.
func gruuDest(d *dialog.Dialog, dest, sent transport.Target, trunk string) transport.Target {
	if dest.Proto != "" || sent.Proto == "" || trunk != "" {
		return dest
	}
	info := d.Info()
	if len(info.RouteSet) > 0 {
		return dest
	}
	u, err := sip.ParseURI(info.RemoteTarget)
	if err != nil || !u.Params.Has(gruu.Param) {
		return dest
	}
	return sent
}
