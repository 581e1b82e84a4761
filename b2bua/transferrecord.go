package b2bua

import (
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

// segment is what a call's record says of the transfer that began it.
type segment struct {
	by      string // the referrer's address
	bCallID string // the new party's leg
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

// splitRecord closes the call's record as the transfer completes and
// starts the second one, with the new party's leg in the call.
func (x *transfer) splitRecord() {
	c := x.c
	now := c.b.clock.Now()
	kind, by, stays := "blind", c.callee, c.caller
	if x.attended {
		kind = "attended"
	}
	if c.pickedUpBy != "" {
		by = c.pickedUpBy
	}
	if x.referrer.side == SideA {
		by, stays = c.caller, by
	}
	if c.b.cfg.Record != nil {
		r := c.Record()
		r.End = now.UTC()
		r.HungUpBy = cdr.Callee
		if x.referrer.side == SideA {
			r.HungUpBy = cdr.Caller
		}
		r.Reason = "transferred (" + kind + ") to " + x.target.AOR()
		r.Disposition = cdr.Answered
		c.b.cfg.Record(r)
	}
	c.caller, c.callee, c.pickedUpBy = stays, x.target.AOR(), ""
	c.dialledU = sip.Unescape(x.target.User)
	if x.trunk != "" || x.referrer.side == SideB {
		c.trunk = x.trunk
		c.plan.Route = x.routeName
	}
	c.setup, c.ringing, c.answered = x.started, x.ringing, now
	c.status = 200
	c.seg = &segment{by: by, bCallID: x.leg.d.ID().CallID}
	c.moveLimits(x.referrer.side, x.limit)
	x.limit = nil
	c.journal()
}

// segmentRecord marks the record of a call that a transfer continued.
func (c *Call) segmentRecord(r *cdr.Record) {
	if c.seg == nil {
		return
	}
	r.TransferredBy, r.BCallID = c.seg.by, c.seg.bCallID
}
