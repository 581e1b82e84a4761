package observe

import (
	"container/list"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

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
	inv        *dialog.Invitation // the latest INVITE of the call
	invSeq     uint32             // its CSeq number
	answer     *dialog.Dialog     // the dialog of the first 2xx: the call's own
	dialogs    []*dialog.Dialog   // every dialog the call's INVITEs made
	challenged time.Time          // a 401/407 ended the latest INVITE, at this time
	lastFinal  int                // that response's status
	lastReason string             // and its reason phrase
	cancelled  bool               // the caller sent a CANCEL
	byeFrom    cdr.Party          // who sent the first BYE
	byeAt      time.Time          // and when: the call's end, whenever its answer comes
}

// notice is one change of a call for the observer to publish.
type notice struct {
	change CallChange // 0 for a change of state that is no step (ringing, a branch)
	call   Call
}

// tracker follows calls by feeding the messages Parley relays into the
// dialog state machine (package dialog) from the caller's side: what
// Parley received from the caller is what the caller sent, and what
// Parley sent back is what the caller received. Requests are therefore
// taken as received and responses as sent, so that a 486 from one forked
// branch that Parley absorbed does not end the call, and a 404 Parley
// made itself does. It runs on the observer's worker only; mu guards what
// readers (the admin API, /metrics) see.
type tracker struct {
	mu        sync.Mutex
	maxActive int
	dialogs   *dialog.Table
	active    map[callKey]*call
	callIDs   map[string]int  // active calls per Call-ID: the cheap test before parsing
	order     *list.List      // of *call, oldest first
	recent    recentCalls     // ended calls
	disowned  map[string]bool // Call-IDs whose calls their owner holds (Observer.Disown)
	gone      []string        // those Call-IDs, oldest first, to bound the set
	now       time.Time       // the time of the message being handled
	notices   []notice
	// scratch is the worker's one Message for every call message but
	// an INVITE that starts a call, whose Invitation keeps it: the
	// dialogs clone what they keep of the others, and what the tracker
	// keeps it clones, so parsing into the same Message saves a Message
	// and its typed-header cache per message.
	scratch sip.Message
}

func newTracker(maxActive int) *tracker {
	if maxActive <= 0 {
		maxActive = defaultMaxActive
	}
	t := &tracker{maxActive: maxActive, active: make(map[callKey]*call), callIDs: make(map[string]int),
		order: list.New(), recent: recentCalls{ids: make(map[string]int)}, disowned: make(map[string]bool)}
	// The tracker closes each INVITE's early dialogs itself (on the 2xx,
	// which is when Parley cancels the other branches), so no timer runs
	// and every dialog event comes on the worker, inside observe.
	t.dialogs = dialog.NewTable(dialog.Config{Listener: t.dialogEvent, Linger: -1})
	return t
}

