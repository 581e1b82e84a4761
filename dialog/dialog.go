package dialog

import (
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/parley-sip/parley/sip"
)

// Errors of the dialog's methods. ErrOutOfOrder and ErrNoUsage carry the
// status to answer the request with (§12.2.2, RFC 5057 §5.2).
var (
	// ErrTerminated is returned for anything done to a terminated dialog.
	ErrTerminated = errors.New("dialog: terminated")
	// ErrOutOfOrder is a received request whose CSeq is lower than the
	// last one the remote side sent (§12.2.2).
	ErrOutOfOrder = &sip.Error{Code: 500, Reason: "CSeq Out of Order"}
	// ErrNoUsage is a request for a usage the dialog does not carry: a
	// BYE after the INVITE usage ended, a NOTIFY for an unknown
	// subscription.
	ErrNoUsage = &sip.Error{Code: 481, Reason: "Dialog Usage Does Not Exist"}
	// ErrNotInDialog is a message whose Call-ID or tags are not the
	// dialog's, or which lacks a CSeq.
	ErrNotInDialog = errors.New("dialog: message does not belong to the dialog")
	// ErrNoTarget is returned when building a request before the remote
	// side gave a Contact.
	ErrNoTarget = errors.New("dialog: no remote target")
)

// Dialog is one dialog seen from its local side. Its methods are safe for
// concurrent use; the Table's listener is called after a change, on the
// goroutine that made it, with no lock held.
type Dialog struct {
	table *Table
	id    ID
	role  Role

	// The small fields sit together: 240 bytes, a size class below 256
	// (two dialogs a held B2BUA call).
	state        State
	hasLocalSeq  bool
	hasRemoteSeq bool
	mu           sync.Mutex
	localSeq     uint32
	remoteSeq    uint32
	localParty   string // From of the requests we send: name-addr with our tag
	remoteParty  string // their To
	localTarget  string // our Contact URI
	remoteTarget string // their Contact URI: the Request-URI of our requests
	routeSet     []string
	usages       []Usage
	pending      []pending // requests in either direction awaiting a final response
	events       []Event   // made under mu, delivered after it
}

// pending is a request in the dialog that has no final response yet.
type pending struct {
	local    bool // sent by the local side
	seq      uint32
	method   string
	usage    Usage
	initial  bool // the request that created the dialog
	lastNote bool // a NOTIFY ending its subscription
}

// Info is a copy of a dialog's state.
type Info struct {
	ID           ID
	Role         Role
	State        State
	LocalParty   string   // the local From/To value, with the local tag
	RemoteParty  string   // the remote one, with the remote tag
	LocalTarget  string   // our Contact URI
	RemoteTarget string   // the remote Contact URI
	RouteSet     []string // Route values for our requests, in order
	LocalSeq     uint32   // last CSeq we sent (0: none yet)
	RemoteSeq    uint32   // last CSeq the remote side sent (0: none yet)
	Usages       []Usage
}

// ID returns the dialog's ID.
func (d *Dialog) ID() ID { return d.id }

// Role returns the side the local side took in the creating request.
func (d *Dialog) Role() Role { return d.role }

// State returns the dialog's state.
func (d *Dialog) State() State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

// TargetSeq returns the remote target and the last CSeq the local side
// sent: what a watcher of target refreshes compares, without the copy
// Info makes.
func (d *Dialog) TargetSeq() (remote string, localSeq uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.remoteTarget, d.localSeq
}

// Info returns a copy of the dialog's state.
func (d *Dialog) Info() Info {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Info{
		ID: d.id, Role: d.role, State: d.state, LocalParty: d.localParty, RemoteParty: d.remoteParty,
		LocalTarget: d.localTarget, RemoteTarget: d.remoteTarget, RouteSet: slices.Clone(d.routeSet),
		LocalSeq: d.localSeq, RemoteSeq: d.remoteSeq, Usages: slices.Clone(d.usages),
	}
}

// HasUsage reports whether the dialog carries u.
func (d *Dialog) HasUsage(u Usage) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Contains(d.usages, u)
}

// change runs fn under the lock and then hands the events it made to the
// table, outside the lock, so that a listener may call back into d.
func (d *Dialog) change(fn func() error) error {
	d.mu.Lock()
	err := fn()
	events := d.events
	d.events = nil
	d.mu.Unlock()
	d.table.deliver(events)
	return err
}

func (d *Dialog) emit(kind EventKind, u Usage, method string, code int) {
	d.events = append(d.events, Event{Kind: kind, Dialog: d, ID: d.id, State: d.state, Usage: u, Method: method, Code: code})
}

// SendRequest records a request the local side sends in the dialog,
// built by NewRequest or not: its CSeq becomes the local sequence number
// (ACK and CANCEL reuse their INVITE's) and its final response, given to
// ReceiveResponse, is matched by CSeq.
func (d *Dialog) SendRequest(req *sip.Message) error {
	return d.change(func() error { return d.request(req, true) })
}

