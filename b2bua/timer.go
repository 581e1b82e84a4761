package b2bua

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sessiontimer"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// Control is the call control a B2BUA applies to new calls and, for the
// session timers, to refreshes; SetControl changes it on a reload.
type Control struct {
	// SessionTimer is the RFC 4028 policy of both legs; a zero Expires
	// turns session timers off.
	SessionTimer sessiontimer.Policy
	// MaxDuration hangs up an answered call (BYE on both legs) once it
	// has lasted this long; 0 is no limit.
	MaxDuration time.Duration
}

// timersOn reports whether the policy asks for session timers.
func (ct *Control) timersOn() bool { return ct.SessionTimer.Expires > 0 }

// control holds the Control in force.
type control struct{ p atomic.Pointer[Control] }

// SetControl changes the call control of calls that start from now on
// (and of refreshes in calls under way): a reload.
func (b *B2BUA) SetControl(ct Control) { b.ctl.p.Store(&ct) }

// Control returns the call control in force.
func (b *B2BUA) Control() Control { return *b.control() }

func (b *B2BUA) control() *Control {
	if ct := b.ctl.p.Load(); ct != nil {
		return ct
	}
	return &Control{}
}

// SessionTimer takes the leg's session timer's events onto its call's
// queue (the Handler of its timer).
func (l *Leg) SessionTimer(ev sessiontimer.Event) {
	c := l.call
	c.Post(func() { c.onTimer(l, ev) })
}

// stopTimer disarms the leg's session timer, if it has one.
func (l *Leg) stopTimer() {
	if l.timerOn {
		l.timer.Stop()
	}
}

// Reason phrases of the call's end, as the record keeps them.
const (
	reasonExpiredA   = "session timer expired: the caller stopped refreshing"
	reasonExpiredB   = "session timer expired: the callee stopped refreshing"
	reasonMaxCall    = "maximum call duration reached"
	reasonRefreshErr = "session refresh failed: "
)

// admitTimer is the A leg's session timer check of an initial INVITE
// (RFC 4028 §9): a Session-Expires below Min-SE gets 422 and ends the
// call; a malformed one 400. It keeps the answer for the 2xx.
func (c *Call) admitTimer() bool {
	ct := c.b.control()
	if !ct.timersOn() {
		return true
	}
	ans, err := ct.SessionTimer.Answer(c.aInvite)
	if err != nil {
		se := sipError(err)
		c.fail(se.Code, se.Reason, cdr.System)
		return false
	}
	if ans.Reject {
		c.respondA(sessiontimer.CodeTooSmall, sessiontimer.ReasonTooSmall, flat(ans.Headers())...)
		c.finish(sessiontimer.CodeTooSmall, sessiontimer.ReasonTooSmall, cdr.System)
		return false
	}
	c.su.aTimer = ans
	return true
}

// offerTimer puts our session timer offer on a B leg's INVITE (§7.1):
// after a 422 the floor is its Min-SE (§7.4). A Require: timer of the
// caller's stays behind, since each leg negotiates its own.
func (c *Call) offerTimer(m *sip.Message, floor time.Duration) {
	ct := c.b.control()
	if !ct.timersOn() {
		return
	}
	addOffer(m, ct.SessionTimer.Offer(floor, sessiontimer.Session{}))
}

// addOffer puts a UAC's session timer headers on m, with no Require:
// timer (each leg negotiates its own) and no second Supported: timer
// when the headers passed from the other leg have one.
func addOffer(m *sip.Message, h [][2]string) {
	dropToken(m, "Require", sessiontimer.OptionTag)
	for _, p := range h {
		if p[0] == "Supported" && m.HasToken("Supported", p[1]) {
			continue
		}
		m.AddHeader(p[0], p[1])
	}
}

// retry422 answers a B leg's 422 (§7.4) by trying the same target again
// with the Min-SE it asked for; false when that would not help (no larger
// Min-SE), and the 422 is then an ordinary failure.
func (c *Call) retry422(br *branch, resp *sip.Message) bool {
	ct := c.b.control()
	if !ct.timersOn() || resp.StatusCode() != sessiontimer.CodeTooSmall || c.state != stateSetup || c.cancelled {
		return false
	}
	asked := max(ct.SessionTimer.Expires, br.t.floor)
	floor, ok := sessiontimer.Retry(resp, asked)
	if !ok {
		return false
	}
	br.done = true
	br.flight.Release()
	t := br.t
	t.floor = floor
	c.startBranch(t, nil)
	return true
}

