// Package dialoginfo builds the bodies of the dialog event package (RFC
// 4235, application/dialog-info+xml): what desk phones' busy lamp keys
// (BLF) subscribe to. A Dialog is one dialog of the watched user as plain
// values; FromEvent makes one from a change the dialog layer reports; a
// Subscription numbers the documents of one subscription, as §4.1.1 asks.
package dialoginfo

import (
	"encoding/xml"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"

	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/sip"
)

// Namespace and media type of a dialog-info document.
const (
	Namespace   = "urn:ietf:params:xml:ns:dialog-info"
	ContentType = "application/dialog-info+xml"
)

// State is a dialog's state in the package's state machine (§3.7.1).
type State string

// The states. Trying and proceeding come before the dialog exists (an
// INVITE sent, a provisional response without a To tag); the dialog
// layer reports early, confirmed and terminated.
const (
	Trying     State = "trying"
	Proceeding State = "proceeding"
	Early      State = "early"
	Confirmed  State = "confirmed"
	Terminated State = "terminated"
)

// Direction says whether the watched user sent the INVITE (initiator) or
// received it (recipient).
type Direction string

// The directions.
const (
	Initiator Direction = "initiator"
	Recipient Direction = "recipient"
)

// Reason is why a dialog reached terminated (the state's event
// attribute, §4.1.2).
type Reason string

// The reasons RFC 4235 defines.
const (
	Cancelled Reason = "cancelled"
	Rejected  Reason = "rejected"
	Replaced  Reason = "replaced"
	LocalBye  Reason = "local-bye"
	RemoteBye Reason = "remote-bye"
	Error     Reason = "error"
	Timeout   Reason = "timeout"
)

// Party is one side of a dialog: who (identity, with a display name) and
// where (the target, its Contact URI).
type Party struct {
	Identity string // a URI
	Display  string // as a person reads it, unquoted
	Target   string // a URI
}

// Dialog is one dialog of the watched user, seen from the user's side.
type Dialog struct {
	CallID    string
	LocalTag  string // the user's tag
	RemoteTag string // "" before the remote side answered with one
	Direction Direction
	State     State
	Reason    Reason // for Terminated; "" when unknown
	Code      int    // the final response that terminated it; 0 for none
	Local     Party
	Remote    Party
}

// ID is the dialog's id attribute: the same for the same Call-ID and
// tags, so a watcher can follow one dialog from document to document,
// and an XML-safe token whatever the tags hold.
func (d Dialog) ID() string {
	h := fnv.New64a()
	for _, s := range []string{d.CallID, d.LocalTag, d.RemoteTag} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("d%016x", h.Sum64())
}

// View says whose dialog a dialog.Dialog is to the watched user.
type View uint8

// Views: Local when the watched user is the dialog's local side (the
// dialog layer holds the user's own dialog, or the caller's view of a
// call the user made), Remote when the user is its remote side (the
// callee of a call the observer follows from the caller's view).
const (
	Local View = iota + 1
	Remote
)

// FromEvent makes the Dialog a change of the dialog layer stands for,
// seen by the watched user as view says. It reports false for the
// changes a watcher is not told of (usages added or ended).
func FromEvent(ev dialog.Event, info dialog.Info, view View) (Dialog, bool) {
	var d Dialog
	switch ev.Kind {
	case dialog.EventCreated:
		d.State = Early
		if ev.State == dialog.Confirmed {
			d.State = Confirmed
		}
	case dialog.EventConfirmed:
		d.State = Confirmed
	case dialog.EventTerminated:
		d.State, d.Code = Terminated, ev.Code
		d.Reason = reason(ev, view)
		if ev.Method == "BYE" || d.Code < 300 {
			d.Code = 0
		}
	default:
		return Dialog{}, false
	}
	d.CallID = info.ID.CallID
	local, remote := party(info.LocalParty, info.LocalTarget), party(info.RemoteParty, info.RemoteTarget)
	d.LocalTag, d.RemoteTag = info.ID.LocalTag, info.ID.RemoteTag
	d.Direction = Initiator
	if info.Role == dialog.UAS {
		d.Direction = Recipient
	}
	d.Local, d.Remote = local, remote
	if view == Remote {
		d.LocalTag, d.RemoteTag = d.RemoteTag, d.LocalTag
		d.Local, d.Remote = remote, local
		d.Direction = map[Direction]Direction{Initiator: Recipient, Recipient: Initiator}[d.Direction]
	}
	return d, true
}

// reason maps how a dialog ended to §4.1.2's event: a BYE is the user's
// own when the dialog's local side sent it as the user; an INVITE that
// failed was cancelled (487), timed out (408) or rejected.
func reason(ev dialog.Event, view View) Reason {
	switch {
	case ev.Method == "BYE" && view == Local:
		return LocalBye
	case ev.Method == "BYE":
		return RemoteBye
	case ev.Code == 487:
		return Cancelled
	case ev.Code == 408:
		return Timeout
	case ev.Code >= 300:
		return Rejected
	}
	return ""
}

