// Package reginfo builds the bodies of the registration event package
// (RFC 3680, application/reginfo+xml): the registrations of an address of
// record, which a phone or an app watches to learn that another device
// took its place or that its own binding was removed. It holds plain
// values and writes only documents valid against the RFC's schema.
package reginfo

import (
	"encoding/xml"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/parley-sip/parley/sip"
)

// Namespace and media type of a reginfo document.
const (
	Namespace   = "urn:ietf:params:xml:ns:reginfo"
	ContentType = "application/reginfo+xml"
)

// State is a registration's or a contact's state (§5.3): a registration
// is init, active or terminated; a contact active or terminated.
type State string

// The states.
const (
	Init       State = "init"
	Active     State = "active"
	Terminated State = "terminated"
)

// Event is what last happened to a contact (§5.3's event attribute).
type Event string

// The events RFC 3680 defines.
const (
	Registered   Event = "registered"
	Created      Event = "created"
	Refreshed    Event = "refreshed"
	Shortened    Event = "shortened"
	Expired      Event = "expired"
	Deactivated  Event = "deactivated"
	Probation    Event = "probation"
	Unregistered Event = "unregistered"
	Rejected     Event = "rejected"
)

// Contact is one binding of the address of record.
type Contact struct {
	URI     string
	State   State // Active or Terminated
	Event   Event
	Expires time.Duration // left of the binding; written for active contacts
	Since   time.Duration // how long it has been registered; written for active contacts when above 0
	Q       int           // thousandths; 1000 (or 0) is not written
	CallID  string
	CSeq    uint32
	// Params are the Contact header's parameters as the phone sent them,
	// "name=value;…" (sip.Params); each is an unknown-param element.
	Params string
}

// Registration is one address of record and its contacts.
type Registration struct {
	AOR      string // a URI: "sip:alice@example.com"
	State    State
	Contacts []Contact
}

// Document is one reginfo document.
type Document struct {
	Version       uint32
	Full          bool
	Registrations []Registration
}

// Errors of Marshal.
var (
	ErrNoAOR   = errors.New("reginfo: registration without an address of record")
	ErrNoState = errors.New("reginfo: registration or contact without a state")
)

// ID is a stable, XML-safe id for the strings that name something: the
// same AOR (and contact URI) get the same id in every document, so a
// watcher follows a contact from NOTIFY to NOTIFY.
func ID(parts ...string) string {
	h := fnv.New64a()
	for _, s := range parts {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("r%016x", h.Sum64())
}

type outInfo struct {
	XMLName xml.Name `xml:"reginfo"`
	NS      string   `xml:"xmlns,attr"`
	Version uint32   `xml:"version,attr"`
	State   string   `xml:"state,attr"`
	Regs    []outReg `xml:"registration"`
}

type outReg struct {
	AOR      string       `xml:"aor,attr"`
	ID       string       `xml:"id,attr"`
	State    State        `xml:"state,attr"`
	Contacts []outContact `xml:"contact"`
}

type outContact struct {
	ID       string     `xml:"id,attr"`
	State    State      `xml:"state,attr"`
	Event    Event      `xml:"event,attr"`
	Since    *int64     `xml:"duration-registered,attr"`
	Expires  *int64     `xml:"expires,attr"`
	Q        string     `xml:"q,attr,omitempty"`
	CallID   string     `xml:"callid,attr,omitempty"`
	CSeq     uint32     `xml:"cseq,attr,omitempty"`
	URI      string     `xml:"uri"`
	Unknowns []outParam `xml:"unknown-param"`
}

type outParam struct {
	Name  string `xml:"name,attr"`
	Value string `xml:",chardata"`
}

// Marshal writes the document with an XML declaration.
func (d *Document) Marshal() ([]byte, error) {
	o := outInfo{NS: Namespace, Version: d.Version, State: "partial"}
	if d.Full {
		o.State = "full"
	}
	for _, r := range d.Registrations {
		or, err := r.out()
		if err != nil {
			return nil, err
		}
		o.Regs = append(o.Regs, or)
	}
	body, err := xml.MarshalIndent(o, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("reginfo: %w", err)
	}
	return append([]byte(xml.Header), append(body, '\n')...), nil
}

func (r *Registration) out() (outReg, error) {
	if r.AOR == "" {
		return outReg{}, ErrNoAOR
	}
	if r.State == "" {
		return outReg{}, ErrNoState
	}
	o := outReg{AOR: r.AOR, ID: ID(r.AOR), State: r.State}
	for _, c := range r.Contacts {
		if c.State == "" || c.Event == "" {
			return outReg{}, ErrNoState
		}
		oc := outContact{ID: ID(r.AOR, c.URI), State: c.State, Event: c.Event, CallID: c.CallID, CSeq: c.CSeq,
			URI: c.URI, Unknowns: unknowns(c.Params)}
		if c.State == Active {
			oc.Expires = seconds(c.Expires)
			if c.Since > 0 {
				oc.Since = seconds(c.Since)
			}
		}
		if c.Q > 0 && c.Q < 1000 {
			oc.Q = strconv.FormatFloat(float64(c.Q)/1000, 'f', -1, 64)
		}
		o.Contacts = append(o.Contacts, oc)
	}
	return o, nil
}

// seconds rounds d up to whole seconds, never below 0: a binding with
// 200 ms left has not expired.
func seconds(d time.Duration) *int64 {
	s := int64((max(d, 0) + time.Second - 1) / time.Second)
	return &s
}

// unknowns turns a Contact's parameters into unknown-param elements,
// without q and expires, which the contact's attributes carry, and with quotes taken
// off a quoted value (+sip.instance="<urn:uuid:…>").
func unknowns(params string) []outParam {
	var out []outParam
	sip.Params(params).Each(func(name, value string) bool {
		if name != "" && !strings.EqualFold(name, "q") && !strings.EqualFold(name, "expires") {
			if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			out = append(out, outParam{Name: name, Value: value})
		}
		return true
	})
	return out
}
