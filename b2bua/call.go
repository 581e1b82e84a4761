package b2bua

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sessiontimer"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// Side names a leg of a call.
type Side uint8

// The two sides: A towards the caller, B towards the callee.
const (
	SideA Side = iota + 1
	SideB
)

// String returns "a" or "b".
func (s Side) String() string {
	if s == SideA {
		return "a"
	}
	return "b"
}

// Leg is one of a call's dialogs, with where its requests go.
type Leg struct {
	call *Call
	d    *dialog.Dialog
	// dest, when its Proto is set, is the flow the leg's requests take:
	// the caller's (it sent the INVITE from there, perhaps behind NAT) or
	// the callee's registered flow.
	dest transport.Target
	// trunk is the trunk a B leg went to.
	trunk string
	// The leg's session timer (timer.go): the timer, by value (a leg is
	// one allocation, or part of its call's, not three), and what the
	// two ends of the leg agreed. The leg is the timer's Handler, so it
	// needs no closure. The small fields share one word with side.
	timer        sessiontimer.Timer
	interval     time.Duration
	timerOn      bool // armed once: the leg has a session timer
	localRefresh bool // Parley refreshes this leg
	allowUpdate  bool // the far end takes UPDATE, the cheaper refresh
	side         Side
}

// Side returns the leg's side.
func (l *Leg) Side() Side { return l.side }

// Dialog returns the leg's dialog.
func (l *Leg) Dialog() *dialog.Dialog { return l.d }

// Trunk returns the trunk a B leg went to ("" for none, and on the A leg).
func (l *Leg) Trunk() string { return l.trunk }

// Call returns the call the leg belongs to.
func (l *Leg) Call() *Call { return l.call }

// Step is a point in a call's life, for Config.Watch.
type Step uint8

// The steps of a call, each told once; a call refused before it rang has
// only Started and Ended.
const (
	Started  Step = iota + 1 // the caller's INVITE was taken
	Ringing                  // the first provisional went to the caller
	Answered                 // the 2xx went to the caller
	Ended                    // the call is over: Record says how
)

func (c *Call) watch(step Step) {
	if c.b.cfg.Watch != nil {
		c.b.cfg.Watch(c, step)
	}
}

type callState uint8

const (
	stateSetup callState = iota
	stateAnswered
	stateEnded
)

// Call is one call through the B2BUA: the caller's INVITE, the B legs
// tried for it and, once answered, its two dialogs.
type Call struct {
	b       *B2BUA
	id      string
	aCallID string
	q       outbound.Queue
	// su is what only the call's setup needs; nil once answered.
	su *callSetup

	// The A leg: the caller's INVITE and our tag.
	aInvite  *sip.Message // nil once answered
	caller   string       // From's and To's addresses, the dialled user, the source: for records
	callee   string
	dialledU string
	source   string
	aTag     string
	aContact string
	a        *Leg // nil until a tagged response went to the caller

	// The B side: the plan, the B dialogs that rang and the winner.
	plan    *Plan // nil for a call to local users no route named: most calls of mode b2bua
	bCallID string
	bTag    string
	bSeq    uint32
	status  int32 // the final SIP code: the answer's, or the failure's
	early   *Leg  // the B dialog whose provisional the caller saw last
	earlies map[*dialog.Dialog]*Leg
	bl      *Leg // the answered B dialog

	state       callState
	starting    bool // startNextGroup is starting a group's branches
	admitted    bool // Admit let it through: OnEnd will hear of its end
	interrupted bool // ended by the server stopping
	cancelled   bool
	expired     bool // a session timer ran out: the record says expired
	// aReliable: the caller's transport is reliable (no 2xx
	// retransmissions on the A leg).
	aReliable bool
	// bTaken: the first B dialog's storage (held) went to a branch's
	// INVITE.
	bTaken bool
	// local: the call went to local users by no route of the plan's
	// (its record's route is cdr.RouteLocal); a flag, where a string
	// would move every Call up a size class.
	local bool
	// aUnproved: the party on the A side reached us without proving who
	// it is (another domain's caller, passwords on), so it may not have
	// Parley place calls for it with REFER.
	aUnproved bool
	// aStranger: nobody answers for the party on the A side
	// (Config.Accountable), so its transfers stay off the gateways.
	aStranger bool
	pending   *invite // the INVITE transaction in progress inside the call
	answer    *invite // the initial INVITE's 2xx, until the caller ACKs

	setup, ringing, answered, ended stamp
	hungUpBy                        cdr.Party
	reason                          string
	trunk                           string

	// Call control (timer.go, limits.go): the maximum duration's timer,
	// the call's hold on the concurrent call limits (and, for a call out
	// through a route's gateways, on the trunk trying or carrying it),
	// the last body sent on each side.
	maxTimer  clock.Timer
	limit     *calllimit.Call
	trunkSlot *calllimit.Call
	sent      sentBodies

	// Transfers and pickups (refer.go, replaces.go, pickup.go,
	// transferrecord.go): the transfer under way, and the legs they
	// moved with their mark on the record; nil until one happens.
	xfer  *transfer
	moved *movedLegs
	// mark is the legs' state the last snapshot held (snapshot.go); nil
	// off a cluster (no Config.OnChange), where no snapshot is taken.
	mark *snapMark

	// held is where the call's first leg on each side and its dialog
	// live: an answered call is one allocation of its own size class
	// with its legs, dialogs and session timers in it, not a dozen small
	// objects sharing spans with the setup's short-lived ones (which the
	// collector cannot hand back while one of them lives).
	held heldLegs
}

