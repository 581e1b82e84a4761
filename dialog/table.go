package dialog

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/sip"
)

// Config configures a Table. The zero value works.
type Config struct {
	// Listener, when set, receives every change of every dialog.
	Listener Listener
	// Clock runs the timer that ends the early dialogs of an answered
	// INVITE; nil means clock.Default().
	Clock clock.Clock
	// Linger is how long an Invitation keeps its other early dialogs
	// after the first 2xx, waiting for theirs: the life of the INVITE
	// client transaction after a 2xx (64*T1, §13.2.2.4, §17.1.1.2, RFC
	// 6026). 0 means 32 s; a negative value leaves it to
	// Invitation.Close.
	Linger time.Duration
}

// DefaultLinger is Config.Linger's default: 64*T1 with T1 = 500 ms.
const DefaultLinger = 32 * time.Second

// Table holds the dialogs of one user agent (or of a B2BUA's two sides, or
// of an observer), finds the dialog of an incoming message and reports
// changes to its Listener. A terminated dialog leaves the table. It is
// safe for concurrent use.
type Table struct {
	cfg     Config
	mu      sync.RWMutex
	dialogs index
}

// NewTable returns an empty table.
func NewTable(cfg Config) *Table {
	if cfg.Clock == nil {
		cfg.Clock = clock.Default()
	}
	if cfg.Linger == 0 {
		cfg.Linger = DefaultLinger
	}
	return &Table{cfg: cfg, dialogs: newIndex()}
}

// Len returns the number of dialogs held.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.dialogs.len()
}

// Find returns the dialog with id, or nil.
func (t *Table) Find(id ID) *Dialog {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.dialogs.get(id)
}

// Match returns the dialog an incoming in-dialog request (or the local
// side's response to one) belongs to, by Call-ID, To tag (ours) and From
// tag (theirs) (§12.2.2), or nil. A request with no To tag is no
// in-dialog request, and matches nothing.
func (t *Table) Match(m *sip.Message) *Dialog {
	id, ok := IncomingID(m)
	if !ok || id.LocalTag == "" {
		return nil
	}
	return t.Find(id)
}

// Locate finds the dialog of a message seen from the middle, in either
// direction: fromLocal is true when the message is a request of the local
// side or a response to one (its From tag is the local tag), false when it
// belongs to a request of the remote side.
func (t *Table) Locate(m *sip.Message) (d *Dialog, fromLocal bool) {
	if id, ok := OutgoingID(m); ok && id.RemoteTag != "" {
		if d := t.Find(id); d != nil {
			return d, true
		}
		return t.Find(id.Reverse()), false
	}
	return nil, false
}

// NewUAC makes the dialog a request the local side sent (an INVITE or a
// SUBSCRIBE) and a response to it with a To tag create (§12.1.2): early
// for a provisional response, confirmed for a 2xx. The local URI and tag
// come from the request's From, the remote ones from the response's To,
// the remote target from the response's Contact, the route set from its
// Record-Route in reverse. For an INVITE, prefer Invitation, which also
// keeps the early dialogs of forks apart. A dialog with that ID already
// in the table is returned as it is.
func (t *Table) NewUAC(req, resp *sip.Message) (*Dialog, error) {
	return t.create(nil, UAC, req, resp)
}

// NewUAS makes the dialog a request the local side received and the
// response with a To tag it sends create (§12.1.1): the remote URI and
// tag from the request's From, the route set from its Record-Route in
// order, the remote target from its Contact; the local tag from the
// response's To, the local target from its Contact.
func (t *Table) NewUAS(req, resp *sip.Message) (*Dialog, error) {
	return t.create(nil, UAS, req, resp)
}

// NewUASIn is NewUAS making the dialog in d, a zero Dialog its caller
// holds (a field of a larger struct that lives as long as the dialog
// does): a B2BUA's call keeps its dialogs in its own allocation, not in
// one each. d is used by pointer from then on, never copied; it stays
// zero when a dialog with that ID is returned instead.
func (t *Table) NewUASIn(d *Dialog, req, resp *sip.Message) (*Dialog, error) {
	return t.create(d, UAS, req, resp)
}

