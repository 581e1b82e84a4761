package reginfo

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-sip/parley/presence/internal/schematest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from what the builder builds")

var schema = filepath.Join("testdata", "schema", "reginfo.xsd")

// TestGolden builds the documents a watcher sees and compares each with
// testdata/golden, then validates it against RFC 3680's schema.
func TestGolden(t *testing.T) {
	phone := Contact{URI: "sip:alice@192.0.2.10:5062;transport=tcp", State: Active, Event: Registered,
		Expires: 3599*time.Second + 200*time.Millisecond, Since: 10 * time.Second, Q: 500,
		CallID: "843817637684230@998sdasdh09", CSeq: 1826,
		Params: `+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>";reg-id=1;q=0.5;expires=3600`}
	softphone := Contact{URI: "sip:alice@198.51.100.7:5060", State: Terminated, Event: Expired,
		Expires: time.Hour, CallID: "x&y<z>", CSeq: 7}
	tests := []struct {
		name string
		doc  Document
	}{
		{"init", Document{Full: true, Registrations: []Registration{{AOR: "sip:carol@example.com", State: Init}}}},
		{"active", Document{Version: 1, Full: true, Registrations: []Registration{
			{AOR: "sip:alice@example.com", State: Active, Contacts: []Contact{phone}}}}},
		{"one_expired", Document{Version: 2, Full: true, Registrations: []Registration{
			{AOR: "sip:alice@example.com", State: Active, Contacts: []Contact{phone, softphone}}}}},
		{"terminated", Document{Version: 3, Registrations: []Registration{
			{AOR: "sip:alice@example.com", State: Terminated, Contacts: []Contact{
				{URI: phone.URI, State: Terminated, Event: Unregistered, CallID: phone.CallID, CSeq: 1827}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.doc.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tt.name+".xml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("built\n%s\nwant\n%s", got, want)
			}
			schematest.Require(t)
			if out, err := schematest.Validate(schema, path); err != nil {
				t.Errorf("does not validate against RFC 3680's schema: %v\n%s", err, out)
			}
		})
	}
}

// TestRefused checks the documents Marshal will not write.
func TestRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		reg  Registration
		want error
	}{
		{"no aor", Registration{State: Active}, ErrNoAOR},
		{"no state", Registration{AOR: "sip:a@example.com"}, ErrNoState},
		{"contact without state", Registration{AOR: "sip:a@example.com", State: Active,
			Contacts: []Contact{{URI: "sip:a@192.0.2.1", Event: Registered}}}, ErrNoState},
		{"contact without event", Registration{AOR: "sip:a@example.com", State: Active,
			Contacts: []Contact{{URI: "sip:a@192.0.2.1", State: Active}}}, ErrNoState},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc := Document{Registrations: []Registration{tt.reg}}
			if _, err := doc.Marshal(); !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
}

// TestIDsStable checks that ids depend on what they name only.
func TestIDsStable(t *testing.T) {
	if ID("sip:a@x", "sip:a@1") != ID("sip:a@x", "sip:a@1") || ID("sip:a@x", "sip:a@1") == ID("sip:a@x1", "sip:a@") {
		t.Error("ids are not a function of their parts")
	}
}

// TestSchemaRefuses checks that the schema refuses a broken document, so
// that validating means something.
func TestSchemaRefuses(t *testing.T) {
	schematest.Require(t)
	data, err := os.ReadFile(filepath.Join("testdata", "golden", "active.xml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.xml")
	if err := os.WriteFile(bad, bytes.Replace(data, []byte(`event="registered"`), []byte(`event="rebooted"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := schematest.Validate(schema, bad); err == nil {
		t.Errorf("an event of rebooted validated:\n%s", out)
	}
}
