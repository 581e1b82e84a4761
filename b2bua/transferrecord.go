package b2bua

import (
	"time"

	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/sip"
)

// A transfer in the records and the limits. Billing wants to know who
// talked to whom, for how long, and who set each connection up, so a
// completed transfer closes the call's record (the referrer left, reason
// "transferred (blind|attended) to …") and the call goes on under a
// second record: the party who stayed as caller, the new party as
// callee, the referrer in transferred_by, the same call_id (it links the
// two), the new party's leg as b_call_id. The new party's leg counts
// against the concurrent call limits of the user and domain, or the
// trunk, it goes to from the moment the transfer tries it; those slots
// go back when it fails or when the call ends, and the referrer's go
// back as it leaves.

// segment is what a call's record says since the transfer that began
// it, in place of the call's own fields (which the call keeps as it
// started: the admin API shows them), and who is on each side now.
type segment struct {
	parties                     [2]string // by Side-1
	by, caller, callee, dialled string
	trunk, route, bCallID       string
	setup, ringing, answered    time.Time
}

// segment is what the record says since the last transfer; nil before
// one.
func (c *Call) segment() *segment {
	if c.moved == nil {
		return nil
	}
	return c.moved.seg
}

// partyOn is the address of the party on side now.
func (c *Call) partyOn(side Side) string {
	switch {
	case c.segment() != nil:
		return c.segment().parties[side-1]
	case side == SideA:
		return c.caller
	case c.pickedUpBy() != "":
		return c.pickedUpBy()
	}
	return c.callee
}

// targetKeys names what a transfer's new party counts against: the
// trunk it goes out through, else the user and domain it rings.
func targetKeys(u sip.URI, trunk string) calllimit.Keys {
	if trunk != "" {
		return calllimit.Keys{Trunk: trunk}
	}
	if !u.IsSIP() {
		return calllimit.Keys{}
	}
	return calllimit.Keys{Callee: userKey(u), CalleeDomain: u.Host}
}

// admitLimits takes the new party's slots, or fails the transfer with
// the limit's answer (reported to the referrer); false when it did.
func (x *transfer) admitLimits(k calllimit.Keys) bool {
	lim := x.c.b.cfg.Limits
	if lim == nil || x.limit != nil {
		return true
	}
	held, refused := lim.Admit(k)
	if refused != nil {
		x.fail(refused.Code, refused.Reason)
		return false
	}
	x.limit = held
	return true
}

// takeTrunk takes the slot of the trunk of the gateway about to be
// tried (tTrunk) in place of the one tried before, as a call does
// (Call.takeTrunk); false, with the refusal kept, when it is full.
func (x *transfer) takeTrunk() bool {
	lim := x.c.b.cfg.Limits
	if lim == nil || x.tTrunk == "" || x.limit != nil && x.limitTrunk == x.tTrunk {
		return true
	}
	held, refused := lim.MoveTrunk(x.limit, x.tTrunk)
	if refused != nil {
		x.full = refused
		return false
	}
	x.limit, x.limitTrunk = held, x.tTrunk
	return true
}

// splitRecord closes the call's record as the transfer completes and
// starts the second one, with the new party's leg in the call.
func (x *transfer) splitRecord() {
	c := x.c
	now := c.b.clock.Now()
	side := x.referrer.side
	stays := c.sideAcross(x.referrer)
	kind := "blind"
	if x.attended {
		kind = "attended"
	}
	r := c.Record()
	seg := &segment{by: c.partyOn(side), caller: c.partyOn(stays), callee: x.target.AOR(),
		dialled: sip.Unescape(x.target.User), trunk: x.trunk, route: x.routeName, bCallID: x.leg.d.ID().CallID,
		setup: x.started, ringing: x.ringing, answered: now}
	if x.trunk == "" && side == SideA {
		seg.trunk, seg.route = r.Trunk, r.Route // the trunk of the callee who stays
	}
	seg.parties[side-1], seg.parties[stays-1] = seg.callee, seg.caller
	if c.b.cfg.Record != nil {
		r.End = now.UTC()
		r.HungUpBy = cdr.Callee
		if side == SideA {
			r.HungUpBy = cdr.Caller
		}
		r.Reason = "transferred (" + kind + ") to " + seg.callee
		r.Disposition = cdr.Answered
		c.b.cfg.Record(r)
	}
	c.moves().seg = seg
	c.moveLimits(side, x.limit)
	x.limit = nil
	c.journal()
}

// segmentRecord makes the record of a call that a transfer continued the
// segment's.
func (c *Call) segmentRecord(r *cdr.Record) {
	s := c.segment()
	if s == nil {
		return
	}
	r.Caller, r.Callee, r.Dialled, r.TransferredBy, r.AnsweredBy = s.caller, s.callee, s.dialled, s.by, ""
	r.Trunk, r.Route, r.BCallID = s.trunk, s.route, s.bCallID
	r.Setup, r.Ringing, r.Answered = s.setup.UTC(), s.ringing.UTC(), s.answered.UTC()
}
