package observe

import (
	"container/list"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/sip"
)

// CallState is where a call stands, as the messages Parley relayed show it.
type CallState string

// Call states. A call starts trying at its first INVITE, rings at a
// provisional response other than 100, is established at a 2xx and ends
// at a final failure, or when its dialog ends (a BYE answered, a 481).
const (
	CallTrying      CallState = "trying"
	CallRinging     CallState = "ringing"
	CallEstablished CallState = "established"
	CallEnded       CallState = "ended"
)

// Call is one call seen by the proxy: the dialog an INVITE sets up,
// known by its Call-ID and the caller's tag before it is answered, and by
// the callee's tag too once the first 2xx fixes it. An INVITE challenged
// with 401 or 407 and sent again with credentials is the same call.
type Call struct {
	CallID     string    `json:"call_id"`           // the INVITE's Call-ID
	Caller     string    `json:"caller"`            // the From address
	Callee     string    `json:"callee"`            // the To address
	RequestURI string    `json:"request_uri"`       // of the caller's INVITE
	Source     string    `json:"source"`            // where the INVITE came from
	State      CallState `json:"state"`             // where the call stands
	Status     int       `json:"status,omitempty"`  // the final status of the INVITE, once sent
	Reason     string    `json:"reason,omitempty"`  // why it ended
	Start      time.Time `json:"start"`             // the first INVITE's arrival
	Ringing    time.Time `json:"ringing,omitzero"`  // the first provisional above 100 sent to the caller
	Answered   time.Time `json:"answered,omitzero"` // the 2xx sent to the caller
	End        time.Time `json:"end,omitzero"`      // the dialog's end, or the failure
	// HungUpBy says who ended the call, once it has ended: the side that
	// sent the BYE or the CANCEL, the callee for a refusal (4xx, 6xx),
	// the system for timeouts and errors (408, 5xx, a dialog ended by a
	// failed request, no final response).
	HungUpBy cdr.Party `json:"hung_up_by,omitempty"`
	// Relayed is set once Parley forwarded one of the call's INVITEs
	// towards a callee; a call it answered entirely by itself (a
	// challenge, a refusal) never is.
	Relayed bool `json:"relayed,omitempty"`
	// Branches are the dialogs the INVITE made, one per callee tag: the
	// early dialogs of a forked INVITE (one per phone that rang) and the
	// confirmed one that answered.
	Branches []Branch `json:"branches,omitempty"`

	// CallerTag is the From tag: the caller's side of the dialog.
	CallerTag string `json:"caller_tag"`
	// CallerTarget and CalleeTarget are the parties' Contact URIs as the
	// call's dialog holds them (the callee's from the answer, or from
	// the latest early dialog before it): what a busy lamp shows as
	// each side's target.
	CallerTarget string `json:"caller_target,omitempty"`
	CalleeTarget string `json:"callee_target,omitempty"`
}

// Branch is one dialog of a call: a fork that rang or answered.
type Branch struct {
	Tag    string `json:"tag"`              // the callee side's To tag
	State  string `json:"state"`            // "early", "confirmed" or "terminated"
	Status int    `json:"status,omitempty"` // the last response of it the caller got
}

// Duration is how long the call has lasted at now: talk time once
// answered, else time since the INVITE; it stops at the end.
func (c *Call) Duration(now time.Time) time.Duration {
	from, to := c.Start, now
	if !c.Answered.IsZero() {
		from = c.Answered
	}
	if !c.End.IsZero() {
		to = c.End
	}
	return max(to.Sub(from), 0)
}

func (c *Call) clone() Call {
	out := *c
	out.Branches = slices.Clone(c.Branches)
	return out
}

// CallChange names a step in a call's life, for Config.OnCall.
type CallChange uint8