// heldLegs is the storage of a call's first A and B leg and their
// dialogs, by Side-1. A leg a fork, a transfer or a pickup adds is
// allocated on its own.
type heldLegs struct {
	legs    [2]Leg
	dialogs [2]dialog.Dialog
}

// callSetup is what a call needs only until it is answered (or fails):
// the caller's transaction and source, the targets still to try, the
// branches under way, the best failure so far, the reliable
// provisionals' numbers, the ring timeout and the A leg's session timer
// answer. The answer lets go of it: a held call does not carry it.
type callSetup struct {
	key      string // the CANCEL key of the caller's INVITE
	aTx      proxy.ServerTx
	aIn      *transport.Incoming
	groups   [][]target // parallel within, serial between
	branches []*branch
	best     *sip.Message
	full     *calllimit.Refusal // a trunk of the route at its limit, skipped
	rseq     []rseqMap
	ring     clock.Timer // RingTimeout
	aTimer   sessiontimer.Answer
}

// newLeg returns a leg of side on d, in the call's storage while it is
// free.
func (c *Call) newLeg(side Side, d *dialog.Dialog) *Leg {
	l := &c.held.legs[side-1]
	if l.call != nil {
		l = new(Leg)
	}
	l.call, l.side, l.d = c, side, d
	return l
}

// bDialog returns the storage for the first B dialog, to the first
// branch that asks; nil after.
func (c *Call) bDialog() *dialog.Dialog {
	if c.bTaken {
		return nil
	}
	c.bTaken = true
	return &c.held.dialogs[SideB-1]
}

// movedLegs are the legs transfers and pickups added to a call and those
// that left it, with their mark on the record and the limits: the phone
// that picked the call up, what the record says since the last
// transfer, and the hold on the limits of the party a transfer or pickup
// put on each side. Few calls have any: a pointer keeps the Call in a
// smaller size class for the rest.
type movedLegs struct {
	added, gone []*Leg
	pickedUpBy  string
	seg         *segment
	xholds      [2]*calllimit.Call // by Side-1
}

// moves returns the call's movedLegs, made on first use.
func (c *Call) moves() *movedLegs {
	if c.moved == nil {
		c.moved = new(movedLegs)
	}
	return c.moved
}

// addLeg records a leg a transfer or pickup added.
func (c *Call) addLeg(l *Leg) {
	m := c.moves()
	m.added = append(m.added, l)
}

// leave records a leg that left the call (a referrer after its transfer).
func (c *Call) leave(l *Leg) {
	m := c.moves()
	m.gone = append(m.gone, l)
}

// target is one destination of a B leg.
type target struct {
	uri   string
	route []string
	dest  transport.Target
	trunk string
	floor time.Duration // the Min-SE of a 422 this target answered (timer.go)
}

// rseqMap pairs a reliable provisional's RSeq on the A leg with the B
// dialog and RSeq it came from (RFC 3262), so that PRACK finds its way.
type rseqMap struct {
	a    uint32
	d    *dialog.Dialog
	b    uint32
	bSeq uint32 // the B INVITE's CSeq number, for RAck
}

