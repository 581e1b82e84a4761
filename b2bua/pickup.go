package b2bua

import (
	"strconv"
	"strings"

	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// Directed call pickup: a colleague's phone sees a call ring at bob's
// (its busy lamp's dialog-info names the dialog) and sends an INVITE
// with Replaces naming it. The dialog is Parley's B leg to bob's phone,
// an early dialog Parley initiated, which RFC 3891 §3 lets its UAC
// replace: the picking phone answers the call in bob's place, the caller
// gets its 200, and bob's phone (every fork still ringing) gets CANCEL.
//
// Both INVITEs hold offers and neither can wait for the other's answer
// (the caller's is unanswered, the picker's is new), so each phone gets
// the other's session description as its answer: media still flows
// phone to phone, as for every B2BUA call, and phones that offer the
// same audio (what a pickup group's do) agree on it; a later re-INVITE
// of either side renegotiates as usual.

// reasonPickupDomain is the refusal of a pickup from outside the
// callee's domain: whoever may watch a user's calls (its busy lamp,
// within the domain) may pick them up, nobody else.
const reasonPickupDomain = "Pickup Outside The Callee's Domain"

// reasonPickupOffers refuses a pickup when either INVITE comes without a
// session description: each phone's answer is the other's offer, so a
// late offer on either side leaves one of them without an answer.
const reasonPickupOffers = "Pickup Needs An Offer From Both Phones"

// canPickUp reports whether l is a ringing leg of a call not yet
// answered nor given up, which a Replaces may take: an early B dialog
// Parley initiated, or the caller's early dialog. The latter is the call
// as a busy lamp shows it (the lamp sees the caller's leg), and a
// B2BUA's caller leg stands for the callee ringing, so it is taken too.
func (c *Call) canPickUp(l *Leg) bool {
	if c.state != stateSetup || c.cancelled || l.d.State() != dialog.Early {
		return false
	}
	return l == c.a || l.side == SideB && c.earlies[l.d] == l
}

// pickingUp takes an INVITE whose Replaces names a dialog of Parley's
// with its tags the other way round: phones build a pickup's Replaces
// from the watched party's dialog-info, and not all agree which tag is
// whose. Only a ringing call is matched so loosely; true when taken.
func (b *B2BUA) pickingUp(rep sip.Replaces, r *proxy.Request) bool {
	rep.ToTag, rep.FromTag = rep.FromTag, rep.ToTag
	l := b.legByReplaces(rep)
	if l == nil {
		return false
	}
	if b.refuseUnvouched(r) {
		return true
	}
	c, tx, in := l.call, r.Tx, r.In
	c.Post(func() {
		if !c.canPickUp(l) {
			_ = tx.Respond(sip.NewResponse(in.Msg, 481, "Replaced Dialog Does Not Exist", dialog.NewTag()))
			return
		}
		c.pickup(l, tx, in)
	})
	return true
}

// pickup answers the call from the phone that sent in.Msg in place of
// ringing leg l, or refuses the pickup with why.
func (c *Call) pickup(l *Leg, tx proxy.ServerTx, in *transport.Incoming) {
	inv := in.Msg
	switch {
	case !c.sameDomain(inv):
		_ = tx.Respond(sip.NewResponse(inv, 403, reasonPickupDomain, dialog.NewTag()))
		return
	case len(inv.Body()) == 0 || len(c.aInvite.Body()) == 0:
		_ = tx.Respond(sip.NewResponse(inv, 488, reasonPickupOffers, dialog.NewTag()))
		return
	}
	hold, refused := c.pickerLimits(inv)
	if refused != nil {
		var extra []string
		if refused.RetryAfter > 0 {
			extra = []string{"Retry-After", strconv.Itoa(refused.RetryAfter)}
		}
		_ = tx.Respond(sip.NewResponse(inv, refused.Code, refused.Reason, dialog.NewTag(), extra...))
		return
	}
	out := sip.NewResponse(inv, 200, "OK", dialog.NewTag(), c.b.agent(true, []string{"Contact", "<" + contactFor(in.Listener) + ">"})...)
	c.withBody(out, c.aInvite, SideA)
	ans, timed := c.replacerTimer(inv, out)
	d, err := c.b.table.NewUAS(inv, out)
	if err != nil {
		hold.Release()
		_ = tx.Respond(sip.NewResponse(inv, 500, "Cannot Make Dialog", dialog.NewTag()))
		return
	}
	pl := &Leg{call: c, side: SideB, d: d}
	if len(d.Info().RouteSet) == 0 {
		pl.dest = transport.Target{Proto: in.Proto, Addr: in.Source, Conn: in.Conn, Listener: in.Listener}
	}
	c.b.addLeg(pl)
	c.b.own(d.ID().CallID)
	c.addLeg(pl)
	if f, err := inv.From(); err == nil {
		c.moves().pickedUpBy = f.URI.AOR()
	}
	c.moveLimits(SideB, hold)
	c.answerPicked(pl, inv)
	c.pending = c.newInvite2xx(pl, nil, nil, out, tx) // until the picker's ACK
	_ = tx.Respond(out)
	if timed {
		c.armLeg(pl, ans.Session, ans.Session.LocalRefresh(true), inv.HasToken("Allow", "UPDATE"))
	}
}

// answerPicked answers the caller with the picker's session and makes
// the picker's leg the call's B leg; every branch is cancelled.
func (c *Call) answerPicked(pl *Leg, inv *sip.Message) {
	c.bl, c.early = pl, pl
	c.state = stateAnswered
	c.stopRinging()
	c.status = 200
	c.setupDone()
	c.cancelBranches()
	c.dropEarlies()
	out := sip.NewResponse(c.aInvite, 200, "OK", c.aTag, c.b.agent(true, []string{"Contact", "<" + c.aContact + ">"})...)
	c.withBody(out, inv, SideB)
	c.answerTimer(out)
	c.ensureA(out)
	c.answered = stampOf(c.b.clock.Now())
	c.answer = c.newInvite2xx(c.a, nil, nil, out, c.su.aTx)
	c.sendA(out)
	c.startATimers()
	if c.b.cfg.OnAnswer != nil {
		c.b.cfg.OnAnswer(c)
	}
	c.watch(Answered)
	c.journal()
	c.aInvite, c.su = nil, nil
}

// pickerLimits takes the picker's slots in the concurrent call limits,
// as the callee it becomes; the callee's go back once it answers.
func (c *Call) pickerLimits(inv *sip.Message) (*calllimit.Call, *calllimit.Refusal) {
	lim := c.b.cfg.Limits
	f, err := inv.From()
	if lim == nil || err != nil || !f.URI.IsSIP() {
		return nil, nil
	}
	return lim.Admit(calllimit.Keys{Callee: userKey(f.URI), CalleeDomain: f.URI.Host})
}

// sameDomain reports whether the picker (inv's From) is of the callee's
// domain.
func (c *Call) sameDomain(inv *sip.Message) bool {
	f, err := inv.From()
	if err != nil {
		return false
	}
	callee, err := sip.ParseURI(c.callee)
	if err != nil {
		return false
	}
	return strings.EqualFold(f.URI.Host, callee.Host)
}

// pickupRecord names the picker in the record of a call picked up.
func (c *Call) pickupRecord(r *cdr.Record) {
	r.AnsweredBy = c.pickedUpBy()
}

// pickedUpBy is the phone that picked the call up ("" for none).
func (c *Call) pickedUpBy() string {
	if c.moved == nil {
		return ""
	}
	return c.moved.pickedUpBy
}