// Call changes. A call that is challenged and tried again starts once.
const (
	CallStarted  CallChange = iota + 1 // the first INVITE arrived
	CallAnswered                       // the first 2xx went to the caller
	CallFinished                       // it ended, answered or not: Status, Reason and Duration say how
	CallAlerting                       // the first provisional above 100 went to the caller: the callee rings
)

// Bounds of the tracker. A call that never gets a final answer (the
// caller's INVITE was lost on the way out, say) is ended after
// setupTimeout, which is longer than Timer C (181 s by default). A call
// whose INVITE was challenged (401, 407) waits challengeWait for the
// INVITE with credentials, then ends with the challenge's status. An
// answered call whose BYE Parley never saw (a phone that lost power, a
// BYE that went round the proxy) ends after maxCallAge, as Kamailio's
// dialog module ends one after its default timeout, so that it gets a
// record and leaves the table.
const (
	defaultMaxActive = 10000
	maxRecent        = 200
	recentAge        = 30 * time.Minute
	setupTimeout     = 5 * time.Minute
	challengeWait    = 32 * time.Second
	maxCallAge       = 12 * time.Hour
	maxDisowned      = 4096 // disowned Call-IDs remembered against retransmitted INVITEs
)

// callKey is what names a call before it is answered (§12: Call-ID and
// the caller's tag).
type callKey struct{ callID, fromTag string }

// call is a tracked call and the dialog state behind it.
type call struct {
	Call
	key        callKey
	elem       *list.Element
	invSeq     uint32    // the CSeq number of the latest INVITE of the call
	invTarget  string    // its Contact: the caller's target in the dialogs it makes
	invClosed  bool      // that INVITE's transaction is over: no new early dialog
	answer     *leg      // the dialog of the first 2xx: the call's own
	legs       []*leg    // every dialog the call's INVITEs made, terminated ones included
	challenged time.Time // a 401/407 ended the latest INVITE, at this time
	lastFinal  int       // that response's status
	lastReason string    // and its reason phrase
	cancelled  bool      // the caller sent a CANCEL
	byeFrom    cdr.Party // who sent the first BYE
	byeAt      time.Time // and when: the call's end, whenever its answer comes
}

// leg is one dialog of a call, seen from the caller's side: the early or
// confirmed dialog a callee's tag made, with what RFC 3261 §12 and RFC
// 5057 need to follow its INVITE usage from the summaries of the messages
// Parley relays. Subscriptions that share the dialog (RFC 5057) are not
// followed: a call ends with its session.
type leg struct {
	tag     string            // the callee side's To tag
	state   dialog.State      // early, confirmed or terminated
	target  string            // the callee's Contact URI as the dialog holds it
	seq     uint32            // the callee's last CSeq number, once it sent a request
	hasSeq  bool              // it did
	pending []inDialogRequest // requests awaiting their final response
}

// inDialogRequest is a request in a leg awaiting its final response,
// matched by side, CSeq number and method as §12.2.1.2 matches them.
type inDialogRequest struct {
	fromCaller bool
	seq        uint32
	method     string
}

// Bounds of a leg's requests awaiting an answer (one whose answer was
// lost makes room), and of a call's legs (a peer answering with a new To
// tag in every response must not grow a call without end).
const (
	maxLegPending = 8
	maxForks      = 64
)

// notice is one change of a call for the observer to publish.
type notice struct {
	change CallChange // 0 for a change of state that is no step (ringing, a branch)
	call   Call
}

// tracker follows calls from the summaries of the messages Parley relays,
// running each call's dialogs (§12, RFC 5057) from the caller's side:
// what Parley received from the caller is what the caller sent, and what
// Parley sent back is what the caller received. Requests are therefore
// taken as received and responses as sent, so that a 486 from one forked
// branch that Parley absorbed does not end the call, and a 404 Parley
// made itself does. It reads the summary only (Call-ID, tags, CSeq,
// status, Contact), never the text, so the capture need not copy a
// message the tracker alone reads, and nothing is parsed twice. It runs
// on the observer's worker only; mu guards what readers (the admin API,
// /metrics) see.
type tracker struct {
	mu        sync.Mutex
	maxActive int
	active    map[callKey]*call
	callIDs   map[string]int  // active calls per Call-ID: the cheap test first
	order     *list.List      // of *call, oldest first
	recent    recentCalls     // ended calls
	disowned  map[string]bool // Call-IDs whose calls their owner holds (Observer.Disown)
	gone      []string        // those Call-IDs, oldest first, to bound the set
	now       time.Time       // the time of the message being handled
	notices   []notice
}