// ID returns the call's identifier in the admin API.
func (c *Call) ID() string { return c.id }

// A returns the caller's leg, nil before a tagged response went to it.
func (c *Call) A() *Leg { return c.a }

// B returns the answered callee's leg, nil before the answer.
func (c *Call) B() *Leg { return c.bl }

// CallIDs returns the Call-IDs of the A and the B leg.
func (c *Call) CallIDs() (a, b string) { return c.aCallID, c.bCallID }

// Status returns the call's final SIP code so far: the answer's once
// answered, the failure's for a call that failed; 0 while it rings.
func (c *Call) Status() int { return int(c.status) }

// HungUpBy returns who ended the call and why, once it has ended.
func (c *Call) HungUpBy() (cdr.Party, string) { return c.hungUpBy, c.reason }

// Invite returns the caller's INVITE, until the call is answered (nil
// after: a held call does not keep it). Admit and OnAnswer see it.
func (c *Call) Invite() *sip.Message { return c.aInvite }

// Source returns where the caller's INVITE came from, until the call is
// answered.
func (c *Call) Source() *transport.Incoming {
	if c.su == nil {
		return nil
	}
	return c.su.aIn
}

// Plan returns the call's plan (empty for a call to local users).
func (c *Call) Plan() Plan {
	if c.plan == nil {
		return Plan{}
	}
	return *c.plan
}

// ctx bounds the DNS lookups of the call's requests: the server's
// lifetime (a method, not a field: 16 bytes less in every held call).
func (c *Call) ctx() context.Context { return c.b.cfg.Lifetime }

// Post runs fn on the call's queue, after its earlier events: how an
// extension (a session timer, a limit) changes a call safely.
func (c *Call) Post(fn func()) { c.q.Post(fn) }

// CallInfo is a snapshot of a call for the admin API. Its parties,
// numbers and times are those of the call's record so far: after a
// transfer, the party who stayed (caller) and the new one (callee), as
// the second record names them, not those who started the call.
type CallInfo struct {
	ID            string    `json:"id"`
	State         string    `json:"state"`
	Caller        string    `json:"caller"`
	Callee        string    `json:"callee"`
	Dialled       string    `json:"dialled"`
	Trunk         string    `json:"trunk,omitempty"`
	Route         string    `json:"route,omitempty"`
	Source        string    `json:"source,omitempty"` // where the caller's INVITE came from
	Setup         time.Time `json:"setup"`
	Ringing       time.Time `json:"ringing,omitzero"`
	Answered      time.Time `json:"answered,omitzero"`
	AnsweredBy    string    `json:"answered_by,omitempty"`    // a pickup's phone, answering in the callee's place
	TransferredBy string    `json:"transferred_by,omitempty"` // who transferred the call to the parties now on it
	A             LegInfo   `json:"a"`
	B             LegInfo   `json:"b"`
}

// LegInfo is one leg of a CallInfo.
type LegInfo struct {
	// Party is the address of the party on the leg now: after a
	// transfer, the new party on the transferring party's side.
	Party     string `json:"party"`
	CallID    string `json:"call_id"`
	LocalTag  string `json:"local_tag,omitempty"`
	RemoteTag string `json:"remote_tag,omitempty"`
	Remote    string `json:"remote,omitempty"` // the far end's Contact
	State     string `json:"state"`
}

// Info returns the call's snapshot. It waits for the call's queue.
func (c *Call) Info() CallInfo {
	done := make(chan CallInfo, 1)
	c.Post(func() { done <- c.Current() })
	return <-done
}

// Current is Info for a caller already on the call's queue (a Watch, a
// Post), which Info would wait for for ever.
func (c *Call) Current() CallInfo {
	states := [...]string{"setup", "answered", "ended"}
	r := c.Record()
	ci := CallInfo{ID: c.id, State: states[c.state], Caller: r.Caller, Callee: r.Callee, Dialled: r.Dialled,
		Trunk: r.Trunk, Route: r.Route, Source: r.Source, Setup: r.Setup, Ringing: r.Ringing, Answered: r.Answered,
		AnsweredBy: r.AnsweredBy, TransferredBy: r.TransferredBy}
	if c.state == stateSetup && c.ringing != 0 {
		ci.State = "ringing"
	}
	ci.A = LegInfo{CallID: c.aCallID, LocalTag: c.aTag, State: "setup"}
	if c.aInvite != nil { // no A dialog yet: the caller's tag is its INVITE's
		ci.A.RemoteTag = c.aInvite.FromTag()
	}
	ci.B = LegInfo{CallID: c.bCallID, LocalTag: c.bTag, State: "setup"}
	if c.a != nil {
		ci.A = legInfo(c.a)
	}
	if l := c.bLeg(); l != nil {
		ci.B = legInfo(l)
	}
	ci.A.Party, ci.B.Party = c.partyOn(SideA), c.partyOn(SideB)
	return ci
}

