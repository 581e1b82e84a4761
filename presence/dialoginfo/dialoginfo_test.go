package dialoginfo

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/presence/internal/schematest"
	"github.com/parley-sip/parley/sip"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from what the builder builds")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
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
		t.Errorf("%s: built\n%s\nwant\n%s", name, got, want)
	}
	schematest.Require(t)
	if out, err := schematest.Validate(filepath.Join("testdata", "schema", "dialog-info.xsd"), path); err != nil {
		t.Errorf("%s does not validate against RFC 4235's schema: %v\n%s", name, err, out)
	}
}

// call plays a call from alice to bob through a real dialog table taking
// alice's side (as the observer takes the caller's view): 180, 200, and a
// BYE from alice. It returns the events the table reported.
func call(t *testing.T) []dialog.Event {
	t.Helper()
	var events []dialog.Event
	tab := dialog.NewTable(dialog.Config{Clock: clock.NewFake(time.Unix(0, 0)), Listener: func(ev dialog.Event) {
		events = append(events, ev)
	}})
	data, err := os.ReadFile(filepath.Join("testdata", "invite.sip"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := sip.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := tab.NewInvitation(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inv.ReceiveResponse(sip.NewResponse(req, 180, "", "314159", "Contact", "<sip:bob@192.0.2.4>")); err != nil {
		t.Fatal(err)
	}
	d, err := inv.ReceiveResponse(sip.NewResponse(req, 200, "", "314159", "Contact", "<sip:bob@192.0.2.4>"))
	if err != nil {
		t.Fatal(err)
	}
	bye, err := d.NewRequest("BYE", "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds7")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SendRequest(bye); err != nil {
		t.Fatal(err)
	}
	if err := d.ReceiveResponse(sip.NewResponse(bye, 200, "", "")); err != nil {
		t.Fatal(err)
	}
	return events
}

// TestCallGolden follows one call through the dialog layer and builds, for
// the caller's and the callee's subscriptions, the full first document and
// one partial document per state change, each compared with testdata/golden.
func TestCallGolden(t *testing.T) {
	events := call(t)
	for _, tt := range []struct {
		watcher string
		entity  string
		view    View
	}{
		{"alice", "sip:alice@atlanta.example.com", Local},
		{"bob", "sip:bob@biloxi.example.com", Remote},
	} {
		t.Run(tt.watcher, func(t *testing.T) {
			sub := &Subscription{Entity: tt.entity}
			body, err := sub.Full(nil)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.watcher+"_0_full.xml", body)
			var states []State
			for _, ev := range events {
				d, ok := FromEvent(ev, ev.Dialog.Info(), tt.view)
				if !ok {
					continue
				}
				body, err := sub.Partial(d)
				if err != nil {
					t.Fatal(err)
				}
				states = append(states, d.State)
				golden(t, fmt.Sprintf("%s_%d_%s.xml", tt.watcher, len(states), d.State), body)
			}
			if want := []State{Early, Confirmed, Terminated}; !slices.Equal(states, want) {
				t.Errorf("states %v, want %v", states, want)
			}
		})
	}
}

// TestFromEvent maps the dialog layer's changes to states, reasons and
// directions, from both sides.
func TestFromEvent(t *testing.T) {
	info := dialog.Info{
		ID:   dialog.ID{CallID: "c1", LocalTag: "lt", RemoteTag: "rt"},
		Role: dialog.UAC, LocalParty: `"Alice A." <sip:alice@a.example>;tag=lt`, RemoteParty: "<sip:bob@b.example;user=phone>;tag=rt",
		LocalTarget: "sip:alice@192.0.2.1", RemoteTarget: "sip:bob@192.0.2.2",
	}
	alice := Party{Identity: "sip:alice@a.example", Display: "Alice A.", Target: "sip:alice@192.0.2.1"}
	bob := Party{Identity: "sip:bob@b.example;user=phone", Target: "sip:bob@192.0.2.2"}
	tests := []struct {
		name string
		ev   dialog.Event
		view View
		role dialog.Role
		want Dialog
		ok   bool
	}{
		{"early", dialog.Event{Kind: dialog.EventCreated, State: dialog.Early}, Local, dialog.UAC,
			Dialog{CallID: "c1", LocalTag: "lt", RemoteTag: "rt", Direction: Initiator, State: Early, Local: alice, Remote: bob}, true},
		{"created confirmed", dialog.Event{Kind: dialog.EventCreated, State: dialog.Confirmed}, Local, dialog.UAS,
			Dialog{CallID: "c1", LocalTag: "lt", RemoteTag: "rt", Direction: Recipient, State: Confirmed, Local: alice, Remote: bob}, true},
		{"confirmed, callee's view", dialog.Event{Kind: dialog.EventConfirmed}, Remote, dialog.UAC,
			Dialog{CallID: "c1", LocalTag: "rt", RemoteTag: "lt", Direction: Recipient, State: Confirmed, Local: bob, Remote: alice}, true},
		{"cancelled", dialog.Event{Kind: dialog.EventTerminated, Method: "INVITE", Code: 487}, Local, dialog.UAC,
			Dialog{CallID: "c1", LocalTag: "lt", RemoteTag: "rt", Direction: Initiator, State: Terminated, Reason: Cancelled, Code: 487, Local: alice, Remote: bob}, true},
		{"rejected", dialog.Event{Kind: dialog.EventTerminated, Method: "INVITE", Code: 486}, Local, dialog.UAC,
			Dialog{CallID: "c1", LocalTag: "lt", RemoteTag: "rt", Direction: Initiator, State: Terminated, Reason: Rejected, Code: 486, Local: alice, Remote: bob}, true},
		{"timeout", dialog.Event{Kind: dialog.EventTerminated, Method: "INVITE", Code: 408}, Local, dialog.UAC,
			Dialog{CallID: "c1", LocalTag: "lt", RemoteTag: "rt", Direction: Initiator, State: Terminated, Reason: Timeout, Code: 408, Local: alice, Remote: bob}, true},
		{"remote bye", dialog.Event{Kind: dialog.EventTerminated, Method: "BYE", Code: 200}, Remote, dialog.UAC,
			Dialog{CallID: "c1", LocalTag: "rt", RemoteTag: "lt", Direction: Recipient, State: Terminated, Reason: RemoteBye, Local: bob, Remote: alice}, true},
		{"ended by its owner", dialog.Event{Kind: dialog.EventTerminated}, Local, dialog.UAC,
			Dialog{CallID: "c1", LocalTag: "lt", RemoteTag: "rt", Direction: Initiator, State: Terminated, Local: alice, Remote: bob}, true},
		{"usage added is not told", dialog.Event{Kind: dialog.EventUsageAdded}, Local, dialog.UAC, Dialog{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := info
			in.Role = tt.role
			got, ok := FromEvent(tt.ev, in, tt.view)
			if ok != tt.ok || got != tt.want {
				t.Errorf("got  %+v, %v\nwant %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestTryingAndUnparsedParty builds the states the dialog layer does not
// report, from plain values, and a party whose From did not parse.
func TestTryingAndUnparsedParty(t *testing.T) {
	sub := &Subscription{Entity: "sip:alice@atlanta.example.com"}
	sub.Full(nil)
	d := Dialog{CallID: "x1@pc33", LocalTag: "t1", Direction: Initiator, State: Trying,
		Local:  Party{Identity: "sip:alice@atlanta.example.com", Display: `Alice "& Co" <x>`},
		Remote: party(`Bob "the builder <sip:bob@biloxi.example.com>;tag=x`, "")}
	body, err := sub.Partial(d)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "trying.xml", body)
}

// TestVersions checks that versions count up by one per built document
// and that a refused document uses none.
func TestVersions(t *testing.T) {
	sub := &Subscription{Entity: "sip:alice@atlanta.example.com"}
	for want := range uint32(3) {
		body, err := sub.Full(nil)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Version uint32 `xml:"version,attr"`
		}
		if err := xml.Unmarshal(body, &doc); err != nil || doc.Version != want {
			t.Fatalf("version %d (%v), want %d", doc.Version, err, want)
		}
		if _, err := sub.Partial(Dialog{CallID: "no state"}); err == nil {
			t.Fatal("a dialog without state was built")
		}
	}
	if _, err := (&Subscription{}).Full(nil); err != ErrNoEntity {
		t.Fatalf("no entity: %v", err)
	}
}

// TestSchemaRefuses checks that the schema the golden documents pass does
// refuse a document that breaks it, so that passing means something.
func TestSchemaRefuses(t *testing.T) {
	schematest.Require(t)
	data, err := os.ReadFile(filepath.Join("testdata", "golden", "alice_2_confirmed.xml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.xml")
	if err := os.WriteFile(bad, bytes.Replace(data, []byte(">confirmed<"), []byte(">ringing<"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := schematest.Validate(filepath.Join("testdata", "schema", "dialog-info.xsd"), bad); err == nil {
		t.Errorf("a state of ringing validated:\n%s", out)
	}
}