// answerTimer puts the A leg's session timer on the 2xx that answers the
// caller (§9): the Session-Expires and, when the caller refreshes,
// Require: timer. A Require: timer of the callee's stays behind.
func (c *Call) answerTimer(out *sip.Message) {
	if !c.su.aTimer.Session.Active() {
		return
	}
	setTimerHeaders(out, c.su.aTimer)
}

// startTimers arms both legs' session timers and the maximum duration
// once the call is answered; bOK is the callee's 2xx.
func (c *Call) startTimers(bOK *sip.Message) {
	c.startATimers()
	ct := c.b.control()
	if !ct.timersOn() {
		return
	}
	s, err := ct.SessionTimer.Accept(bOK)
	if err != nil {
		s = sessiontimer.Session{Interval: ct.SessionTimer.Expires, Refresher: sessiontimer.RefresherUAC}
	}
	c.armLeg(c.bl, s, s.LocalRefresh(false), bOK.HasToken("Allow", "UPDATE"))
}

// startATimers arms the maximum duration and the A leg's session timer
// once the call is answered; the B leg's is negotiated with whoever
// answered (the callee's 2xx, or a pickup's INVITE).
func (c *Call) startATimers() {
	ct := c.b.control()
	if d := ct.MaxDuration; d > 0 {
		c.maxTimer = c.after(d, func() { c.hangupAtCap(d) })
	}
	if s := c.su.aTimer.Session; ct.timersOn() && s.Active() {
		c.armLeg(c.a, s, s.LocalRefresh(true), c.aInvite.HasToken("Allow", "UPDATE"))
	}
}

// armLeg starts or re-arms leg l's timer with a negotiated session.
func (c *Call) armLeg(l *Leg, s sessiontimer.Session, local bool, allowUpdate bool) {
	if l == nil || !s.Active() {
		return
	}
	if !l.timerOn {
		l.timerOn, l.allowUpdate = true, allowUpdate
		l.timer.Init(c.b.clock, s, local, l)
	} else {
		l.timer.Refreshed(s, local)
	}
	l.interval, l.localRefresh = s.Interval, local
}

// onTimer acts on a leg's timer: refresh it, or end the call because its
// far end has stopped refreshing (§10).
func (c *Call) onTimer(l *Leg, ev sessiontimer.Event) {
	if c.state != stateAnswered {
		return
	}
	if !c.b.control().timersOn() {
		// A reload turned session timers off: the call goes on without.
		l.stopTimer()
		return
	}
	switch ev {
	case sessiontimer.Refresh:
		c.refresh(l)
	case sessiontimer.Expire:
		reason := reasonExpiredA
		if l.side == SideB {
			reason = reasonExpiredB
		}
		c.expired = c.state == stateAnswered
		c.hangupAnswered(reason)
	}
}

// controlRecord marks the record of a call a session timer ended: the
// disposition says a phone vanished, not that someone hung up.
func (c *Call) controlRecord(r *cdr.Record) {
	if c.expired {
		r.Disposition = cdr.Expired
	}
}

// hangupAnswered ends an answered call from inside: BYE on both legs.
func (c *Call) hangupAnswered(reason string) {
	if c.state != stateAnswered {
		return
	}
	c.bye(c.a)
	c.bye(c.bl)
	c.end(cdr.System, reason)
}

// hangupAtCap ends an answered call that reached the maximum duration
// d. Its record ends at the cap, not when the timer ran: the clock's
// wheel runs a timer up to a tick late, and a call cut at 15 s would
// otherwise bill 16, its few milliseconds over rounded up to a second.
func (c *Call) hangupAtCap(d time.Duration) {
	if c.state != stateAnswered {
		return
	}
	c.bye(c.a)
	c.bye(c.bl)
	c.endAt(cdr.System, reasonMaxCall, min(stampOf(c.b.clock.Now()), c.answered+stamp(d)))
}

// stopTimers disarms every timer of an ending call.
func (c *Call) stopTimers() {
	if c.maxTimer != nil {
		c.maxTimer.Stop()
	}
	for _, l := range []*Leg{c.a, c.bl} {
		if l != nil {
			l.stopTimer()
		}
	}
}

// refusedRefresh answers an in-dialog INVITE or UPDATE whose
// Session-Expires is below Min-SE with 422 (or a malformed one with
// 400), before it crosses the call; true when it did.
func (c *Call) refusedRefresh(l *Leg, tx proxy.ServerTx, req *sip.Message) bool {
	ct := c.b.control()
	if !ct.timersOn() {
		return false
	}
	ans, err := ct.SessionTimer.Answer(req)
	switch {
	case err != nil:
		se := sipError(err)
		l.answer(tx, req, se.Code, se.Reason)
		return true
	case ans.Reject:
		l.answer(tx, req, sessiontimer.CodeTooSmall, sessiontimer.ReasonTooSmall, flat(ans.Headers())...)
		return true
	}
	return false
}