// party reads a From/To value (name-addr with tag) into a Party. From a
// value that does not parse (the leniency table forwards such From and To
// values) the identity is what stands between angle brackets, if anything
// does: the schema wants a URI there, and a watcher still sees who it was.
func party(nameAddr, target string) Party {
	p := Party{Target: target}
	if na, err := sip.ParseNameAddr(nameAddr); err == nil {
		p.Identity, p.Display = na.URI.String(), na.DisplayName()
	} else if _, rest, ok := strings.Cut(nameAddr, "<"); ok {
		if uri, _, ok := strings.Cut(rest, ">"); ok && !strings.ContainsAny(uri, " \t<\"") {
			p.Identity = uri
		}
	}
	return p
}

// Document is one dialog-info document: every dialog of the user
// (full) or the ones that changed (partial).
type Document struct {
	Entity  string // the watched user's URI
	Version uint32
	Full    bool
	Dialogs []Dialog
}

// ErrNoEntity is a document without the watched user's URI.
var ErrNoEntity = errors.New("dialoginfo: no entity")

type outInfo struct {
	XMLName xml.Name    `xml:"dialog-info"`
	NS      string      `xml:"xmlns,attr"`
	Version uint32      `xml:"version,attr"`
	State   string      `xml:"state,attr"`
	Entity  string      `xml:"entity,attr"`
	Dialogs []outDialog `xml:"dialog"`
}

type outDialog struct {
	ID        string    `xml:"id,attr"`
	CallID    string    `xml:"call-id,attr,omitempty"`
	LocalTag  string    `xml:"local-tag,attr,omitempty"`
	RemoteTag string    `xml:"remote-tag,attr,omitempty"`
	Direction Direction `xml:"direction,attr,omitempty"`
	State     outState  `xml:"state"`
	Local     *outParty `xml:"local,omitempty"`
	Remote    *outParty `xml:"remote,omitempty"`
}

type outState struct {
	Value  State  `xml:",chardata"`
	Reason Reason `xml:"event,attr,omitempty"`
	Code   int    `xml:"code,attr,omitempty"`
}

type outParty struct {
	Identity *outIdentity `xml:"identity,omitempty"`
	Target   *outTarget   `xml:"target,omitempty"`
}

type outIdentity struct {
	Display string `xml:"display,attr,omitempty"`
	URI     string `xml:",chardata"`
}

type outTarget struct {
	URI string `xml:"uri,attr"`
}

// Marshal writes the document with an XML declaration.
func (d *Document) Marshal() ([]byte, error) {
	if d.Entity == "" {
		return nil, ErrNoEntity
	}
	o := outInfo{NS: Namespace, Version: d.Version, State: "partial", Entity: d.Entity}
	if d.Full {
		o.State = "full"
	}
	for _, dl := range d.Dialogs {
		if dl.State == "" {
			return nil, fmt.Errorf("dialoginfo: dialog %q has no state", dl.CallID)
		}
		od := outDialog{ID: dl.ID(), CallID: dl.CallID, LocalTag: dl.LocalTag, RemoteTag: dl.RemoteTag,
			Direction: dl.Direction, State: outState{Value: dl.State}, Local: dl.Local.out(), Remote: dl.Remote.out()}
		if dl.State == Terminated {
			od.State.Reason, od.State.Code = dl.Reason, dl.Code
		}
		o.Dialogs = append(o.Dialogs, od)
	}
	body, err := xml.MarshalIndent(o, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("dialoginfo: %w", err)
	}
	return append([]byte(xml.Header), append(body, '\n')...), nil
}

func (p Party) out() *outParty {
	if p.Identity == "" && p.Target == "" {
		return nil
	}
	o := &outParty{}
	if p.Identity != "" {
		o.Identity = &outIdentity{Display: strings.TrimSpace(p.Display), URI: p.Identity}
	}
	if p.Target != "" {
		o.Target = &outTarget{URI: p.Target}
	}
	return o
}

// Subscription numbers the documents of one dialog subscription: version
// 0 for the first NOTIFY, one more for each after (§4.1.1), so a watcher
// can tell a lost or reordered NOTIFY. Safe for concurrent use.
type Subscription struct {
	Entity string

	mu   sync.Mutex
	next uint32
}

// Full builds the next document with every dialog of the user, as the
// first NOTIFY and any refresh send.
func (s *Subscription) Full(dialogs []Dialog) ([]byte, error) { return s.build(true, dialogs) }

// Partial builds the next document with only the dialogs that changed.
func (s *Subscription) Partial(dialogs ...Dialog) ([]byte, error) { return s.build(false, dialogs) }

// build uses a version only when the document is built, so a refused
// document leaves no gap a watcher would take for a lost NOTIFY.
func (s *Subscription) build(full bool, dialogs []Dialog) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	doc := Document{Entity: s.Entity, Version: s.next, Full: full, Dialogs: dialogs}
	body, err := doc.Marshal()
	if err == nil {
		s.next++
	}
	return body, err
}