func legInfo(l *Leg) LegInfo {
	in := l.d.Info()
	return LegInfo{CallID: in.ID.CallID, LocalTag: in.ID.LocalTag, RemoteTag: in.ID.RemoteTag, Remote: in.RemoteTarget, State: in.State.String()}
}

func sortInfos(s []CallInfo) {
	sort.Slice(s, func(i, j int) bool { return s[i].Setup.Before(s[j].Setup) })
}

// bLeg is the B dialog requests from the caller go to: the answered one,
// else the one whose provisional the caller saw last.
func (c *Call) bLeg() *Leg {
	if c.bl != nil {
		return c.bl
	}
	return c.early
}

// peer returns the leg across from l.
func (c *Call) peer(l *Leg) *Leg {
	if l.side == SideB {
		return c.a
	}
	return c.bLeg()
}

func (c *Call) dialled() string { return c.dialledU }

// receivedURI is req's Request-URI as it arrived, parsed: the parse the
// message caches when no stage rewrote it.
func receivedURI(req *sip.Message) (sip.URI, error) {
	if raw := req.ReceivedRequestURI(); raw != req.RequestURI() {
		return sip.ParseURI(raw)
	}
	return req.RequestURIParsed()
}

// route is the record's route: the plan's, or cdr.RouteLocal.
func (c *Call) route() string {
	if c.local {
		return cdr.RouteLocal
	}
	return c.Plan().Route
}

// takeCall starts a call for an initial INVITE: its B legs go to
// targets. It answers the caller itself when it cannot start.
func (b *B2BUA) takeCall(ctx context.Context, tx proxy.ServerTx, in *transport.Incoming, plan Plan, targets []target) {
	req := in.Msg
	cid, _ := req.CallID()
	su := &callSetup{key: cancelKey(req), aTx: tx, aIn: in}
	c := &Call{b: b, id: newID(), aCallID: cid, su: su,
		aInvite: req, aTag: dialog.NewTag(), aContact: contactFor(in.Listener),
		trunk: plan.Trunk, bCallID: newID(), bTag: dialog.NewTag(), setup: stampOf(b.clock.Now()),
		aUnproved: plan.unproved, aStranger: plan.stranger, aReliable: in.Proto.Reliable(),
	}
	c.local = plan.Route == cdr.RouteLocal
	if plan.Trunk != "" || plan.Destinations != nil || plan.Route != "" && !c.local {
		c.plan = &plan
	}
	if b.cfg.OnChange != nil {
		c.q.After = c.noteChange
	}
	for _, t := range targets {
		if len(su.groups) == 0 || plan.Destinations != nil {
			su.groups = append(su.groups, nil) // a plan's destinations are tried one by one
		}
		su.groups[len(su.groups)-1] = append(su.groups[len(su.groups)-1], t)
	}
	from, err := req.From()
	if err != nil {
		c.respondA(400, "Malformed From")
		return
	}
	c.caller, c.source = from.URI.AOR(), in.Source.String()
	if to, err := req.To(); err == nil {
		c.callee = to.URI.AOR()
	}
	if plan.Callee != "" {
		c.callee = plan.Callee
	}
	c.dialledU = plan.DialledUser
	// The call keeps its own copies of these (Detach below); the plan it
	// may keep needs only its route and destinations, and a view held
	// there would keep the INVITE for the call's life.
	plan.DialledUser, plan.Callee = "", ""
	if u, err := receivedURI(req); err == nil && c.dialledU == "" {
		c.dialledU = sip.Unescape(u.User) // as the caller sent it, before any rewrite
	}
	// What a held call keeps of its INVITE is copied, with its own ids,
	// into one allocation: a view into the message would keep all of it
	// for as long as the call lasts, and ten small strings would each
	// share a span with the setup's garbage.
	sip.Detach(&c.id, &c.aCallID, &c.caller, &c.callee, &c.source, &c.dialledU, &c.aContact, &c.bCallID, &c.aTag, &c.bTag)
	b.add(c, su.key)
	c.watch(Started)
	su.ring = c.after(b.cfg.RingTimeout, func() {
		if c.state == stateSetup && !c.cancelled {
			c.fail(408, "No Answer", cdr.System)
		}
	})
	c.Post(func() {
		if !c.admitTimer() || !c.admitLimits() {
			return
		}
		if b.cfg.Admit != nil {
			if err := b.cfg.Admit(ctx, c); err != nil {
				code, reason := 500, "Server Internal Error"
				if se, ok := err.(*sip.Error); ok {
					code, reason = se.Code, se.Reason
				}
				c.fail(code, reason, cdr.System)
				return
			}
		}
		c.admitted = true
		c.startNextGroup(req)
	})
}