// observe applies m and returns the changes of the calls it touched.
// What the summary alone settles is never parsed: an ACK changes no
// dialog (it shares its INVITE's CSeq), the forwarded INVITE and the
// CANCEL name their call by Call-ID and From tag, and a message with no
// To tag that neither starts a call nor answers its INVITE (the 100
// Trying) has no dialog to go to. That spares the worker a parse and a
// dialog lookup for 3 of the 8 messages of an answered call it follows
// (the 100, the forwarded INVITE, the ACK), and for each CANCEL.
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
	msg, err := &t.scratch, error(nil)
	if starts {
		msg, err = sip.Parse(textBytes(m.Text))
	} else {
		err = sip.DefaultLimits.ParseInto(msg, textBytes(m.Text))
	}
	if err != nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.now = m.Time
	t.resetNotices()
	switch {
	case starts:
		t.invite(m, msg)
	case answer:
		t.inviteResponse(m, msg)
	default:
		t.inDialog(msg)
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

// follows reports whether a call with this Call-ID is being tracked.
func (t *tracker) follows(callID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.callIDs[callID] > 0
}

// invite starts a call, or a new attempt of one (the INVITE with
// credentials after a challenge); a retransmission or a spiralled copy
// changes nothing.
func (t *tracker) invite(m *Message, req *sip.Message) {
	cs, err := req.CSeq()
	if err != nil {
		return
	}
	key := callKey{strings.Clone(m.CallID), strings.Clone(req.FromTag())}
	c := t.active[key]
	switch {
	case c == nil && (t.recent.ids[key.callID] > 0 || t.disowned[key.callID]): // over, or its owner's
		return
	case c != nil && (cs.Seq <= c.invSeq || c.State == CallEstablished): // a copy, or no new attempt
		return
	}
	inv, err := t.dialogs.NewInvitation(req)
	if err != nil {
		return
	}
	if c == nil {
		c = t.start(key, m)
	}
	if c.inv != nil {
		c.inv.Close()
	}
	c.inv, c.invSeq, c.challenged = inv, cs.Seq, time.Time{}
}

// start records a new call.
func (t *tracker) start(key callKey, m *Message) *call {
	if t.order.Len() >= t.maxActive {
		// Ended, not forgotten, so that its call detail record is written
		// and says why it stops here.
		t.end(t.order.Front().Value.(*call), t.now, "no longer followed: too many calls", cdr.System)
	}
	c := &call{key: key, Call: Call{
		// Clones, so that a long call does not pin its INVITE's text.
		CallID:     key.callID,
		Caller:     strings.Clone(m.From),
		Callee:     strings.Clone(m.To),
		CallerTag:  key.fromTag,
		RequestURI: strings.Clone(requestURI(m.FirstLine())),
		Source:     m.Peer.String(),
		State:      CallTrying,
		Start:      m.Time,
	}}
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
func (t *tracker) inviteResponse(m *Message, resp *sip.Message) {
	c := t.callOf(resp)
	cs, err := resp.CSeq()
	if c == nil || err != nil || cs.Seq != c.invSeq {
		t.inDialog(resp)
		return
	}
	d, _ := c.inv.ReceiveResponse(resp) // dialog events update branches and the answer
	switch code := m.Status; {
	case code < 200:
		if c.State == CallTrying {
			c.State, c.Ringing = CallRinging, t.now
			t.note(CallAlerting, c)
		}
	case code < 300:
		t.answered(c, d, code)
	case c.answer == nil:
		t.failed(c, code, statusReason(m))
	}
}

// answered fixes the call to the dialog of its first 2xx; the other
// branches' early dialogs end, as Parley cancels them.
func (t *tracker) answered(c *call, d *dialog.Dialog, code int) {
	if c.State == CallEstablished {
		return
	}
	c.answer = d // nil for a 2xx without a To tag: answered, but with no dialog to follow
	c.State, c.Status, c.Answered = CallEstablished, code, t.now
	c.inv.Close()
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

// inDialog feeds an in-dialog request or response to the dialog it
// belongs to, seen from the caller's side.
func (t *tracker) inDialog(msg *sip.Message) {
	d, fromCaller := t.dialogs.Locate(msg)
	if d == nil {
		return
	}
	if msg.IsRequest() && msg.Method() == "BYE" {
		t.byeSeen(d, fromCaller)
	}
	switch {
	case msg.IsRequest() && fromCaller:
		d.SendRequest(msg)
	case msg.IsRequest():
		d.ReceiveRequest(msg)
	case fromCaller:
		d.ReceiveResponse(msg)
	default:
		d.SendResponse(msg)
	}
}

// byeSeen notes who sent a call's first BYE, for HungUpBy when its
// response ends the dialog.
func (t *tracker) byeSeen(d *dialog.Dialog, fromCaller bool) {
	id := d.ID() // seen from the caller: the local tag is the caller's
	c := t.active[callKey{id.CallID, id.LocalTag}]
	switch {
	case c == nil || c.answer != d || c.byeFrom != "":
	case fromCaller:
		c.byeFrom, c.byeAt = cdr.Caller, t.now
	default:
		c.byeFrom, c.byeAt = cdr.Callee, t.now
	}
}

// callOf returns the call a message of the caller's belongs to.
func (t *tracker) callOf(m *sip.Message) *call {
	id, ok := dialog.OutgoingID(m)
	if !ok {
		return nil
	}
	return t.active[callKey{id.CallID, id.LocalTag}]
}

// dialogEvent moves a call on by a change of one of its dialogs. It runs
// inside observe, on the worker, with mu held.
func (t *tracker) dialogEvent(e dialog.Event) {
	c := t.active[callKey{e.ID.CallID, e.ID.LocalTag}]
	if c == nil {
		return
	}
	if e.Kind == dialog.EventCreated {
		c.dialogs = append(c.dialogs, e.Dialog)
	}
	if e.Kind == dialog.EventCreated || e.Kind == dialog.EventConfirmed {
		t.targets(c, e.Dialog)
	}
	t.branch(c, e)
	if e.Kind == dialog.EventTerminated && e.Dialog == c.answer {
		party, at := cdr.System, t.now
		if e.Method == "BYE" && c.byeFrom != "" {
			// The talk ended with the BYE: a far end that never
			// answers it (a dead node, a vanished phone) must not
			// bill the 32 s of Timer F on top.
			party, at = c.byeFrom, c.byeAt
		}
		t.end(c, at, endReason(e), party)
	}
}

// targets takes the parties' Contact URIs from a dialog of the call, the
// callee's only until one dialog answered.
func (t *tracker) targets(c *call, d *dialog.Dialog) {
	if c.answer != nil && c.answer != d {
		return
	}
	info := d.Info()
	c.CallerTarget, c.CalleeTarget = info.LocalTarget, info.RemoteTarget
}

// branch records a dialog's state in the call's branches.
func (t *tracker) branch(c *call, e dialog.Event) {
	i := slices.IndexFunc(c.Branches, func(b Branch) bool { return b.Tag == e.ID.RemoteTag })
	if i < 0 {
		c.Branches = append(c.Branches, Branch{Tag: strings.Clone(e.ID.RemoteTag)})
		i = len(c.Branches) - 1
	}
	b := &c.Branches[i]
	if b.State == e.State.String() && (e.Code == 0 || b.Status == e.Code) {
		return
	}
	b.State = e.State.String()
	if e.Code != 0 && e.Method == "INVITE" {
		b.Status = e.Code
	}
	t.note(0, c)
}

// endReason says why a call's dialog ended.
func endReason(e dialog.Event) string {
	switch {
	case e.Method == "BYE":
		return cdr.ReasonHungUp
	case e.Code == 408:
		return e.Method + " timed out"
	case e.Code != 0:
		return e.Method + " answered " + strconv.Itoa(e.Code)
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
		c.Branches[i].State = dialog.Terminated.String() // remove ends what is left of them
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

// remove forgets an active call and ends its dialogs.
func (t *tracker) remove(c *call) {
	t.order.Remove(c.elem)
	delete(t.active, c.key)
	if t.callIDs[c.key.callID]--; t.callIDs[c.key.callID] <= 0 {
		delete(t.callIDs, c.key.callID)
	}
	for _, d := range c.dialogs {
		d.Terminate("", 0) // their events find no call any more
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

// textBytes lends a message's text to the parser without a copy: sip
// never writes to the bytes it parses (Message.raw), and the tracker
// edits no message, so the immutable string's memory is safe to share. It
// saves a copy of every message of a call on the worker.
func textBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