// ReceiveRequest checks and records a request the remote side sent in the
// dialog (§12.2.2): a CSeq lower than the last one is ErrOutOfOrder, a
// request for a usage the dialog lacks is ErrNoUsage (answer both with
// their status); a target refresh's Contact becomes the remote target.
func (d *Dialog) ReceiveRequest(req *sip.Message) error {
	return d.change(func() error { return d.request(req, false) })
}

func (d *Dialog) request(req *sip.Message, local bool) error {
	if d.state == Terminated {
		return ErrTerminated
	}
	cs, err := req.CSeq()
	if err != nil || !d.carries(req, local) {
		return ErrNotInDialog
	}
	method := req.Method()
	if method == "ACK" || method == "CANCEL" {
		return nil // they share their INVITE's CSeq and are no new request
	}
	if !local && d.hasRemoteSeq && cs.Seq < d.remoteSeq {
		return ErrOutOfOrder
	}
	u := UsageOf(req)
	if !slices.Contains(d.usages, u) && !creates(method) {
		return ErrNoUsage
	}
	if local {
		d.localSeq, d.hasLocalSeq = max(d.localSeq, cs.Seq), true
	} else {
		d.remoteSeq, d.hasRemoteSeq = cs.Seq, true
		if refreshes(method) {
			d.remoteTarget = retarget(d.remoteTarget, req)
		}
	}
	if d.findPending(local, cs.Seq, method) < 0 {
		if len(d.pending) == maxPending {
			d.pending = slices.Delete(d.pending, 0, 1) // its answer was lost; a dialog seen from the middle may miss some
		}
		d.pending = append(d.pending, pending{local: local, seq: cs.Seq, method: method, usage: u, lastNote: endsSubscription(req)})
	}
	if method == "NOTIFY" && !slices.Contains(d.usages, u) {
		d.addUsage(u, method, 0) // a NOTIFY may come before the SUBSCRIBE's 2xx (RFC 6665 §4.1.2.4)
	}
	return nil
}

// maxPending bounds the requests awaiting an answer in one dialog.
const maxPending = 32

// carries reports whether m, a message of a request the local side sent
// (local) or received, bears the dialog's Call-ID and tags.
func (d *Dialog) carries(m *sip.Message, local bool) bool {
	id, ok := IncomingID(m)
	if local {
		id, ok = OutgoingID(m)
	}
	return ok && id == d.id
}

// creates reports whether a request of method may start a usage the
// dialog does not carry yet (RFC 5057 §4).
func creates(method string) bool {
	return method == "INVITE" || method == "SUBSCRIBE" || method == "NOTIFY"
}

// SendResponse records a response the local side sends to a request the
// remote side made (ReceiveRequest, or the request that created a UAS
// dialog). A 2xx to the creating INVITE confirms the dialog; a final
// response ends what it ends (see ReceiveResponse).
func (d *Dialog) SendResponse(resp *sip.Message) error {
	return d.change(func() error { return d.response(resp, false) })
}

// ReceiveResponse records a response to a request the local side sent.
// A 2xx to a target refresh takes the remote target from its Contact; a
// 2xx to the creating INVITE confirms the dialog and recomputes its route
// set (§13.2.2.4). A final response ends what RFC 5057 §5.1 says it ends:
// a BYE's ends the INVITE usage, a NOTIFY's that said "terminated" ends
// its subscription, 481 and 408 (also the local 408 of Timer B or F) end
// the request's usage, 404, 410, 416, 482–485, 502 and 604 the dialog.
// The dialog terminates when its last usage ends.
func (d *Dialog) ReceiveResponse(resp *sip.Message) error {
	return d.change(func() error { return d.response(resp, true) })
}

func (d *Dialog) response(resp *sip.Message, local bool) error {
	if d.state == Terminated {
		return ErrTerminated
	}
	cs, err := resp.CSeq()
	if err != nil || !d.carries(resp, local) {
		return ErrNotInDialog
	}
	i := d.findPending(local, cs.Seq, cs.Method)
	if i < 0 {
		return nil // a retransmission, or the answer to a request we never saw
	}
	p := d.pending[i]
	code := resp.StatusCode()
	if code >= 200 && code < 300 && refreshes(p.method) {
		if local {
			d.remoteTarget = retarget(d.remoteTarget, resp)
		} else {
			d.localTarget = retarget(d.localTarget, resp)
		}
	}
	if code < 200 {
		return nil
	}
	if d.pending = slices.Delete(d.pending, i, i+1); len(d.pending) == 0 {
		// An idle dialog (a subscription between NOTIFYs, for an hour)
		// keeps no room for the next request: one small allocation per
		// request costs less than that room held by every dialog.
		d.pending = nil
	}
	d.final(p, resp, code)
	return nil
}