// offerRefresh puts our session timer offer on an INVITE or UPDATE
// relayed to leg to: the leg's current interval and refresher, in the
// roles of this request (Parley is its UAC).
func (c *Call) offerRefresh(to *Leg, out *sip.Message) {
	ct := c.b.control()
	if !ct.timersOn() {
		return
	}
	addOffer(out, ct.SessionTimer.Offer(0, to.current(false)))
}

// current is the leg's session in the roles of a new request or response
// of Parley's: uas says Parley is that transaction's UAS.
func (l *Leg) current(uas bool) sessiontimer.Session {
	if !l.timerOn {
		return sessiontimer.Session{}
	}
	r := sessiontimer.RefresherUAC
	if l.localRefresh == uas {
		r = sessiontimer.RefresherUAS
	}
	return sessiontimer.Session{Interval: l.interval, Refresher: r}
}

// refreshed is a 2xx to an INVITE or UPDATE that crossed the call from
// leg from to leg to: both legs' sessions were refreshed. out, our 2xx
// on from, gets from's session timer headers.
func (c *Call) refreshed(from, to *Leg, req, resp, out *sip.Message) {
	ct := c.b.control()
	if !ct.timersOn() || c.state != stateAnswered {
		return
	}
	if ans, err := ct.SessionTimer.Answer(req); err == nil && !ans.Reject {
		setTimerHeaders(out, ans)
		c.armLeg(from, ans.Session, ans.Session.LocalRefresh(true), from.allowsUpdate())
	}
	if s, err := ct.SessionTimer.Accept(resp); err == nil {
		c.armLeg(to, s, s.LocalRefresh(false), to.allowsUpdate())
	}
}

func (l *Leg) allowsUpdate() bool { return l.timerOn && l.allowUpdate }

// refreshRetry is how long a refresh waits for an offer in progress in
// the call (the other leg's refresh, a re-INVITE crossing) to finish.
const refreshRetry = 2 * time.Second

// refresh sends leg l a session refresh of Parley's (§10): an UPDATE
// without a body when the far end takes UPDATE, else a re-INVITE with
// the session description it has from us. While another offer is in
// progress in the call a refresh would be glare, so it waits and tries
// again; if it never gets out, the timer's Expire ends the call.
func (c *Call) refresh(l *Leg) {
	if c.state != stateAnswered || !l.timerOn {
		return
	}
	if c.pending != nil {
		c.after(refreshRetry, func() { c.refresh(l) })
		return
	}
	method := "UPDATE"
	if !l.allowUpdate {
		method = "INVITE"
	}
	req, err := l.d.NewRequest(method, "")
	if err != nil {
		return
	}
	c.offerRefresh(l, req)
	if method == "INVITE" {
		if ct, body := c.sentBody(l.side); len(body) > 0 {
			req.SetBody(ct, body)
		}
	}
	cs, _ := req.CSeq()
	r := &refresher{c: c, l: l, req: req, guard: &invite{c: c, to: l, seq: cs.Seq}}
	c.pending = r.guard
	c.b.cfg.Outbound.Start(c.ctx(), &r.flight, outbound.Request{Msg: req, Dest: l.dest}, r)
}

// refresher is a session refresh Parley sent on one leg.
type refresher struct {
	c      *Call
	l      *Leg
	req    *sip.Message
	guard  *invite // in c.pending while the refresh is under way: glare
	flight outbound.Flight
	final  bool // its final response came
	ack    *sip.Message
	ackDst transport.Target
}

func (r *refresher) Post(fn func()) { r.c.Post(fn) }

// Stamp adds a Via of the listener it leaves from.
func (r *refresher) Stamp(msg *sip.Message, _ transport.Target, out *transport.ListenerInfo, last bool) (*sip.Message, error) {
	return stampVia(msg, out, last), nil
}

// stampVia is the Stamp of a request Parley sends in a dialog: a Via of
// the listener it leaves from, on a copy unless it is the last attempt.
func stampVia(msg *sip.Message, out *transport.ListenerInfo, last bool) *sip.Message {
	if !last {
		msg = msg.Clone()
	}
	msg.PrependHeader("Via", string(sip.AppendVia(nil, out.Proto.ViaName(), out.Host, out.Port, transaction.NewBranch())))
	return msg
}

// sipError is err as the SIP answer it carries; 400 when it carries none.
func sipError(err error) *sip.Error {
	var se *sip.Error
	if errors.As(err, &se) {
		return se
	}
	return &sip.Error{Code: 400, Reason: "Bad Request"}
}

