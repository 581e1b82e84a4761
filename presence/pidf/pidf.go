package pidf

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Namespaces and the media type of a PIDF document.
const (
	Namespace          = "urn:ietf:params:xml:ns:pidf"
	DataModelNamespace = "urn:ietf:params:xml:ns:pidf:data-model"
	RPIDNamespace      = "urn:ietf:params:xml:ns:pidf:rpid"
	ContentType        = "application/pidf+xml"
)

// MaxSize bounds a document Parse accepts. Phones publish a few hundred
// bytes; the bound keeps one PUBLISH from costing the server megabytes.
const MaxSize = 64 << 10

// Basic is a tuple's availability (RFC 3863 §4.1.4).
type Basic string

// The two basic states.
const (
	Open   Basic = "open"
	Closed Basic = "closed"
)

// Activity is what the person is doing (RFC 4480 §3.2), the element's
// local name: "away", "busy", "on-the-phone", ….
type Activity string

// The activities phones publish and BLF and buddy lists show. Others
// parse as their own names.
const (
	Away        Activity = "away"
	Busy        Activity = "busy"
	OnThePhone  Activity = "on-the-phone"
	Meeting     Activity = "meeting"
	Appointment Activity = "appointment"
	Meal        Activity = "meal"
	Vacation    Activity = "vacation"
	Holiday     Activity = "holiday"
	Travel      Activity = "travel"
	Sleeping    Activity = "sleeping"
	Unknown     Activity = "unknown"
)

// activities is RFC 4480's list of activity elements, the ones Marshal
// writes (anything else would not validate).
var activities = []Activity{
	Appointment, Away, "breakfast", Busy, "dinner", Holiday, "in-transit",
	"looking-for-work", Meal, Meeting, OnThePhone, "performance",
	"permanent-absence", "playing", "presentation", "shopping", Sleeping,
	"spectator", "steering", Travel, "tv", Unknown, Vacation, "working", "worship",
}

// Known reports whether a is one of RFC 4480's activities.
func (a Activity) Known() bool { return slices.Contains(activities, a) }

// Document is one PIDF document: the presentity and what it says about it.
type Document struct {
	Entity  string // the presentity's URI, pres: or sip:
	Tuples  []Tuple
	Notes   []string // notes on the whole presentity
	Persons []Person
}

// Tuple is one service of the presentity (RFC 3863 §4.1.2): usually one
// registered device or client.
type Tuple struct {
	ID        string
	Basic     Basic // "" when the document gave none
	Contact   string
	Note      string
	Timestamp time.Time // zero when absent or unreadable
}

// Person is the human behind the presentity (RFC 4479 §3.1), with what
// the person is doing.
type Person struct {
	ID         string
	Activities []Activity
	Note       string
}

// Errors of Parse and Marshal.
var (
	ErrTooLarge = fmt.Errorf("pidf: document larger than %d bytes", MaxSize)
	ErrNotPIDF  = errors.New("pidf: root element is not <presence>")
	ErrNoEntity = errors.New("pidf: <presence> has no entity")
)

// Basic returns the document's overall availability: open when any tuple
// is open, closed when tuples say so, "" when none gives a basic status.
func (d *Document) Basic() Basic {
	var b Basic
	for _, t := range d.Tuples {
		switch t.Basic {
		case Open:
			return Open
		case Closed:
			b = Closed
		}
	}
	return b
}

// Activities returns every activity of the document's persons, each once,
// in the order they first appear.
func (d *Document) Activities() []Activity {
	var out []Activity
	for _, p := range d.Persons {
		for _, a := range p.Activities {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}