// final applies a final response to request p.
func (d *Dialog) final(p pending, resp *sip.Message, code int) {
	switch {
	case p.initial && code < 300:
		d.confirm(resp, p.local)
	case p.initial && d.state == Early:
		d.terminate(p.method, code) // the creating request failed: every early dialog of it ends
	case code < 300 && p.method == "BYE", p.lastNote:
		d.endUsage(p.usage, p.method, code)
	case code < 300:
		if creates(p.method) && !slices.Contains(d.usages, p.usage) {
			d.addUsage(p.usage, p.method, code)
		}
	case p.method == "BYE" || responseScope(code) == scopeUsage:
		d.endUsage(p.usage, p.method, code) // §15.1.1: whatever the BYE's answer, the session is over
	case responseScope(code) == scopeDialog:
		d.terminate(p.method, code)
	}
}

// confirm moves an early dialog to confirmed on a 2xx to its creating
// request; the UAC recomputes the route set from the 2xx (§13.2.2.4).
func (d *Dialog) confirm(resp *sip.Message, uac bool) {
	if d.state != Early {
		return
	}
	if uac {
		d.routeSet = routeSetOf(resp, true)
		d.remoteTarget = retarget(d.remoteTarget, resp)
	}
	d.state = Confirmed
	d.emit(EventConfirmed, InviteUsage, "INVITE", resp.StatusCode())
}

func (d *Dialog) addUsage(u Usage, method string, code int) {
	d.usages = append(d.usages, u.owned())
	d.emit(EventUsageAdded, u, method, code)
}

// EndUsage ends usage u, as its owner decides (a subscription expired, a
// session timer ran out); the dialog terminates with its last usage.
// method and code say why, for the listener ("" and 0 for none).
func (d *Dialog) EndUsage(u Usage, method string, code int) {
	d.change(func() error {
		if d.state != Terminated {
			d.endUsage(u, method, code)
		}
		return nil
	})
}

func (d *Dialog) endUsage(u Usage, method string, code int) {
	i := slices.Index(d.usages, u)
	if i < 0 {
		return
	}
	d.usages = slices.Delete(d.usages, i, i+1)
	d.emit(EventUsageEnded, u, method, code)
	if len(d.usages) == 0 {
		d.terminate(method, code)
	}
}

// Terminate ends the dialog and all its usages at once (the owner gives
// up on it, e.g. when its INVITE transaction ended without a 2xx for it).
func (d *Dialog) Terminate(method string, code int) {
	d.change(func() error {
		if d.state != Terminated {
			d.terminate(method, code)
		}
		return nil
	})
}

// endEarly terminates the dialog if it is still early: its INVITE failed
// (code) or its transaction ended without a 2xx for it (0).
func (d *Dialog) endEarly(code int) {
	d.change(func() error {
		if d.state == Early {
			d.terminate("INVITE", code)
		}
		return nil
	})
}

func (d *Dialog) terminate(method string, code int) {
	d.state = Terminated
	for _, u := range d.usages {
		d.emit(EventUsageEnded, u, method, code)
	}
	d.usages, d.pending = nil, nil
	d.emit(EventTerminated, Usage{}, method, code)
}

func (d *Dialog) findPending(local bool, seq uint32, method string) int {
	for i := range d.pending {
		if p := &d.pending[i]; p.local == local && p.seq == seq && p.method == method {
			return i
		}
	}
	return -1
}

// retarget returns the URI of m's first Contact as the dialog's new
// target, a copy of its own; cur when m has none or the same one. A 2xx
// repeats its provisional's Contact in nearly every call: kept as it
// is, a held dialog keeps its targets in its one allocation of strings,
// not a second small object beside it.
func retarget(cur string, m *sip.Message) string {
	t := contactView(m)
	if t == "" || t == cur {
		return cur
	}
	return strings.Clone(t)
}

// contactView is the URI of m's first Contact, or "", as m has it:
// perhaps a view of m's buffer.
func contactView(m *sip.Message) string {
	cs, err := m.Contacts()
	if err != nil || len(cs) == 0 || cs[0].Star {
		return ""
	}
	return cs[0].URI.String()
}

// routeSetOf returns m's Record-Route values, reversed for a UAC (§12.1.2)
// and in order for a UAS (§12.1.1).
func routeSetOf(m *sip.Message, reverse bool) []string {
	rrs, err := m.RecordRoutes()
	if err != nil || len(rrs) == 0 {
		return nil
	}
	set := make([]string, len(rrs))
	for i := range rrs {
		set[i] = strings.Clone(rrs[i].String())
	}
	if reverse {
		slices.Reverse(set)
	}
	return set
}
