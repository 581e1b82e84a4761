package observe

import (
	"sync"
	"time"
)

// EventKind names what an Event carries.
type EventKind string

// Event kinds. Resync tells a subscriber that it missed events (it read
// too slowly), so it must reload what it shows rather than patch it.
const (
	EventMessage EventKind = "message"
	EventCall    EventKind = "call"
	EventResync  EventKind = "resync"
)

// Event is one change for live views: a message captured or a call changed.
type Event struct {
	Kind    EventKind    `json:"kind"`              // what it carries
	Message *MessageInfo `json:"message,omitempty"` // for EventMessage
	Call    *Call        `json:"call,omitempty"`    // for EventCall: the call as it is now
}

// MessageInfo is a message without its text, small enough to push to every
// open console; the text is fetched when someone looks at it.
type MessageInfo struct {
	Seq       uint64    `json:"seq"`        // Message.Seq
	Time      time.Time `json:"time"`       // Message.Time
	Direction string    `json:"direction"`  // "received" or "sent"
	Proto     string    `json:"proto"`      // "udp", "tcp" or "tls"
	Src       string    `json:"src"`        // IP:port it came from
	Dst       string    `json:"dst"`        // IP:port it went to
	FirstLine string    `json:"first_line"` // the request or status line
	CallID    string    `json:"call_id"`    // Message.CallID
	// Method, Status and CSeqMethod are from the summary, so that a view
	// can tell a REGISTER's answer from an INVITE's without the text.
	Method     string `json:"method,omitempty"`      // Summary.Method
	Status     int    `json:"status,omitempty"`      // Summary.Status
	CSeqMethod string `json:"cseq_method,omitempty"` // Summary.CSeqMethod
}

// Info returns the message's MessageInfo.
func (m *Message) Info() MessageInfo {
	return MessageInfo{
		Seq: m.Seq, Time: m.Time, Direction: m.Dir.String(), Proto: m.Proto,
		Src: m.Src().String(), Dst: m.Dst().String(), FirstLine: m.FirstLine(), CallID: m.CallID,
		Method: m.Method, Status: m.Status, CSeqMethod: m.CSeqMethod,
	}
}

// hub fans events out to subscribers. A subscriber that does not keep up
// loses events rather than slowing the worker, and is told so by a
// resync event once it has room again.
type hub struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

type subscriber struct {
	ch     chan Event
	lagged bool
}

func newHub() *hub { return &hub{subs: make(map[*subscriber]struct{})} }

// subscribe returns a channel of events and a function that ends the
// subscription and closes the channel.
func (h *hub) subscribe(buffer int) (<-chan Event, func()) {
	s := &subscriber{ch: make(chan Event, max(buffer, 1))}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs, s)
			h.mu.Unlock()
			close(s.ch)
		})
	}
}

// active reports whether anyone listens, so that the worker builds events
// only for someone.
func (h *hub) active() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) > 0
}

func (h *hub) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.lagged {
			if !trySend(s.ch, Event{Kind: EventResync}) {
				continue
			}
			s.lagged = false
		}
		if !trySend(s.ch, e) {
			s.lagged = true
		}
	}
}

func trySend(ch chan Event, e Event) bool {
	select {
	case ch <- e:
		return true
	default:
		return false
	}
}
