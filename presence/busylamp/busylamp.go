// Package busylamp is the dialog event package (RFC 4235) that desk
// phones' busy lamp keys (BLF) subscribe to: the calls of every user, kept
// from what the server sees of calls and served to the notifier as full
// dialog-info documents.
//
// Calls come in through Update as CallEvents, one per step of a call,
// with both parties: the proxy's call tracker (package observe) and a
// B2BUA can both feed it. Each party gets an entry, the caller as
// initiator and the callee as recipient. A terminated entry stays for a
// linger time, long enough for every watcher's NOTIFY to carry it, and is
// dropped after; a user keeps at most MaxPerUser entries.
package busylamp

import (
	"strings"
	"sync"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/presence/dialoginfo"
	"github.com/parley-sip/parley/presence/internal/fifo"
	"github.com/parley-sip/parley/presence/notify"
	"github.com/parley-sip/parley/sip"
)

// Event is the package's Event token.
const Event = "dialog"

// Defaults of Config.
const (
	DefaultLinger     = 30 * time.Second
	DefaultMaxPerUser = 16
)

// Side names a party of a call.
type Side uint8

// Sides.
const (
	Caller Side = iota + 1
	Callee
)

// Leg is one party of a call: who, where, and the tag of its side of the
// dialog ("" for a callee that has not answered with one).
type Leg struct {
	Party dialoginfo.Party
	Tag   string
}

// CallEvent is one step of a call: the state both parties' dialogs are
// in now. For Terminated, Code is the INVITE's final failure (0 or a 2xx
// for a call that ended with a BYE) and HungUpBy who sent the BYE, when
// known.
type CallEvent struct {
	CallID   string
	Caller   Leg
	Callee   Leg
	State    dialoginfo.State
	Code     int
	HungUpBy Side
}

// Config configures a Tracker.
type Config struct {
	// Clock tells the time for the linger of terminated dialogs; nil is
	// clock.Default().
	Clock clock.Clock
	// Changed is told of every resource whose document changed, so that
	// the notifier sends its watchers a NOTIFY; nil tells no one.
	Changed func(resource string)
	// Resource maps a party's identity URI to the resource its watchers
	// subscribe to ("user@domain"), or false for a party nobody can
	// watch; nil takes the URI's user and lower-case host.
	Resource func(identity string) (string, bool)
	// Linger is how long a terminated dialog stays in documents; 0 is
	// DefaultLinger.
	Linger time.Duration
	// MaxPerUser bounds one user's dialogs; 0 is DefaultMaxPerUser.
	MaxPerUser int
}

// Tracker holds every user's dialogs and serves them as the dialog event
// package. It is safe for concurrent use.
type Tracker struct {
	cfg Config

	mu    sync.Mutex
	users map[string]*user
	ended fifo.Queue[ending] // terminated entries in the order they ended
}

// user is one watched resource's dialogs, oldest first.
type user struct {
	dialogs []entry
}

// entry is one dialog of a user, named by the call's Call-ID and the
// caller's tag, which both parties' entries share.
type entry struct {
	callID, callerTag string
	dialog            dialoginfo.Dialog
	ended             time.Time // zero while not terminated
}

// ending is a terminated entry waiting for its linger to pass.
type ending struct {
	resource, callID, callerTag string
	at                          time.Time
}

// New returns an empty Tracker.
func New(cfg Config) *Tracker {
	if cfg.Clock == nil {
		cfg.Clock = clock.Default()
	}
	if cfg.Resource == nil {
		cfg.Resource = ResourceOf
	}
	if cfg.Linger <= 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.MaxPerUser <= 0 {
		cfg.MaxPerUser = DefaultMaxPerUser
	}
	return &Tracker{cfg: cfg, users: make(map[string]*user)}
}

