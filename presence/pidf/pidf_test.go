package pidf

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/presence/internal/schematest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from what Marshal builds")

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// baresip is what baresip publishes: an empty activities element, and
// the same tuple and person ids whatever the state.
func baresip(b Basic) *Document {
	return &Document{
		Entity:  "sip:alice@127.0.0.1:47210",
		Tuples:  []Tuple{{ID: "t4109", Basic: b, Contact: "sip:alice@127.0.0.1:47210"}},
		Persons: []Person{{ID: "p4159"}},
	}
}

// TestParse reads documents as phones publish them.
func TestParse(t *testing.T) {
	tests := []struct {
		file string
		want *Document
	}{
		// baresip 1.0.0's PUBLISHes, captured on loopback: online, its
		// first state after registering, and offline.
		{"baresip_open.xml", baresip(Open)},
		{"baresip_unknown.xml", baresip("")},
		{"baresip_closed.xml", baresip(Closed)},
		// linphone-daemon's PUBLISH (Debian's linphone-cli 5.1), captured
		// on loopback: a status extension of its own, a contact priority,
		// a UTC timestamp.
		{"linphone_online.xml", &Document{
			Entity: "sip:linda@127.0.0.1:47220",
			Tuples: []Tuple{{ID: "ihxebr", Basic: Open, Contact: "sip:linda@127.0.0.1:47220",
				Timestamp: time.Date(2026, 12, 7, 1, 55, 29, 0, time.UTC)}},
		}},
		// Hand-written: a person with an RPID activity and a note, an
		// extension element among them, and a timestamp without a zone.
		{"rpid_on_the_phone.xml", &Document{
			Entity: "sip:bob@example.com",
			Tuples: []Tuple{{ID: "qa8b7w", Basic: Open, Contact: "sip:bob@192.0.2.7:5062",
				Timestamp: time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)}},
			Persons: []Person{{ID: "fgjl3l", Activities: []Activity{OnThePhone}, Note: "In a call"}},
		}},
		{"rfc3863_example.xml", &Document{
			Entity: "pres:someone@example.com",
			Tuples: []Tuple{
				{ID: "bs35r9", Basic: Open, Contact: "im:someone@mobilecarrier.net", Note: "Don't Disturb Please!",
					Timestamp: time.Date(2001, 10, 27, 16, 49, 29, 0, time.UTC)},
				{ID: "eg92n8", Basic: Closed, Contact: "mailto:someone@example.com"},
			},
			Notes: []string{"I'll be in Tokyo next week"},
		}},
		{"cpim_pidf.xml", &Document{
			Entity: "pres:dave@example.com",
			Tuples: []Tuple{{ID: "mobile", Basic: Open, Contact: "sip:dave@192.0.2.8"}},
		}},
		{"notes_in_languages.xml", &Document{
			Entity:  "sip:erin@example.com",
			Tuples:  []Tuple{{ID: "t", Basic: Open, Note: "In the lab"}},
			Notes:   []string{"Back Monday", "De retour lundi"},
			Persons: []Person{{ID: "p", Note: "Focus time"}},
		}},
		{"no_namespace.xml", &Document{
			Entity: "sip:carol@example.com",
			Tuples: []Tuple{{ID: "desk", Basic: Closed}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Parse(readFile(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestParseErrors checks that what a presence server cannot act on is
// refused with an error naming the defect.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"not xml", "hello", "malformed XML"},
		{"truncated", `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><tuple id="t">`, "malformed XML"},
		{"other root", string(readFile(t, "not_pidf.xml")), "root element is not <presence>"},
		{"foreign namespace", `<presence xmlns="urn:example" entity="sip:a@b"/>`, "root element is not <presence>"},
		{"no entity", `<presence xmlns="urn:ietf:params:xml:ns:pidf"/>`, "no entity"},
		{"tuple without id", `<presence entity="sip:a@b"><tuple><status><basic>open</basic></status></tuple></presence>`, "tuple 1 has no id"},
		{"too large", `<presence entity="sip:a@b">` + strings.Repeat(" ", MaxSize) + `</presence>`, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// goldenDocs are the documents Marshal builds, kept in testdata/golden
// and validated against the schemas.
var goldenDocs = []struct {
	file string
	doc  Document
}{
	{"closed.xml", Document{Entity: "sip:alice@example.com", Tuples: []Tuple{{ID: "parley", Basic: Closed}}}},
	{"open_two_devices.xml", Document{Entity: "sip:alice@example.com", Tuples: []Tuple{
		{ID: "d1", Basic: Open, Contact: "sip:alice@192.0.2.1:5060", Timestamp: time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)},
		{ID: "d2", Basic: Open, Contact: "sip:alice@192.0.2.2:5062", Note: "desk"},
	}}},
	{"away_with_note.xml", Document{Entity: "sip:alice@example.com",
		Tuples:  []Tuple{{ID: "t1", Basic: Open}},
		Notes:   []string{"Back at 3 & not before <soon>"},
		Persons: []Person{{ID: "p1", Activities: []Activity{Away}, Note: "Lunch"}},
	}},
	{"on_the_phone_busy.xml", Document{Entity: "sip:bob@example.com",
		Tuples:  []Tuple{{ID: "t1", Basic: Open}},
		Persons: []Person{{ID: "p1", Activities: []Activity{OnThePhone, Busy}}},
	}},
	{"person_without_activity.xml", Document{Entity: "sip:bob@example.com",
		Persons: []Person{{ID: "p1", Note: "Working from home"}},
	}},
}

// TestGoldenBuild compares what Marshal builds with testdata/golden, reads
// it back to the same document, and validates it against the schemas.
func TestGoldenBuild(t *testing.T) {
	for _, tt := range goldenDocs {
		t.Run(tt.file, func(t *testing.T) {
			got, err := tt.doc.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tt.file)
			if *update {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := readFile(t, filepath.Join("golden", tt.file)); !bytes.Equal(got, want) {
				t.Errorf("built:\n%s\nwant:\n%s", got, want)
			}
			back, err := Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*back, tt.doc) {
				t.Errorf("read back %+v, want %+v", *back, tt.doc)
			}
		})
	}
}

// TestSchema validates every golden document with xmllint against the RFC
// schemas in testdata/schema, and checks that the schemas do refuse a
// document that breaks them (so the validation cannot pass vacuously).
func TestSchema(t *testing.T) {
	schematest.Require(t)
	for _, tt := range goldenDocs {
		t.Run(tt.file, func(t *testing.T) {
			if out, err := xmllint(filepath.Join("testdata", "golden", tt.file)); err != nil {
				t.Errorf("%s does not validate: %v\n%s", tt.file, err, out)
			}
		})
	}
	t.Run("refuses invalid", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.xml")
		doc := strings.Replace(string(readFile(t, "golden/on_the_phone_busy.xml")), "rpid:busy", "rpid:snoozing", 1)
		if err := os.WriteFile(bad, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := xmllint(bad); err == nil {
			t.Errorf("xmllint accepted an unknown activity:\n%s", out)
		}
	})
}

func xmllint(file string) ([]byte, error) {
	return schematest.Validate(filepath.Join("testdata", "schema", "presence.xsd"), file)
}

// TestMarshalRefuses checks that Marshal never writes a document that
// would not validate.
func TestMarshalRefuses(t *testing.T) {
	tests := []struct {
		name string
		doc  Document
		want string
	}{
		{"no entity", Document{}, "no entity"},
		{"tuple id", Document{Entity: "sip:a@b", Tuples: []Tuple{{ID: "1x", Basic: Open}}}, "not an XML ID"},
		{"basic", Document{Entity: "sip:a@b", Tuples: []Tuple{{ID: "t", Basic: "busy"}}}, "neither open nor closed"},
		{"person id", Document{Entity: "sip:a@b", Persons: []Person{{ID: "a:b"}}}, "not an XML ID"},
		{"entity", Document{Entity: "alice"}, "not a URI"},
		{"contact", Document{Entity: "sip:a@b", Tuples: []Tuple{{ID: "t", Basic: Open, Contact: "sip:a b@c"}}}, "not a URI"},
		{"activity", Document{Entity: "sip:a@b", Persons: []Person{{ID: "p", Activities: []Activity{"snoozing"}}}}, "not one of RFC 4480's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.doc.Marshal(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestBasicAndActivities(t *testing.T) {
	tests := []struct {
		name  string
		doc   Document
		basic Basic
		acts  []Activity
	}{
		{"empty", Document{}, "", nil},
		{"closed", Document{Tuples: []Tuple{{Basic: Closed}, {}}}, Closed, nil},
		{"any open", Document{Tuples: []Tuple{{Basic: Closed}, {Basic: Open}}}, Open, nil},
		{"activities once", Document{Persons: []Person{{Activities: []Activity{Away, Busy}}, {Activities: []Activity{Busy}}}}, "", []Activity{Away, Busy}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.doc.Basic(); got != tt.basic {
				t.Errorf("Basic() = %q, want %q", got, tt.basic)
			}
			if got := tt.doc.Activities(); !reflect.DeepEqual(got, tt.acts) {
				t.Errorf("Activities() = %v, want %v", got, tt.acts)
			}
		})
	}
}