// startNextGroup starts the branches of the next group of targets; when
// none is left it answers the caller with the best failure. cause, when
// not nil, is the caller's INVITE, which the group's INVITEs relay
// (sip.Message.RelayOf); a later group's come of a failure on the B leg.
func (c *Call) startNextGroup(cause *sip.Message) {
	for c.state == stateSetup && !c.cancelled && len(c.su.groups) > 0 {
		group := c.su.groups[0]
		c.su.groups = c.su.groups[1:]
		if !c.takeTrunk(group) {
			continue // at its limit: the next gateway may have room
		}
		// A target that fails at once (no listener, a refused
		// connection) answers inside Start: it must not move on to the
		// next group while this one's other targets are still to start.
		c.starting = true
		for _, t := range group {
			c.startBranch(t, cause)
		}
		c.starting = false
		if c.liveBranches() > 0 {
			return
		}
	}
	if c.state == stateSetup && c.liveBranches() == 0 {
		if c.su.best == nil && c.su.full != nil {
			c.refuseLimit(c.su.full)
			return
		}
		c.failWithBest()
	}
}

func (c *Call) liveBranches() int {
	if c.su == nil {
		return 0
	}
	n := 0
	for _, br := range c.su.branches {
		if !br.done {
			n++
		}
	}
	return n
}

// startBranch sends the B leg's INVITE to one target, relaying cause
// when not nil.
func (c *Call) startBranch(t target, cause *sip.Message) {
	req, err := c.newInvite(t)
	if err != nil {
		c.consider(sip.NewResponse(c.aInvite, 500, "Cannot Build B Leg", ""))
		return
	}
	req.RelayOf(cause)
	br := &branch{c: c, t: t}
	c.su.branches = append(c.su.branches, br)
	if t.trunk != "" { // an inbound call keeps the trunk it came from
		c.trunk = t.trunk
	}
	c.b.cfg.Outbound.Start(c.ctx(), &br.flight, outbound.Request{Msg: req, Route: t.route, Dest: t.dest}, br)
}

// newInvite builds the B leg's INVITE for t: nothing of the A leg but
// the caller's identity, the callee, the headers that pass and the body.
func (c *Call) newInvite(t target) (*sip.Message, error) {
	from, _ := c.aInvite.From()
	to := c.aInvite.Header("To")
	if c.Plan().Destinations != nil { // a dial plan's number, rewritten for its gateway
		to = toOf(t.uri, to)
	}
	mf := 70
	if n, err := c.aInvite.MaxForwards(); err == nil {
		mf = n - 1
	}
	c.bSeq++
	rb := sip.NewRequestBuilder("INVITE", t.uri).
		Header("Max-Forwards", strconv.Itoa(max(mf, 0))).
		Header("From", newFrom(c.trunkFrom(from, t), c.bTag)).
		Header("To", to).
		Header("Call-ID", c.bCallID).
		Header("CSeq", strconv.FormatUint(uint64(c.bSeq), 10)+" INVITE")
	h := c.b.passed(c.aInvite, c.b.agent(false, nil)...)
	for i := 0; i+1 < len(h); i += 2 {
		rb.Header(h[i], h[i+1])
	}
	m, err := rb.Message("", nil)
	if err != nil {
		return nil, err
	}
	c.trunkIdentity(m, from, t)
	c.withBody(m, c.aInvite, SideA)
	c.offerTimer(m, t.floor)
	return m, nil
}

