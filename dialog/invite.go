package dialog

import (
	"errors"
	"sync"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/sip"
)

// Invitation is one INVITE the local side sent outside any dialog, and
// the dialogs its responses make: a forked INVITE gets provisional
// responses with different To tags, each an early dialog of its own
// (§12.1.2, §13.2.2.4), and may be answered by more than one 2xx. A
// non-2xx final response ends every early dialog; after the first 2xx
// the others wait Config.Linger for a 2xx of their own, then end. Its
// methods are safe for concurrent use.
type Invitation struct {
	t   *Table
	req *sip.Message

	mu      sync.Mutex
	dialogs []*Dialog // in the order their first tagged response came
	spare   *Dialog   // the caller's storage for the first dialog (NewInvitationIn)
	final   int       // the first final response's status; 0 before
	timer   clock.Timer
	closed  bool
}

// NewInvitation starts following the responses to req, an INVITE without
// a To tag that the local side sent.
func (t *Table) NewInvitation(req *sip.Message) (*Invitation, error) {
	if req.Method() != "INVITE" {
		return nil, ErrNotInDialog
	}
	if id, ok := OutgoingID(req); !ok || id.LocalTag == "" || id.RemoteTag != "" {
		return nil, ErrNotInDialog
	}
	return &Invitation{t: t, req: req}, nil
}

// NewInvitationIn is NewInvitation making the first dialog its responses
// create in first, a zero Dialog its caller holds (see NewUASIn); the
// dialogs of further forks are allocated as usual.
func (t *Table) NewInvitationIn(req *sip.Message, first *Dialog) (*Invitation, error) {
	inv, err := t.NewInvitation(req)
	if err == nil {
		inv.spare = first
	}
	return inv, err
}

// Request returns the INVITE.
func (inv *Invitation) Request() *sip.Message { return inv.req }

// ReceiveResponse applies a response to the INVITE and returns the dialog
// it belongs to, made on the first response with its To tag; nil for a
// response without a tag (100 Trying) or a non-2xx final one, which ends
// every early dialog instead.
func (inv *Invitation) ReceiveResponse(resp *sip.Message) (*Dialog, error) {
	code := resp.StatusCode()
	cs, err := resp.CSeq()
	if err != nil || cs.Method != "INVITE" {
		return nil, ErrNotInDialog
	}
	if code >= 300 {
		inv.fail(code)
		return nil, nil
	}
	id, ok := OutgoingID(resp)
	if !ok || id.RemoteTag == "" {
		return nil, nil
	}
	d := inv.t.Find(id)
	if d == nil {
		if inv.isClosed() && code < 200 {
			return nil, nil // too late for a new early dialog
		}
		if inv.count() >= MaxForks {
			return nil, ErrTooManyForks
		}
		spare := inv.takeSpare()
		d, err = inv.t.create(spare, UAC, inv.req, resp)
		if spare != nil && d != spare {
			inv.giveBack(spare) // unused: an error, or a dialog already there
		}
		if err != nil {
			return nil, err
		}
		inv.add(d)
	} else if err := d.ReceiveResponse(resp); err != nil && err != ErrTerminated {
		return d, err
	}
	if code >= 200 {
		inv.answered(code)
	}
	return d, nil
}

// MaxForks bounds the dialogs one INVITE makes, so that a peer answering
// with a new To tag in every response cannot grow a table without end.
const MaxForks = 64

// ErrTooManyForks is a response with a new To tag after MaxForks dialogs.
var ErrTooManyForks = errors.New("dialog: too many forks of one INVITE")

func (inv *Invitation) count() int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return len(inv.dialogs)
}

func (inv *Invitation) isClosed() bool {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.closed
}

func (inv *Invitation) add(d *Dialog) {
	inv.mu.Lock()
	inv.dialogs = append(inv.dialogs, d)
	inv.mu.Unlock()
}

// takeSpare claims the caller's storage for a dialog while it is unused
// (nil after), so that two forks' first responses never share it.
func (inv *Invitation) takeSpare() *Dialog {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	d := inv.spare
	inv.spare = nil
	return d
}

// giveBack returns storage takeSpare claimed and create left unused.
func (inv *Invitation) giveBack(d *Dialog) {
	inv.mu.Lock()
	inv.spare = d
	inv.mu.Unlock()
}

// answered starts the wait of the other early dialogs on the first 2xx.
func (inv *Invitation) answered(code int) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.final != 0 {
		return
	}
	inv.final = code
	if inv.t.cfg.Linger > 0 && !inv.closed {
		inv.timer = inv.t.cfg.Clock.AfterFunc(inv.t.cfg.Linger, inv.Close)
	}
}

// fail ends every early dialog on a non-2xx final response.
func (inv *Invitation) fail(code int) {
	inv.mu.Lock()
	if inv.final == 0 {
		inv.final = code
	}
	dialogs := inv.dialogs
	inv.closed = true
	inv.mu.Unlock()
	for _, d := range dialogs {
		d.endEarly(code)
	}
}

// Close says the INVITE transaction is over: the early dialogs still
// waiting for a 2xx end (with Code 0). A 2xx that comes later still makes
// its dialog, which the caller must ACK and then BYE (§13.2.2.4).
func (inv *Invitation) Close() {
	inv.mu.Lock()
	inv.closed = true
	if inv.timer != nil {
		inv.timer.Stop()
	}
	dialogs := inv.dialogs
	inv.mu.Unlock()
	for _, d := range dialogs {
		d.endEarly(0)
	}
}

// Final returns the status of the first final response, 0 before one.
func (inv *Invitation) Final() int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.final
}

// Dialogs returns the dialogs made so far, in the order their first
// response came; terminated ones included.
func (inv *Invitation) Dialogs() []*Dialog {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return append([]*Dialog(nil), inv.dialogs...)
}
