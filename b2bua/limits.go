package b2bua

import (
	"strconv"
	"strings"

	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/sip"
)

// admitLimits takes the new call's slots in the concurrent call limits,
// or refuses it with the limit's answer: 486 for a user at its limit,
// 503 with Retry-After for a domain or trunk. The slots go back when the
// call ends (releaseLimits, from end), exactly once.
func (c *Call) admitLimits() bool {
	lim := c.b.cfg.Limits
	if lim == nil {
		return true
	}
	held, refused := lim.Admit(c.limitKeys())
	if refused != nil {
		c.refuseLimit(refused)
		return false
	}
	c.limit = held
	return true
}

// refuseLimit answers the caller with a limit's refusal and ends the call.
func (c *Call) refuseLimit(refused *calllimit.Refusal) {
	var extra []string
	if refused.RetryAfter > 0 {
		extra = []string{"Retry-After", strconv.Itoa(refused.RetryAfter)}
	}
	c.respondA(refused.Code, refused.Reason, extra...)
	c.finish(refused.Code, refused.Reason, cdr.System)
}

// outbound reports whether the call goes out through a route's gateways:
// then its trunk is taken one gateway at a time (takeTrunk), not when the
// call is admitted.
func (c *Call) outbound() bool { return c.plan != nil && c.plan.Destinations != nil }

// takeTrunk takes a slot of the trunk of a route's next gateway (group
// holds that one destination) and gives back the slot of the one tried
// before, so that a call counts against the trunk that carries it, as
// the record bills it. A trunk at its limit is skipped like a dead
// gateway, its refusal kept for when no gateway is left (the backup is
// there for the calls the provider has no channel for).
func (c *Call) takeTrunk(group []target) bool {
	lim := c.b.cfg.Limits
	if lim == nil || !c.outbound() || len(group) == 0 || group[0].trunk == "" {
		return true
	}
	name := group[0].trunk
	if c.trunkSlot != nil && c.trunk == name {
		return true // the route names the gateway again: its slot is held
	}
	held, refused := lim.MoveTrunk(c.trunkSlot, name)
	c.trunkSlot = held
	if refused != nil {
		c.su.full = refused
		return false
	}
	return true
}

// limitKeys names what the call counts against: the caller and its
// domain; the callee and its domain when the call stays with local users;
// the trunk an inbound call came from. A number dialled out through a
// trunk is nobody's user; its trunk is taken gateway by gateway as they
// are tried (takeTrunk).
func (c *Call) limitKeys() calllimit.Keys {
	var k calllimit.Keys
	if f, err := c.aInvite.From(); err == nil && f.URI.IsSIP() {
		k.Caller = userKey(f.URI)
		k.CallerDomain = domainOf(k.Caller)
	}
	if t := c.Plan().Trunk; t != "" {
		if !c.outbound() {
			k.Trunk = t // an inbound call's trunk; an outbound one's is takeTrunk's
		}
		return k
	}
	if t, err := c.aInvite.To(); err == nil && t.URI.IsSIP() {
		k.Callee = userKey(t.URI)
		k.CalleeDomain = domainOf(k.Callee)
	}
	return k
}

// domainOf is the domain of a userKey, lower case as the limits count
// domains: a part of the key, not a copy, so that a held call's hold
// keeps one string for each party, not two.
func domainOf(key string) string { return key[strings.LastIndexByte(key, '@')+1:] }

// userKey is a user's name in the limits: user@domain, as the
// limits.calls.users keys are written; a URI without a user is its domain.
// The keys are copies: the call's hold keeps them while it lasts, and a
// view would keep the whole INVITE they were read from.
func userKey(u sip.URI) string {
	if u.User == "" {
		return strings.Clone(strings.ToLower(u.Host))
	}
	return sip.Unescape(u.User) + "@" + strings.ToLower(u.Host)
}

// releaseLimits gives the call's slots back, and those of the parties
// transfers added; calling it again does nothing.
func (c *Call) releaseLimits() {
	c.limit.Release()
	c.trunkSlot.Release()
	if c.moved != nil {
		for _, h := range c.moved.xholds {
			h.Release() // nil-safe
		}
	}
}

// moveLimits gives the slots of the party leaving side back and keeps
// hold, the slots of the party taking its place, until the call ends:
// the party who left (a transfer's referrer, a phone whose call was
// picked up) is free for other calls at once.
func (c *Call) moveLimits(side Side, hold *calllimit.Call) {
	m := c.moves()
	if h := m.xholds[side-1]; h != nil {
		h.Release() // it came in by an earlier transfer or pickup
	} else {
		c.limit.DropParty(side == SideB)
	}
	m.xholds[side-1] = hold
}

// Limits returns the limiter of Config.Limits, nil without one: the
// server changes its maxima on a reload.
func (b *B2BUA) Limits() *calllimit.Limiter { return b.cfg.Limits }