// toOf is the To of a leg to a destination the dial plan rewrote: the
// number as the gateway is to see it, at the gateway; else is kept when
// uri does not parse.
func toOf(uri, orElse string) string {
	u, err := sip.ParseURI(uri)
	if err != nil {
		return orElse
	}
	return "<" + string(sip.URI{Scheme: u.Scheme, User: u.User, Host: u.Host}.AppendTo(nil)) + ">"
}

// respondA sends a response on the A leg's INVITE transaction.
func (c *Call) respondA(code int, reason string, extra ...string) *sip.Message {
	resp := sip.NewResponse(c.aInvite, code, reason, c.aTag, c.b.agent(true, extra)...)
	c.sendA(resp)
	return resp
}

func (c *Call) sendA(resp *sip.Message) {
	if err := c.su.aTx.Respond(resp); err != nil {
		c.b.log.Debug("b2bua: answering the caller failed", "call", c.id, "error", err)
	}
}

// aResponse maps a B leg's response to the caller's INVITE: status,
// passing headers, our Contact on a dialog-making one, the body.
func (c *Call) aResponse(resp *sip.Message) *sip.Message {
	code := resp.StatusCode()
	var extra []string
	if code > 100 && code < 300 {
		extra = append(extra, "Contact", "<"+c.aContact+">")
	}
	if code >= 300 && code < 400 {
		// A redirect's Contact is its message, not the callee's address.
		extra = append(extra, slices.Concat(contactPairs(resp))...)
	}
	out := sip.NewResponse(c.aInvite, code, resp.Reason(), c.aTag, c.b.passed(resp, c.b.agent(true, extra)...)...)
	c.withBody(out, resp, SideB)
	out.RelayOf(resp)
	return out
}

func contactPairs(m *sip.Message) []string {
	var out []string
	for _, v := range m.HeaderValues("Contact") {
		out = append(out, "Contact", v)
	}
	return out
}

// ensureA makes the A dialog from a tagged response about to go to the
// caller.
func (c *Call) ensureA(resp *sip.Message) {
	if c.a != nil {
		if err := c.a.d.SendResponse(resp); err != nil && err != dialog.ErrTerminated {
			c.b.log.Debug("b2bua: A dialog refused a response", "call", c.id, "error", err)
		}
		return
	}
	d, err := c.b.table.NewUASIn(&c.held.dialogs[SideA-1], c.aInvite, resp)
	if err != nil {
		c.b.log.Debug("b2bua: cannot make the A dialog", "call", c.id, "error", err)
		return
	}
	c.a = c.newLeg(SideA, d)
	if len(d.Info().RouteSet) == 0 {
		in := c.su.aIn
		c.a.dest = transport.Target{Proto: in.Proto, Addr: in.Source, Conn: in.Conn, Listener: in.Listener}
	}
	c.b.addLeg(c.a)
}

// consider keeps the best failure so far (§16.7 step 6, simplified): a
// 6xx wins, then a redirect, then a refusal; a 408 or 5xx, which only
// says that destination could not take the call, comes last.
func (c *Call) consider(resp *sip.Message) {
	if su := c.su; su.best == nil || rank(resp.StatusCode()) < rank(su.best.StatusCode()) {
		su.best = resp
	}
}

func rank(code int) int {
	switch {
	case code >= 600:
		return 0
	case code < 400:
		return 1
	case code < 500 && code != 408:
		return 2
	}
	return 3
}

// failWithBest answers the caller with the best failure the B legs got.
func (c *Call) failWithBest() {
	if c.su.best == nil {
		c.fail(404, "Not Found", cdr.System)
		return
	}
	resp := c.aResponse(c.su.best)
	c.sendA(resp)
	c.finish(resp.StatusCode(), resp.Reason(), refuser(resp.StatusCode()))
}

func refuser(code int) cdr.Party {
	if code == 408 || code == 503 || code == 500 {
		return cdr.System
	}
	return cdr.Callee
}

// fail answers the caller with a locally made failure and ends the call.
func (c *Call) fail(code int, reason string, by cdr.Party) {
	c.respondA(code, reason)
	c.finish(code, reason, by)
}

// finish ends a call that was never answered.
func (c *Call) finish(code int, reason string, by cdr.Party) {
	c.status = int32(code)
	c.cancelBranches()
	c.end(by, reason)
}