// ResourceOf is the default Config.Resource: "user@host" of a SIP URI,
// the user unescaped and the host in lower case, as the notifier names a
// subscription's resource.
func ResourceOf(identity string) (string, bool) {
	u, err := sip.ParseURI(identity)
	if err != nil || !u.IsSIP() || u.User == "" {
		return "", false
	}
	return sip.Unescape(u.User) + "@" + strings.ToLower(u.Host), true
}

// Event implements notify.Package.
func (t *Tracker) Event() string { return Event }

// ContentType implements notify.Package.
func (t *Tracker) ContentType() string { return dialoginfo.ContentType }

// Body implements notify.Package: every dialog of the watched user, a
// full document numbered with the subscription's version. Live dialogs
// come first, oldest first, then the terminated ones: a phone that reads
// only the first dialog of a document still shows a new call ringing
// while the last one's end is being told.
func (t *Tracker) Body(w notify.Watch) ([]byte, error) {
	doc := dialoginfo.Document{Entity: "sip:" + w.Resource, Version: w.Version, Full: true}
	t.mu.Lock()
	t.expire(t.cfg.Clock.Now())
	if u := t.users[w.Resource]; u != nil {
		doc.Dialogs = make([]dialoginfo.Dialog, 0, len(u.dialogs))
		for _, ended := range []bool{false, true} {
			for _, e := range u.dialogs {
				if !e.ended.IsZero() == ended {
					doc.Dialogs = append(doc.Dialogs, e.dialog)
				}
			}
		}
	}
	t.mu.Unlock()
	return doc.Marshal()
}

// Dialogs returns a copy of the user's dialogs, oldest first.
func (t *Tracker) Dialogs(resource string) []dialoginfo.Dialog {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.users[resource]
	if u == nil {
		return nil
	}
	out := make([]dialoginfo.Dialog, len(u.dialogs))
	for i, e := range u.dialogs {
		out[i] = e.dialog
	}
	return out
}

// Update applies one step of a call to both parties' dialogs and tells
// Changed of each party whose document changed. A callee gets an entry
// only once the call reaches it (early or later): a call still trying is
// the caller's alone.
func (t *Tracker) Update(ev CallEvent) {
	if ev.CallID == "" || ev.State == "" {
		return
	}
	var changed [2]string
	now := t.cfg.Clock.Now()
	t.mu.Lock()
	t.expire(now)
	for i, side := range []Side{Caller, Callee} {
		r, ok := t.cfg.Resource(ev.leg(side).Party.Identity)
		if ok && t.apply(r, ev, side, now) {
			changed[i] = r
		}
	}
	t.mu.Unlock()
	if t.cfg.Changed == nil {
		return
	}
	for i, r := range changed {
		if r != "" && (i == 0 || r != changed[0]) {
			t.cfg.Changed(r)
		}
	}
}

func (ev *CallEvent) leg(s Side) Leg {
	if s == Caller {
		return ev.Caller
	}
	return ev.Callee
}

// apply sets side's entry of the call in resource's dialogs, and reports
// whether anything changed. It runs with mu held.
func (t *Tracker) apply(resource string, ev CallEvent, side Side, now time.Time) bool {
	u := t.users[resource]
	i := -1
	if u != nil {
		i = u.find(ev.CallID, ev.Caller.Tag)
	}
	if i < 0 && (ev.State == dialoginfo.Terminated || side == Callee && before(ev.State)) {
		return false // a dialog that never showed needs no end, a callee not yet reached no lamp
	}
	d := ev.dialog(side)
	if i >= 0 && u.dialogs[i].dialog == d {
		return false
	}
	if i >= 0 && u.dialogs[i].dialog.State == dialoginfo.Terminated {
		return false // an end is final: a late step does not light the lamp again
	}
	if u == nil {
		u = &user{}
		t.users[resource] = u
	}
	if i < 0 {
		u.add(t.cfg.MaxPerUser, entry{callID: ev.CallID, callerTag: ev.Caller.Tag, dialog: d})
		i = len(u.dialogs) - 1
	}
	u.dialogs[i].dialog = d
	if d.State == dialoginfo.Terminated {
		u.dialogs[i].ended = now
		t.ended.Push(ending{resource: resource, callID: ev.CallID, callerTag: ev.Caller.Tag, at: now})
	}
	return true
}

