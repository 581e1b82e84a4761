package pidf

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// The parse side's view of a document. Tags carry local names only, so an
// element matches whatever prefix (or default namespace) the phone bound
// to it; the namespace is checked where it decides meaning (the root).
type inPresence struct {
	XMLName xml.Name
	Entity  string     `xml:"entity,attr"`
	Tuples  []inTuple  `xml:"tuple"`
	Notes   []string   `xml:"note"`
	Persons []inPerson `xml:"person"`
}

type inTuple struct {
	ID        string   `xml:"id,attr"`
	Basic     string   `xml:"status>basic"`
	Contact   string   `xml:"contact"`
	Notes     []string `xml:"note"`
	Timestamp string   `xml:"timestamp"`
}

type inPerson struct {
	ID         string         `xml:"id,attr"`
	Activities []inActivities `xml:"activities"`
	Notes      []string       `xml:"note"`
}

type inActivities struct {
	Items []struct{ XMLName xml.Name } `xml:",any"`
}

// rootNamespaces are the namespaces a <presence> root is taken in: PIDF's,
// the CPIM draft's that older clients still send, and none at all.
var rootNamespaces = []string{Namespace, "urn:ietf:params:xml:ns:cpim-pidf", ""}

// Parse reads a PIDF document as phones publish it (see the package
// comment for what is tolerated). Errors say what is wrong, for a 400
// reason phrase.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxSize {
		return nil, ErrTooLarge
	}
	var in inPresence
	dec := xml.NewDecoder(bytes.NewReader(data))
	// Phones declare UTF-8 in every case seen; a charset that is not
	// UTF-8 or ASCII is read as UTF-8 rather than refused.
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("pidf: malformed XML: %w", err)
	}
	if in.XMLName.Local != "presence" || !slices.Contains(rootNamespaces, in.XMLName.Space) {
		return nil, ErrNotPIDF
	}
	entity := strings.TrimSpace(in.Entity)
	if entity == "" {
		return nil, ErrNoEntity
	}
	d := &Document{Entity: entity, Notes: trimAll(in.Notes)}
	for i, t := range in.Tuples {
		tu, err := t.tuple(i)
		if err != nil {
			return nil, err
		}
		d.Tuples = append(d.Tuples, tu)
	}
	for _, p := range in.Persons {
		d.Persons = append(d.Persons, p.person())
	}
	return d, nil
}

func (t inTuple) tuple(i int) (Tuple, error) {
	id := strings.TrimSpace(t.ID)
	if id == "" {
		return Tuple{}, fmt.Errorf("pidf: tuple %d has no id", i+1)
	}
	b := Basic(strings.ToLower(strings.TrimSpace(t.Basic)))
	if b != Open && b != Closed {
		// baresip publishes <basic>unknown</basic> when it does not
		// know: a tuple that says nothing of availability, not an error.
		b = ""
	}
	return Tuple{
		ID:        id,
		Basic:     b,
		Contact:   strings.TrimSpace(t.Contact),
		Note:      first(t.Notes),
		Timestamp: parseTime(strings.TrimSpace(t.Timestamp)),
	}, nil
}

func (p inPerson) person() Person {
	out := Person{ID: strings.TrimSpace(p.ID), Note: first(p.Notes)}
	for _, as := range p.Activities {
		for _, a := range as.Items {
			// RPID puts an optional <note> among the activities.
			if a.XMLName.Local != "note" {
				out.Activities = append(out.Activities, Activity(a.XMLName.Local))
			}
		}
	}
	return out
}

// timeLayouts are the timestamp forms seen from phones: xs:dateTime with a
// zone (RFC 3339), and without one, which is read as UTC.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05"}

// parseTime returns the zero time for a timestamp it cannot read: a bad
// timestamp is no reason to lose the presence it came with.
func parseTime(s string) time.Time {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// first returns the first note that says something. A device writes one
// note per language; the first is the one it writes in its own.
func first(notes []string) string {
	for _, n := range notes {
		if n = strings.TrimSpace(n); n != "" {
			return n
		}
	}
	return ""
}

func trimAll(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