// cancelBranches cancels every branch still ringing.
func (c *Call) cancelBranches() {
	if c.su == nil {
		return
	}
	for _, br := range c.su.branches {
		if !br.done {
			br.cancel()
		}
	}
}

// end ends the call once, now: its record, its hook, its place in the
// index.
func (c *Call) end(by cdr.Party, reason string) { c.endAt(by, reason, stampOf(c.b.clock.Now())) }

// endAt is end with the time the record gives as the call's end.
func (c *Call) endAt(by cdr.Party, reason string, at stamp) {
	if c.state == stateEnded {
		return
	}
	c.state = stateEnded
	c.ended = at
	c.hungUpBy, c.reason = by, reason
	legs := make([]*Leg, 0, 2+len(c.earlies))
	if c.a != nil {
		legs = append(legs, c.a)
	}
	for _, l := range c.earlies {
		legs = append(legs, l)
	}
	if c.bl != nil && !slices.Contains(legs, c.bl) { // the answer let go of earlies
		legs = append(legs, c.bl)
	}
	if c.moved != nil {
		legs = append(append(legs, c.moved.added...), c.moved.gone...)
	}
	c.stopTransfer()
	c.stopRinging()
	if c.answer != nil {
		c.answer.stop()
	}
	if c.pending != nil {
		c.pending.stop()
	}
	c.stopTimers()
	c.releaseLimits()
	c.b.remove(c, legs)
	for _, l := range legs {
		// The table forgets the call's dialogs now; a BYE's answer still
		// on its way finds nothing to change.
		l.d.Terminate("", 0)
	}
	if c.b.cfg.OnEnd != nil && c.admitted {
		c.b.cfg.OnEnd(c)
	}
	if c.b.cfg.Record != nil {
		c.b.cfg.Record(c.Record())
	}
	c.watch(Ended)
}

// Record is the call's detail record.
func (c *Call) Record() cdr.Record {
	r := cdr.Record{Node: c.b.cfg.Node, CallID: c.aCallID, BCallID: c.bCallID, Dialled: c.dialled(), Trunk: c.trunk, Route: c.route(),
		Setup: c.setup.time(), End: c.ended.time(), HungUpBy: c.hungUpBy, Status: int(c.status), Reason: c.reason,
		Ringing: c.ringing.time(), Answered: c.answered.time()}
	r.Caller, r.Callee, r.Source = c.caller, c.callee, c.source
	r.Disposition = cdr.DispositionOf(c.answered != 0, int(c.status))
	c.controlRecord(&r)
	if c.interrupted {
		r.Disposition = cdr.Interrupted
	}
	c.pickupRecord(&r)
	c.segmentRecord(&r)
	return r
}

// Hangup ends the call from outside (the admin API, a session timer, a
// call limit): BYE on both legs of an answered call; for one still
// ringing, CANCEL towards the callee and 480 to the caller. It returns
// at once; the call ends on its queue.
func (c *Call) Hangup(by cdr.Party, reason string) {
	c.Post(func() {
		switch c.state {
		case stateSetup:
			// The caller hears the call ended; the record says who
			// ended it, which a 480's phrase cannot.
			c.respondA(480, "Call Ended")
			c.finish(480, reason, by)
		case stateAnswered:
			c.bye(c.a)
			c.bye(c.bl)
			c.end(by, reason)
		}
	})
}

// stamp is a time a call keeps, in nanoseconds since 1970 (0: not yet):
// a third of a time.Time, which counts in a struct every held call has.
type stamp int64

func stampOf(t time.Time) stamp { return stamp(t.UnixNano()) }

// time returns the stamp in UTC, as the records keep times; the zero
// time for none.
func (s stamp) time() time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(s)).UTC()
}

// stopRinging stops the ring timeout and lets go of it: a stopped timer
// still holds its closure and wheel entry (some 90 bytes), which an
// answered call would keep for its life.
func (c *Call) stopRinging() {
	if c.su != nil && c.su.ring != nil {
		c.su.ring.Stop()
		c.su.ring = nil
	}
}

// timers are the clock the call's retransmissions run on.
func (c *Call) after(d time.Duration, fn func()) clock.Timer {
	return c.b.clock.AfterFunc(d, func() { c.Post(fn) })
}