// create makes a dialog in into, or in a new one when into is nil.
func (t *Table) create(into *Dialog, role Role, req, resp *sip.Message) (*Dialog, error) {
	code := resp.StatusCode()
	if !req.IsRequest() || code < 101 || code >= 300 {
		return nil, ErrNotInDialog
	}
	id, ok := OutgoingID(resp)
	if role == UAS {
		id, ok = IncomingID(resp)
	}
	cs, err := req.CSeq()
	if !ok || err != nil || id.LocalTag == "" || id.RemoteTag == "" {
		return nil, ErrNotInDialog
	}
	d := into
	if d == nil {
		d = new(Dialog)
	}
	initDialog(d, t, role, id, req, resp, cs.Seq)
	t.mu.Lock()
	if old := t.dialogs.get(id); old != nil {
		t.mu.Unlock()
		*d = Dialog{} // the caller's storage stays unused
		return old, nil
	}
	t.dialogs.put(d)
	t.mu.Unlock()
	d.change(func() error {
		d.emit(EventCreated, Usage{}, req.Method(), code)
		for _, u := range d.usages {
			d.emit(EventUsageAdded, u, req.Method(), code)
		}
		return nil
	})
	return d, nil
}

// initDialog fills d, a zero Dialog, with what req and resp make.
func initDialog(d *Dialog, t *Table, role Role, id ID, req, resp *sip.Message, seq uint32) {
	d.table, d.id, d.role, d.state, d.usages = t, id, role, Early, []Usage{UsageOf(req).owned()}
	if resp.StatusCode() >= 200 {
		d.state = Confirmed
	} else {
		// The creating request is still open: its final response confirms
		// or ends the dialog.
		d.pending = []pending{{local: role == UAC, seq: seq, method: req.Method(), usage: d.usages[0], initial: true}}
	}
	if role == UAC {
		d.localParty, d.remoteParty = req.Header("From"), resp.Header("To")
		d.localTarget, d.remoteTarget = contactView(req), contactView(resp)
		d.routeSet = routeSetOf(resp, true)
		d.localSeq, d.hasLocalSeq = seq, true
	} else {
		d.localParty, d.remoteParty = resp.Header("To"), req.Header("From")
		d.localTarget, d.remoteTarget = contactView(resp), contactView(req)
		d.routeSet = routeSetOf(req, false)
		d.remoteSeq, d.hasRemoteSeq = seq, true
	}
	// What a message yields views its buffer (a whole datagram, a whole
	// built response), which a dialog kept for an hour would pin.
	sip.Detach(&d.id.CallID, &d.id.LocalTag, &d.id.RemoteTag, &d.localParty, &d.remoteParty, &d.localTarget, &d.remoteTarget)
}

// deliver hands events to the listener, and drops terminated dialogs.
func (t *Table) deliver(events []Event) {
	for _, e := range events {
		if e.Kind == EventTerminated {
			t.mu.Lock()
			t.dialogs.remove(e.Dialog)
			t.mu.Unlock()
		}
		if t.cfg.Listener != nil {
			t.cfg.Listener(e)
		}
	}
}

// NewTag returns a fresh random tag for a UAS's To or a UAC's From
// (§19.3: at least 32 bits of randomness).
func NewTag() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:])
}

// Restore puts back a confirmed dialog its owner kept across a restart
// (a subscription a notifier stored): info as Dialog.Info returned it.
// The listener hears EventCreated and EventUsageAdded as for a new
// dialog. A dialog with that ID already in the table is returned as it
// is.
func (t *Table) Restore(info Info) (*Dialog, error) {
	if info.ID.CallID == "" || info.ID.LocalTag == "" || info.ID.RemoteTag == "" || len(info.Usages) == 0 {
		return nil, ErrNotInDialog
	}
	d := &Dialog{table: t, id: info.ID, role: info.Role, state: Confirmed,
		localParty: info.LocalParty, remoteParty: info.RemoteParty,
		localTarget: info.LocalTarget, remoteTarget: info.RemoteTarget,
		routeSet: slices.Clone(info.RouteSet), usages: slices.Clone(info.Usages),
		localSeq: info.LocalSeq, hasLocalSeq: info.LocalSeq > 0,
		remoteSeq: info.RemoteSeq, hasRemoteSeq: info.RemoteSeq > 0}
	t.mu.Lock()
	if old := t.dialogs.get(info.ID); old != nil {
		t.mu.Unlock()
		return old, nil
	}
	t.dialogs.put(d)
	t.mu.Unlock()
	d.change(func() error {
		d.emit(EventCreated, Usage{}, "", 0)
		for _, u := range d.usages {
			d.emit(EventUsageAdded, u, "", 0)
		}
		return nil
	})
	return d, nil
}
