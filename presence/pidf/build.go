package pidf

import (
	"encoding/xml"
	"fmt"
	"strings"
	"time"
)

// The build side's view of a document. encoding/xml writes a namespace
// declaration on every element that names one, so the prefixes are
// declared once on the root and the elements carry them in their names.
type outPresence struct {
	XMLName xml.Name    `xml:"presence"`
	NS      string      `xml:"xmlns,attr"`
	DM      string      `xml:"xmlns:dm,attr,omitempty"`
	RPID    string      `xml:"xmlns:rpid,attr,omitempty"`
	Entity  string      `xml:"entity,attr"`
	Tuples  []outTuple  `xml:"tuple"`
	Notes   []string    `xml:"note"`
	Persons []outPerson `xml:"dm:person"`
}

type outTuple struct {
	ID        string `xml:"id,attr"`
	Basic     Basic  `xml:"status>basic,omitempty"`
	Contact   string `xml:"contact,omitempty"`
	Note      string `xml:"note,omitempty"`
	Timestamp string `xml:"timestamp,omitempty"`
}

type outPerson struct {
	ID         string         `xml:"id,attr"`
	Activities *outActivities `xml:"rpid:activities"`
	Note       string         `xml:"dm:note,omitempty"`
}

type outActivities struct {
	Items []outActivity
}

type outActivity struct{ XMLName xml.Name }

// Marshal writes the document with an XML declaration. It refuses what
// would not validate against the schemas: no entity, a tuple or person
// without a valid id, a basic other than open or closed, an activity RFC
// 4480 does not define.
func (d *Document) Marshal() ([]byte, error) {
	out, err := d.out()
	if err != nil {
		return nil, err
	}
	body, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("pidf: %w", err)
	}
	return append([]byte(xml.Header), append(body, '\n')...), nil
}

func (d *Document) out() (*outPresence, error) {
	if d.Entity == "" {
		return nil, ErrNoEntity
	}
	if !ValidURI(d.Entity) {
		return nil, fmt.Errorf("pidf: entity %q is not a URI", d.Entity)
	}
	o := &outPresence{NS: Namespace, Entity: d.Entity, Notes: d.Notes}
	for _, t := range d.Tuples {
		if !ValidID(t.ID) {
			return nil, fmt.Errorf("pidf: tuple id %q is not an XML ID", t.ID)
		}
		if t.Basic != Open && t.Basic != Closed {
			return nil, fmt.Errorf("pidf: tuple %q: basic %q is neither open nor closed", t.ID, t.Basic)
		}
		if t.Contact != "" && !ValidURI(t.Contact) {
			return nil, fmt.Errorf("pidf: tuple %q: contact %q is not a URI", t.ID, t.Contact)
		}
		ot := outTuple{ID: t.ID, Basic: t.Basic, Contact: t.Contact, Note: t.Note}
		if !t.Timestamp.IsZero() {
			ot.Timestamp = t.Timestamp.UTC().Format(time.RFC3339)
		}
		o.Tuples = append(o.Tuples, ot)
	}
	for _, p := range d.Persons {
		op, err := p.out()
		if err != nil {
			return nil, err
		}
		o.DM = DataModelNamespace
		if op.Activities != nil {
			o.RPID = RPIDNamespace
		}
		o.Persons = append(o.Persons, op)
	}
	return o, nil
}

func (p Person) out() (outPerson, error) {
	if !ValidID(p.ID) {
		return outPerson{}, fmt.Errorf("pidf: person id %q is not an XML ID", p.ID)
	}
	op := outPerson{ID: p.ID, Note: p.Note}
	if len(p.Activities) == 0 {
		return op, nil
	}
	op.Activities = &outActivities{}
	for _, a := range p.Activities {
		if !a.Known() {
			return outPerson{}, fmt.Errorf("pidf: activity %q is not one of RFC 4480's", a)
		}
		op.Activities.Items = append(op.Activities.Items, outActivity{xml.Name{Local: "rpid:" + string(a)}})
	}
	return op, nil
}

// ValidID reports whether s can be a tuple or person id in a document
// Marshal writes: an xs:ID (an NCName), restricted to ASCII because the
// ids Parley builds are its own; a published id that is not one is
// replaced before it goes into a notification.
func ValidID(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// ValidURI reports whether s can stand where the schema wants an
// xs:anyURI (entity, contact): a scheme, a colon, and no character a URI
// never holds unescaped. A published contact that is not one is dropped
// before it goes into a notification.
func ValidURI(s string) bool {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || scheme == "" || rest == "" {
		return false
	}
	for i, c := range scheme {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	for _, c := range rest {
		if c <= ' ' || c == 0x7f || strings.ContainsRune("<>\"{}|\\^`", c) {
			return false
		}
	}
	return true
}