// Response re-arms the leg's timer on a 2xx, ends the call when the far
// end has lost the dialog (408, 481: RFC 5057 §5.1), and leaves any
// other failure to the timer, which ends the call if no refresh succeeds.
func (r *refresher) Response(resp *sip.Message, err error) {
	c, l := r.c, r.l
	if err != nil || resp == nil {
		resp = sip.NewResponse(r.req, 408, "Request Timeout", "")
	} else {
		_ = l.d.ReceiveResponse(resp)
	}
	code := resp.StatusCode()
	if code < 200 {
		return
	}
	isInvite := r.req.Method() == "INVITE"
	if r.final {
		if isInvite && code < 300 && r.ack != nil {
			c.sendACK(r.ack, r.ackDst) // a retransmitted 2xx
		}
		return
	}
	r.final = true
	r.flight.Release()
	if c.pending == r.guard {
		c.pending = nil
	}
	if isInvite && code < 300 {
		c.ack(l, resp, nil, func(a *sip.Message, dst transport.Target) { r.ack, r.ackDst = a, dst })
	}
	switch {
	case code < 300:
		if s, err := c.b.control().SessionTimer.Accept(resp); err == nil && c.state == stateAnswered {
			c.armLeg(l, s, s.LocalRefresh(false), l.allowsUpdate())
		}
	case code == 408 || code == 481:
		c.hangupAnswered(reasonRefreshErr + strconv.Itoa(code))
	}
}

// setTimerHeaders writes a UAS's session timer answer on a 2xx, in place
// of any the other leg's response brought.
func setTimerHeaders(out *sip.Message, ans sessiontimer.Answer) {
	out.RemoveHeader(sessiontimer.HeaderSessionExpires)
	out.RemoveHeader(sessiontimer.HeaderMinSE)
	dropToken(out, "Require", sessiontimer.OptionTag)
	for _, h := range ans.Headers() {
		out.AddHeader(h[0], h[1])
	}
}

// dropToken removes one option tag from every header called name,
// removing the header when no tag is left.
func dropToken(m *sip.Message, name, tag string) {
	if !m.HasToken(name, tag) {
		return
	}
	var keep []string
	for _, v := range m.HeaderValues(name) {
		if !strings.EqualFold(v, tag) {
			keep = append(keep, v)
		}
	}
	m.RemoveHeader(name)
	if len(keep) > 0 {
		m.AddHeader(name, strings.Join(keep, ", "))
	}
}

// flat turns name/value pairs into the list sip.NewResponse takes.
func flat(h [][2]string) []string {
	out := make([]string, 0, 2*len(h))
	for _, p := range h {
		out = append(out, p[0], p[1])
	}
	return out
}

// sdpType is the content type nearly every body has: kept as it is, it
// costs a call nothing.
const sdpType = "application/sdp"

// sentBodies are the last body Parley sent on each leg: the session
// description a re-INVITE of Parley's offers again. Both are in one
// allocation, A's then B's: a held call keeps one object for them, not
// two.
type sentBodies struct {
	buf []byte
	n   int // A's part of buf
	// ct are the bodies' Content-Types by Side-1; nil while both are
	// SDP, as nearly every call's are: two strings every held call
	// would carry otherwise.
	ct *[2]string
}

// noteBody records a body on its way to the side across from side. It
// keeps a copy: a view would hold on to the whole message that carried
// the body (a datagram's buffer, or our own message to the other side)
// for as long as the call lasts, several times the body's size. It
// returns the copy, for the message that carries the body on.
func (c *Call) noteBody(from Side, ct string, body []byte) (string, []byte) {
	to := SideA
	if from == SideA {
		to = SideB
	}
	s := &c.sent
	if ct != sdpType || s.ct != nil {
		if s.ct == nil {
			s.ct = &[2]string{sdpType, sdpType}
		}
		if ct == sdpType {
			ct = sdpType // equal is not enough: the constant, not a view into the message
		} else {
			ct = strings.Clone(ct)
		}
		s.ct[to-1] = ct
	}
	_, a := c.sentBody(SideA)
	_, b := c.sentBody(SideB)
	if to == SideA {
		a = body
	} else {
		b = body
	}
	s.buf, s.n = slices.Concat(a, b), len(a)
	return c.sentBody(to)
}

// sentBody returns the last body Parley sent on side, capped so that
// an append to it never writes into the other side's.
func (c *Call) sentBody(side Side) (string, []byte) {
	s := &c.sent
	ct := sdpType
	if s.ct != nil {
		ct = s.ct[side-1]
	}
	if side == SideA {
		return ct, s.buf[:s.n:s.n]
	}
	return ct, s.buf[s.n:]
}