// before reports whether a state comes before the callee is reached.
func before(s dialoginfo.State) bool {
	return s == dialoginfo.Trying || s == dialoginfo.Proceeding
}

// dialog is the call seen by one side.
func (ev *CallEvent) dialog(side Side) dialoginfo.Dialog {
	d := dialoginfo.Dialog{CallID: ev.CallID, State: ev.State, Direction: dialoginfo.Initiator,
		LocalTag: ev.Caller.Tag, RemoteTag: ev.Callee.Tag, Local: ev.Caller.Party, Remote: ev.Callee.Party}
	if side == Callee {
		d.Direction = dialoginfo.Recipient
		d.LocalTag, d.RemoteTag = ev.Callee.Tag, ev.Caller.Tag
		d.Local, d.Remote = ev.Callee.Party, ev.Caller.Party
	}
	if ev.State == dialoginfo.Terminated {
		d.Reason, d.Code = ev.reason(side), ev.Code
		if d.Code < 300 {
			d.Code = 0
		}
	}
	return d
}

// reason is §4.1.2's event for how the call ended, seen by side.
func (ev *CallEvent) reason(side Side) dialoginfo.Reason {
	switch {
	case ev.Code == 487:
		return dialoginfo.Cancelled
	case ev.Code == 408:
		return dialoginfo.Timeout
	case ev.Code >= 300:
		return dialoginfo.Rejected
	case ev.HungUpBy == 0:
		return ""
	case ev.HungUpBy == side:
		return dialoginfo.LocalBye
	}
	return dialoginfo.RemoteBye
}

func (u *user) find(callID, callerTag string) int {
	for i := range u.dialogs {
		if e := &u.dialogs[i]; e.callID == callID && e.callerTag == callerTag {
			return i
		}
	}
	return -1
}

// add appends e, first making room when the user is at max: the oldest
// terminated dialog goes, or else the oldest of all (a phone that never
// sent its BYE must not hold the lamp forever).
func (u *user) add(max int, e entry) {
	if len(u.dialogs) >= max {
		drop := 0
		for i := range u.dialogs {
			if !u.dialogs[i].ended.IsZero() {
				drop = i
				break
			}
		}
		u.dialogs = append(u.dialogs[:drop], u.dialogs[drop+1:]...)
	}
	u.dialogs = append(u.dialogs, e)
}

// expire drops the terminated entries whose linger has passed, and users
// left with none. It runs with mu held.
func (t *Tracker) expire(now time.Time) {
	// A fifo.Queue: moving the rest down at every expiry, as a slice
	// did, copied the whole queue (2 entries a call for Linger: 60 000 at
	// 1 000 calls/s and 30 s, 4 MB) on every Update once calls began to
	// expire.
	for e := t.ended.Front(); e != nil && now.Sub(e.at) >= t.cfg.Linger; e = t.ended.Front() {
		t.forget(*e)
		t.ended.Pop()
	}
}

// forget drops a lingering entry, and its user if left with none.
func (t *Tracker) forget(e ending) {
	u := t.users[e.resource]
	if u == nil {
		return
	}
	// The entry may have been evicted already, by add.
	if i := u.find(e.callID, e.callerTag); i >= 0 && u.dialogs[i].ended.Equal(e.at) {
		u.dialogs = append(u.dialogs[:i], u.dialogs[i+1:]...)
	}
	if len(u.dialogs) == 0 {
		delete(t.users, e.resource)
	}
}

// Len returns how many users have dialogs and how many dialogs they hold
// in all, for metrics and tests of the bounds.
func (t *Tracker) Len() (users, dialogs int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, u := range t.users {
		dialogs += len(u.dialogs)
	}
	return len(t.users), dialogs
}
