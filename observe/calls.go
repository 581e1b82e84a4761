package observe

import (
	"container/list"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CallState is where a call stands, as the messages Parley relayed show it.
type CallState string

// Call states. A call starts trying at its first INVITE, rings at a
// provisional response other than 100, is established at a 2xx and ends
// at a final failure, or when a BYE is answered.
const (
	CallTrying      CallState = "trying"
	CallRinging     CallState = "ringing"
	CallEstablished CallState = "established"
	CallEnded       CallState = "ended"
)

// Call is one INVITE dialog seen by the proxy.
type Call struct {
	CallID     string    `json:"call_id"`           // the INVITE's Call-ID
	Caller     string    `json:"caller"`            // the From address
	Callee     string    `json:"callee"`            // the To address
	RequestURI string    `json:"request_uri"`       // of the caller's INVITE
	Source     string    `json:"source"`            // where the INVITE came from
	State      CallState `json:"state"`             // where the call stands
	Status     int       `json:"status,omitempty"`  // the final status of the INVITE, once sent
	Reason     string    `json:"reason,omitempty"`  // why it ended
	Start      time.Time `json:"start"`             // the INVITE's arrival
	Answered   time.Time `json:"answered,omitzero"` // the 2xx sent to the caller
	End        time.Time `json:"end,omitzero"`      // the answer to the BYE, or the failure
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

// Bounds of the tracker. A call that never gets a final answer (the
// caller's INVITE was lost on the way out, say) is ended after
// setupTimeout, which is longer than Timer C (181 s by default).
const (
	defaultMaxActive = 10000
	maxRecent        = 200
	recentAge        = 30 * time.Minute
	setupTimeout     = 5 * time.Minute
)

// tracker follows calls through the message stream. Requests are taken as
// received (the caller's INVITE, either side's BYE) and responses as sent,
// because what Parley sent is what the caller got: a 486 from one forked
// branch that Parley absorbed does not end the call, and a 404 Parley
// made itself does.
type tracker struct {
	mu        sync.Mutex
	maxActive int
	active    map[string]*list.Element // of *Call, oldest first in order
	order     *list.List
	recent    []Call // ended calls, oldest first
}

func newTracker(maxActive int) *tracker {
	if maxActive <= 0 {
		maxActive = defaultMaxActive
	}
	return &tracker{maxActive: maxActive, active: make(map[string]*list.Element), order: list.New()}
}

// observe applies m and returns the call it changed.
func (t *tracker) observe(m *Message) (Call, bool) {
	if m.CallID == "" {
		return Call{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case m.Dir == Received && m.Method == "INVITE" && !m.ToTag:
		return t.start(m)
	case m.Dir == Sent && m.Status >= 101:
		return t.response(m)
	}
	return Call{}, false
}

// start records a new call, unless the INVITE is a retransmission or
// another branch's copy of one already known.
func (t *tracker) start(m *Message) (Call, bool) {
	if _, ok := t.active[m.CallID]; ok || t.recentIndex(m.CallID) >= 0 {
		return Call{}, false
	}
	if t.order.Len() >= t.maxActive {
		oldest := t.order.Front()
		t.order.Remove(oldest)
		delete(t.active, oldest.Value.(*Call).CallID)
	}
	c := &Call{
		// Clones, so that a long call does not pin its INVITE's text.
		CallID:     strings.Clone(m.CallID),
		Caller:     strings.Clone(m.From),
		Callee:     strings.Clone(m.To),
		RequestURI: strings.Clone(requestURI(m.FirstLine())),
		Source:     m.Peer.String(),
		State:      CallTrying,
		Start:      m.Time,
	}
	t.active[c.CallID] = t.order.PushBack(c)
	return *c, true
}

func requestURI(line string) string {
	_, rest, _ := strings.Cut(line, " ")
	uri, _, _ := strings.Cut(rest, " ")
	return uri
}

// response moves a call on by a response Parley sent.
func (t *tracker) response(m *Message) (Call, bool) {
	e, ok := t.active[m.CallID]
	if !ok {
		return Call{}, false
	}
	c := e.Value.(*Call)
	setup := c.State == CallTrying || c.State == CallRinging
	switch {
	case m.CSeqMethod == "INVITE" && m.Status < 200 && c.State == CallTrying:
		c.State = CallRinging
	case m.CSeqMethod == "INVITE" && m.Status < 300 && m.Status >= 200 && setup:
		c.State, c.Status, c.Answered = CallEstablished, m.Status, m.Time
	case m.CSeqMethod == "INVITE" && m.Status >= 300 && setup:
		c.Status = m.Status
		t.end(e, m.Time, statusReason(m))
	case m.CSeqMethod == "BYE" && m.Status >= 200:
		t.end(e, m.Time, "hung up")
	default:
		return Call{}, false
	}
	return *e.Value.(*Call), true
}

func statusReason(m *Message) string {
	line := m.FirstLine()
	if _, reason, ok := strings.Cut(line, " "); ok {
		return reason
	}
	return strconv.Itoa(m.Status)
}

// end moves a call to the recent list.
func (t *tracker) end(e *list.Element, at time.Time, reason string) {
	c := e.Value.(*Call)
	c.State, c.End, c.Reason = CallEnded, at, reason
	t.order.Remove(e)
	delete(t.active, c.CallID)
	if len(t.recent) == maxRecent {
		t.recent = append(t.recent[:0], t.recent[1:]...)
	}
	t.recent = append(t.recent, *c)
}

func (t *tracker) recentIndex(id string) int {
	for i := len(t.recent) - 1; i >= 0; i-- {
		if t.recent[i].CallID == id {
			return i
		}
	}
	return -1
}

// sweep ends calls stuck in setup and forgets old recent calls. It returns
// the calls it ended.
func (t *tracker) sweep(now time.Time) []Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ended []Call
	for e := t.order.Front(); e != nil; {
		next := e.Next()
		c := e.Value.(*Call)
		if (c.State == CallTrying || c.State == CallRinging) && now.Sub(c.Start) > setupTimeout {
			t.end(e, now, "no final response")
			ended = append(ended, *c)
		}
		e = next
	}
	i := 0
	for i < len(t.recent) && now.Sub(t.recent[i].End) > recentAge {
		i++
	}
	t.recent = append(t.recent[:0], t.recent[i:]...)
	return ended
}

// snapshot returns copies of the active calls (oldest first) and the
// recent ones (most recently ended first).
func (t *tracker) snapshot() (active, recent []Call) {
	t.mu.Lock()
	defer t.mu.Unlock()
	active = make([]Call, 0, t.order.Len())
	for e := t.order.Front(); e != nil; e = e.Next() {
		active = append(active, *e.Value.(*Call))
	}
	recent = make([]Call, len(t.recent))
	for i, c := range t.recent {
		recent[len(recent)-1-i] = c
	}
	return active, recent
}

// count returns the number of active calls.
func (t *tracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.order.Len()
}