func newTracker(maxActive int) *tracker {
	if maxActive <= 0 {
		maxActive = defaultMaxActive
	}
	return &tracker{maxActive: maxActive, active: make(map[callKey]*call), callIDs: make(map[string]int),
		order: list.New(), recent: recentCalls{ids: make(map[string]int)}, disowned: make(map[string]bool)}
}

// observe applies m's summary and returns the changes of the calls it
// touched. An ACK changes no dialog (it shares its INVITE's CSeq), the
// forwarded INVITE and the CANCEL only mark their call, and a message
// with no To tag that neither starts a call nor answers its INVITE (the
// 100 Trying) has no dialog to go to.
func (t *tracker) observe(m *Message) []notice {
	if !mayChangeCall(m.Dir, &m.Summary) {
		return nil
	}
	starts := m.Dir == Received && m.Method == "INVITE" && !m.ToTag
	answer := m.Dir == Sent && m.CSeqMethod == "INVITE" && m.Status > 100
	if !starts && !t.follows(m.CallID) {
		return nil
	}
	switch {
	case m.Dir == Sent && m.Method == "INVITE" && !m.ToTag: // the forwarded copy
		t.mark(m, func(c *call) { c.Relayed = true })
		return nil
	case m.Method == "CANCEL": // received, as mayChangeCall says
		t.mark(m, func(c *call) { c.cancelled = true })
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.now = m.Time
	t.resetNotices()
	switch {
	case starts:
		t.invite(m)
	case answer:
		t.inviteResponse(m)
	default:
		t.inDialog(m)
	}
	return t.notices
}

// mark sets a flag of the call a request of the caller's belongs to,
// found by the summary's Call-ID and From tag.
func (t *tracker) mark(m *Message, set func(*call)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.active[callKey{m.CallID, m.FromTag}]; c != nil {
		set(c)
	}
}

// mayChangeCall tells from a message's direction and summary alone
// whether it can change a call the tracker follows: requests as received
// and responses as sent, the forwarded copy of an INVITE (which marks
// its call relayed), an INVITE or CANCEL from the caller, a final or
// provisional answer to an INVITE, or anything in a dialog. It needs no
// tracker, so Capture can run it on the transport's goroutine and skip
// the copy of what the worker would drop: in mode CallsOnly, 8 of the 14
// messages a proxied call crosses.
func mayChangeCall(dir Direction, s *Summary) bool {
	if s.CallID == "" || s.Method == "ACK" {
		return false
	}
	forwardedInvite := dir == Sent && s.Method == "INVITE" && !s.ToTag
	if (dir == Received) != (s.Status == 0) {
		return forwardedInvite
	}
	starts := dir == Received && s.Method == "INVITE"
	answer := dir == Sent && s.CSeqMethod == "INVITE" && s.Status > 100
	cancel := dir == Received && s.Method == "CANCEL"
	return starts || answer || cancel || s.ToTag
}

// mayChangeCallLine is mayChangeCall's test on the first line alone,
// which settles 7 of the 8 messages of a proxied call that cannot change
// it before their headers are scanned: every response Parley receives
// (responses count as sent), every request it sends but an INVITE, and
// every ACK. It says true for anything mayChangeCall may keep.
func mayChangeCallLine(dir Direction, line string) bool {
	if _, ok := strings.CutPrefix(line, "SIP/2.0 "); ok {
		return dir == Sent
	}
	method, _, _ := strings.Cut(line, " ")
	return method != "ACK" && (dir == Received || method == "INVITE")
}

// follows reports whether a call with this Call-ID is being tracked.
func (t *tracker) follows(callID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.callIDs[callID] > 0
}

// invite starts a call, or a new attempt of one (the INVITE with
// credentials after a challenge); a retransmission or a spiralled copy
// changes nothing.
func (t *tracker) invite(m *Message) {
	if m.CSeqMethod == "" || m.FromTag == "" {
		return // no dialog can come of it
	}
	key := callKey{m.CallID, m.FromTag}
	c := t.active[key]
	switch {
	case c == nil && (t.recent.ids[key.callID] > 0 || t.disowned[key.callID]): // over, or its owner's
		return
	case c != nil && (m.CSeq <= c.invSeq || c.State == CallEstablished): // a copy, or no new attempt
		return
	}
	if c == nil {
		c = t.start(m) // its INVITE's target comes with it
	} else if m.Contact != c.invTarget {
		c.invTarget = strings.Clone(m.Contact)
	}
	t.closeEarly(c, 0)
	c.invSeq, c.invClosed, c.challenged = m.CSeq, false, time.Time{}
}

// start records a new call.
func (t *tracker) start(m *Message) *call {
	if t.order.Len() >= t.maxActive {
		// Ended, not forgotten, so that its call detail record is written
		// and says why it stops here.
		t.end(t.order.Front().Value.(*call), t.now, "no longer followed: too many calls", cdr.System)
	}
	c := &call{invTarget: m.Contact, Call: Call{CallID: m.CallID, Caller: m.From, Callee: m.To, CallerTag: m.FromTag,
		RequestURI: requestURI(m.FirstLine()), Source: m.Peer.String(), State: CallTrying, Start: m.Time}}
	// One copy of what the call keeps of its INVITE, so that a long call
	// pins neither the INVITE's text nor its summary.
	sip.Detach(&c.CallID, &c.CallerTag, &c.Caller, &c.Callee, &c.RequestURI, &c.invTarget)
	key := callKey{c.CallID, c.CallerTag}
	c.key = key
	t.active[key] = c
	t.callIDs[key.callID]++
	c.elem = t.order.PushBack(c)
	t.note(CallStarted, c)
	return c
}

func requestURI(line string) string {
	_, rest, _ := strings.Cut(line, " ")
	uri, _, _ := strings.Cut(rest, " ")
	return uri
}

// inviteResponse applies a response Parley sent for an INVITE: to the
// call's latest INVITE it makes, confirms or ends dialogs; to a
// re-INVITE it goes to the dialog.
func (t *tracker) inviteResponse(m *Message) {
	c := t.active[callKey{m.CallID, m.FromTag}]
	if c == nil || m.CSeq != c.invSeq {
		t.inDialog(m)
		return
	}
	switch code := m.Status; {
	case code < 200:
		t.legOf(c, m, dialog.Early)
		if c.State == CallTrying {
			c.State, c.Ringing = CallRinging, t.now
			t.note(CallAlerting, c)
		}
	case code < 300:
		t.answered(c, t.legOf(c, m, dialog.Confirmed), code)
	default:
		c.invClosed = true
		t.closeEarly(c, code) // a failure ends every early dialog of the INVITE
		if c.answer == nil {
			t.failed(c, code, statusReason(m))
		}
	}
}

// legOf returns the dialog a response to the call's INVITE with a To tag
// makes or moves to state (early for a provisional one, confirmed for a
// 2xx), as the caller's side would: nil for a response without a tag,
// or a provisional one after the INVITE's transaction is over.
func (t *tracker) legOf(c *call, m *Message, state dialog.State) *leg {
	if m.ToTagValue == "" {
		return nil
	}
	l := c.leg(m.ToTagValue)
	switch {
	case (l == nil || l.state == dialog.Terminated) && state == dialog.Early && c.invClosed:
		return nil // too late for a new early dialog
	case l != nil && l.state == dialog.Terminated: // ended, and made again by this INVITE
		*l = leg{tag: l.tag, state: state, target: strings.Clone(m.Contact)}
		t.dialogChanged(c, l, "INVITE", m.Status, true)
	case l == nil && len(c.legs) >= maxForks:
		return nil
	case l == nil:
		l = &leg{tag: m.ToTagValue, state: state, target: m.Contact}
		sip.Detach(&l.tag, &l.target)
		c.legs = append(c.legs, l)
		t.dialogChanged(c, l, "INVITE", m.Status, true)
	case l.state == dialog.Early && state == dialog.Confirmed:
		l.state = dialog.Confirmed
		if m.Contact != "" && m.Contact != l.target {
			l.target = strings.Clone(m.Contact)
		}
		t.dialogChanged(c, l, "INVITE", m.Status, true)
	}
	return l
}

// leg returns the call's dialog with the callee's tag, or nil.
func (c *call) leg(tag string) *leg {
	for _, l := range c.legs {
		if l.tag == tag {
			return l
		}
	}
	return nil
}

// closeEarly ends the call's early dialogs: its INVITE failed (code),
// or its transaction is over without a 2xx for them (0).
func (t *tracker) closeEarly(c *call, code int) {
	for _, l := range c.legs {
		if l.state == dialog.Early {
			t.terminate(c, l, "INVITE", code)
		}
	}
}

// answered fixes the call to the dialog of its first 2xx; the other
// branches' early dialogs end, as Parley cancels them.
func (t *tracker) answered(c *call, l *leg, code int) {
	if c.State == CallEstablished {
		return
	}
	c.answer = l // nil for a 2xx without a To tag: answered, but with no dialog to follow
	c.State, c.Status, c.Answered = CallEstablished, code, t.now
	c.invClosed = true
	t.closeEarly(c, 0)
	t.note(CallAnswered, c)
}

// failed ends a call on its INVITE's final failure, except a challenge,
// after which the caller is expected to send the INVITE again with
// credentials: the call waits for it (see sweep).
func (t *tracker) failed(c *call, code int, reason string) {
	if code == 401 || code == 407 {
		c.challenged, c.lastFinal, c.lastReason = t.now, code, reason
		return
	}
	c.Status = code
	t.end(c, t.now, reason, refuser(code, c.cancelled))
}

// refuser says who ended a call that failed with code: the caller who
// cancelled it, the system for a timeout or a server error, else the
// callee that refused it.
func refuser(code int, cancelled bool) cdr.Party {
	switch {
	case code == 487 && cancelled:
		return cdr.Caller
	case code == 408 || code == 487 || (code >= 500 && code < 600):
		return cdr.System
	}
	return cdr.Callee
}

// inDialog applies an in-dialog request or response to the dialog it
// belongs to, seen from the caller's side: the caller's tag in From
// (a request of the caller's, or its response), or in To (the callee's).
func (t *tracker) inDialog(m *Message) {
	fromCaller := true
	c := t.active[callKey{m.CallID, m.FromTag}]
	if c == nil && m.ToTag {
		c, fromCaller = t.active[callKey{m.CallID, m.ToTagValue}], false
	}
	if c == nil {
		return
	}
	tag := m.ToTagValue
	if !fromCaller {
		tag = m.FromTag
	}
	l := c.leg(tag)
	if l == nil || l.state == dialog.Terminated || m.CSeqMethod == "" || isSubscription(m.CSeqMethod) {
		return
	}
	if m.Status == 0 {
		t.request(c, l, m, fromCaller)
	} else {
		t.response(c, l, m, fromCaller)
	}
}

// isSubscription reports whether method belongs to a subscription usage
// of a dialog (RFC 5057), which the tracker does not follow.
func isSubscription(method string) bool { return method == "SUBSCRIBE" || method == "NOTIFY" }

// request records a request in a dialog: an out-of-order one from the
// callee changes nothing (§12.2.2), the first BYE says who hung up.
func (t *tracker) request(c *call, l *leg, m *Message, fromCaller bool) {
	if m.Method == "BYE" && c.answer == l && c.byeFrom == "" {
		c.byeFrom, c.byeAt = cdr.Callee, t.now
		if fromCaller {
			c.byeFrom = cdr.Caller
		}
	}
	if !fromCaller {
		if l.hasSeq && m.CSeq < l.seq {
			return
		}
		l.seq, l.hasSeq = m.CSeq, true
	}
	for _, p := range l.pending {
		if p.fromCaller == fromCaller && p.seq == m.CSeq && p.method == m.Method {
			return // a retransmission
		}
	}
	if len(l.pending) == maxLegPending {
		l.pending = slices.Delete(l.pending, 0, 1) // its answer was lost
	}
	l.pending = append(l.pending, inDialogRequest{fromCaller: fromCaller, seq: m.CSeq, method: internMethod(m.Method)})
}

// response applies the final response to a request of the dialog: a
// BYE's ends it, whatever its status (§15.1.1), and so do those RFC 5057
// §5.1 says end the INVITE usage (481, 408 and the like) or the dialog.
// A response to a request not seen is a retransmission, or the answer to
// something Parley did not relay; it changes nothing.
func (t *tracker) response(c *call, l *leg, m *Message, fromCaller bool) {
	if m.Status < 200 {
		return
	}
	i := slices.IndexFunc(l.pending, func(p inDialogRequest) bool {
		return p.fromCaller == fromCaller && p.seq == m.CSeq && p.method == m.CSeqMethod
	})
	if i < 0 {
		return
	}
	p := l.pending[i]
	l.pending = slices.Delete(l.pending, i, i+1)
	if p.method == "BYE" || endsDialog(m.Status) {
		t.terminate(c, l, p.method, m.Status)
	}
}

// endsDialog reports whether a final response to a request of a
// dialog's INVITE usage ends the dialog (RFC 5057 §5.1): those that end
// the usage, its only one as the tracker follows it, and those that end
// every usage.
func endsDialog(code int) bool {
	switch code {
	case 481, 408, 405, 501, 489, // the usage
		404, 410, 416, 482, 483, 484, 485, 502, 604: // the dialog
		return true
	}
	return false
}

// internMethod returns the common methods as constants, so that a
// pending request keeps no piece of the message it came from.
func internMethod(m string) string {
	for _, k := range [...]string{"BYE", "INVITE", "UPDATE", "PRACK", "INFO", "REFER", "MESSAGE", "OPTIONS"} {
		if m == k {
			return k
		}
	}
	return strings.Clone(m)
}

// terminate ends one of a call's dialogs; the call ends with its own.
func (t *tracker) terminate(c *call, l *leg, method string, code int) {
	l.state, l.pending = dialog.Terminated, nil
	t.dialogChanged(c, l, method, code, false)
	if l != c.answer {
		return
	}
	party, at := cdr.System, t.now
	if method == "BYE" && c.byeFrom != "" {
		// The talk ended with the BYE: a far end that never
		// answers it (a dead node, a vanished phone) must not
		// bill the 32 s of Timer F on top.
		party, at = c.byeFrom, c.byeAt
	}
	t.end(c, at, endReason(method, code), party)
}

// dialogChanged moves a call on by a change of one of its dialogs:
// made or confirmed (made set) or ended. The callee's target follows the
// latest dialog made until one answers, then stays the answering one's.
func (t *tracker) dialogChanged(c *call, l *leg, method string, code int, made bool) {
	if made && (c.answer == nil || c.answer == l) {
		c.CallerTarget, c.CalleeTarget = c.invTarget, l.target
	}
	i := slices.IndexFunc(c.Branches, func(b Branch) bool { return b.Tag == l.tag })
	if i < 0 {
		c.Branches = append(c.Branches, Branch{Tag: l.tag})
		i = len(c.Branches) - 1
	}
	b := &c.Branches[i]
	state := l.state.String()
	if b.State == state && (code == 0 || b.Status == code) {
		return
	}
	b.State = state
	if code != 0 && method == "INVITE" {
		b.Status = code
	}
	t.note(0, c)
}

// endReason says why a call's dialog ended, by the request whose final
// response ended it.
func endReason(method string, code int) string {
	switch {
	case method == "BYE":
		return cdr.ReasonHungUp
	case code == 408:
		return method + " timed out"
	case code != 0:
		return method + " answered " + strconv.Itoa(code)
	}
	return "dialog ended"
}

// statusReason is a final response's reason phrase, the record's reason
// for a call it refused ("Busy Here"), as the B2BUA's records have it:
// the status has a column of its own. A response without a phrase gives
// its code.
func statusReason(m *Message) string {
	_, rest, _ := strings.Cut(m.FirstLine(), " ") // SIP/2.0
	if _, reason, ok := strings.Cut(rest, " "); ok && strings.TrimSpace(reason) != "" {
		return strings.TrimSpace(reason)
	}
	return strconv.Itoa(m.Status)
}

// end moves a call to the recent list and drops what is left of its
// dialogs.
func (t *tracker) end(c *call, at time.Time, reason string, by cdr.Party) {
	if c.State == CallEnded {
		return
	}
	c.State, c.End, c.Reason, c.HungUpBy = CallEnded, at, reason, by
	for i := range c.Branches {
		c.Branches[i].State = dialog.Terminated.String()
	}
	t.remove(c)
	t.addRecent(c.clone())
	t.note(CallFinished, c)
}

// addRecent keeps an ended call among the maxRecent latest.
func (t *tracker) addRecent(c Call) { t.recent.add(c) }

// recentCalls is a ring of the latest ended calls, at most maxRecent.
// When it is full an ended call takes the oldest one's place: moving the
// other 199 down instead (a Call is about 300 bytes with pointers) cost
// 60 KB copied, under write barriers while the collector marks, for
// every call that ended.
type recentCalls struct {
	buf  []Call
	head int            // the oldest call's index in buf
	n    int            // how many buf holds
	ids  map[string]int // their Call-IDs, counted: a late INVITE of an ended call starts none
}

func (r *recentCalls) add(c Call) {
	if r.buf == nil {
		r.buf = make([]Call, maxRecent)
	}
	if r.n == len(r.buf) {
		r.dropOldest()
	}
	r.buf[(r.head+r.n)%len(r.buf)] = c
	r.n++
	r.ids[c.CallID]++
}

// oldest returns the call that ended first, or nil.
func (r *recentCalls) oldest() *Call {
	if r.n == 0 {
		return nil
	}
	return &r.buf[r.head]
}

func (r *recentCalls) dropOldest() {
	c := &r.buf[r.head]
	if r.ids[c.CallID]--; r.ids[c.CallID] <= 0 {
		delete(r.ids, c.CallID)
	}
	*c = Call{} // keep none of its strings
	r.head = (r.head + 1) % len(r.buf)
	r.n--
}

// newestFirst returns copies of the calls, the one that ended last first.
func (r *recentCalls) newestFirst() []Call {
	out := make([]Call, r.n)
	for i := range out {
		out[i] = r.buf[(r.head+r.n-1-i)%len(r.buf)]
	}
	return out
}

// owned applies an owner's Disown or Report.
func (t *tracker) owned(s *ownedStep) []notice {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.resetNotices()
	if s.change == 0 {
		t.disown(s.callID)
		return nil
	}
	if s.change == CallFinished {
		t.addRecent(s.c)
	}
	return []notice{{change: s.change, call: s.c}}
}

// disown forgets the calls of callID quietly (their owner records them)
// and keeps away from that Call-ID, among the maxDisowned latest.
func (t *tracker) disown(callID string) {
	if t.callIDs[callID] > 0 {
		for el := t.order.Front(); el != nil; {
			next := el.Next()
			if c := el.Value.(*call); c.key.callID == callID {
				t.remove(c)
			}
			el = next
		}
	}
	if t.disowned[callID] {
		return
	}
	callID = strings.Clone(callID)
	t.disowned[callID] = true
	t.gone = append(t.gone, callID)
	if len(t.gone) > maxDisowned {
		delete(t.disowned, t.gone[0])
		t.gone = t.gone[1:]
	}
}

// remove forgets an active call, and its dialogs with it.
func (t *tracker) remove(c *call) {
	t.order.Remove(c.elem)
	delete(t.active, c.key)
	if t.callIDs[c.key.callID]--; t.callIDs[c.key.callID] <= 0 {
		delete(t.callIDs, c.key.callID)
	}
}

// resetNotices empties the notices of the previous message, keeping
// their memory: a call's four steps would otherwise each allocate a
// fresh slice of the large notice (a third of what the worker allocates
// per call). What observe, sweep and owned return is therefore only
// valid until the tracker's next call, which the worker, their one
// caller, respects.
func (t *tracker) resetNotices() {
	clear(t.notices) // not to pin the calls' strings
	t.notices = t.notices[:0]
}

func (t *tracker) note(change CallChange, c *call) {
	t.notices = append(t.notices, notice{change: change, call: c.clone()})
}

// sweep ends calls stuck in setup and challenged calls that were not
// tried again, and forgets old recent calls. It returns the changes.
func (t *tracker) sweep(now time.Time) []notice {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.now = now
	t.resetNotices()
	for e := t.order.Front(); e != nil; {
		next := e.Next()
		c := e.Value.(*call)
		switch {
		case c.State == CallEstablished && now.Sub(c.Answered) > maxCallAge:
			t.end(c, now, "no BYE within 12h", cdr.System)
		case c.State == CallEstablished:
		case !c.challenged.IsZero() && now.Sub(c.challenged) > challengeWait:
			c.Status = c.lastFinal
			t.end(c, c.challenged, c.lastReason, cdr.Caller) // it never answered the challenge
		case now.Sub(c.Start) > setupTimeout:
			t.end(c, now, "no final response", cdr.System)
		}
		e = next
	}
	for c := t.recent.oldest(); c != nil && now.Sub(c.End) > recentAge; c = t.recent.oldest() {
		t.recent.dropOldest()
	}
	return t.notices
}

// snapshot returns copies of the active calls (oldest first) and the
// recent ones (most recently ended first).
func (t *tracker) snapshot() (active, recent []Call) {
	t.mu.Lock()
	defer t.mu.Unlock()
	active = make([]Call, 0, t.order.Len())
	for e := t.order.Front(); e != nil; e = e.Next() {
		active = append(active, e.Value.(*call).clone())
	}
	return active, t.recent.newestFirst()
}

// count returns the number of calls being set up and of answered ones.
func (t *tracker) count() (setup, answered int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for e := t.order.Front(); e != nil; e = e.Next() {
		if e.Value.(*call).State == CallEstablished {
			answered++
		} else {
			setup++
		}
	}
	return setup, answered
}

// RefusedByPolicy reports whether Parley turned the call away itself
// before relaying it, with a challenge that was never answered (401,
// 407) or a refusal of its policy (403: relaying denied, a foreign
// domain): an attempt, not a call. Scanners make thousands of these;
// they get a log line, not a call detail record.
func (c *Call) RefusedByPolicy() bool {
	return !c.Relayed && (c.Status == 401 || c.Status == 407 || c.Status == 403)
}
