package presence

import (
	"reflect"
	"testing"

	"github.com/parley-sip/parley/presence/pidf"
)

const alice = "sip:alice@example.com"

func TestCompose(t *testing.T) {
	baresipAway := &pidf.Document{Entity: alice,
		Tuples:  []pidf.Tuple{{ID: "t4109", Basic: pidf.Open, Contact: "sip:alice@192.0.2.1:5060"}},
		Persons: []pidf.Person{{ID: "p4159", Activities: []pidf.Activity{pidf.Away}}},
	}
	baresipBusy := &pidf.Document{Entity: alice,
		Tuples:  []pidf.Tuple{{ID: "t4109", Basic: pidf.Open, Contact: "sip:alice@192.0.2.2:5060"}},
		Persons: []pidf.Person{{ID: "p4159", Activities: []pidf.Activity{pidf.Busy}, Note: "Deadline"}},
		Notes:   []string{"desk"},
	}
	tests := []struct {
		name string
		in   Presentity
		want *pidf.Document
	}{
		{"nothing: one closed tuple", Presentity{Entity: alice},
			&pidf.Document{Entity: alice, Tuples: []pidf.Tuple{{ID: "offline", Basic: pidf.Closed}}}},
		{"registered: open per contact", Presentity{Entity: alice, Contacts: []string{"sip:alice@192.0.2.1:5060", "sip:alice@192.0.2.9"}},
			&pidf.Document{Entity: alice, Tuples: []pidf.Tuple{
				{ID: "reg-" + hashID("sip:alice@192.0.2.1:5060"), Basic: pidf.Open, Contact: "sip:alice@192.0.2.1:5060"},
				{ID: "reg-" + hashID("sip:alice@192.0.2.9"), Basic: pidf.Open, Contact: "sip:alice@192.0.2.9"},
			}}},
		{"published tuple stands for its registration", Presentity{Entity: alice, Published: []*pidf.Document{baresipAway},
			Contacts: []string{"sip:alice@192.0.2.1:5060"}},
			&pidf.Document{Entity: alice,
				Tuples:  []pidf.Tuple{{ID: "t4109", Basic: pidf.Open, Contact: "sip:alice@192.0.2.1:5060"}},
				Persons: []pidf.Person{{ID: "p4159", Activities: []pidf.Activity{pidf.Away}}},
			}},
		{"unregistered: published tuples closed", Presentity{Entity: alice, Published: []*pidf.Document{baresipAway}},
			&pidf.Document{Entity: alice,
				Tuples:  []pidf.Tuple{{ID: "t4109", Basic: pidf.Closed, Contact: "sip:alice@192.0.2.1:5060"}},
				Persons: []pidf.Person{{ID: "p4159", Activities: []pidf.Activity{pidf.Away}}},
			}},
		{"two devices with one tuple and person id: both tuples, the newest person", Presentity{Entity: alice, Published: []*pidf.Document{baresipAway, baresipBusy},
			Contacts: []string{"sip:alice@192.0.2.1:5060", "sip:alice@192.0.2.2:5060"}},
			&pidf.Document{Entity: alice,
				Tuples: []pidf.Tuple{
					{ID: "t4109", Basic: pidf.Open, Contact: "sip:alice@192.0.2.1:5060"},
					{ID: "t4109-2", Basic: pidf.Open, Contact: "sip:alice@192.0.2.2:5060"},
				},
				Notes:   []string{"desk"},
				Persons: []pidf.Person{{ID: "p4159", Activities: []pidf.Activity{pidf.Busy}, Note: "Deadline"}},
			}},
		{"a published closed tuple wins over the registration (baresip's /presence_offline)", Presentity{Entity: alice,
			Published: []*pidf.Document{{Entity: alice, Tuples: []pidf.Tuple{{ID: "t4109", Basic: pidf.Closed, Contact: "sip:alice@example.com"}}}},
			Contacts:  []string{"sip:alice-0x55@192.0.2.1:5060"}},
			&pidf.Document{Entity: alice, Tuples: []pidf.Tuple{{ID: "t4109", Basic: pidf.Closed, Contact: "sip:alice@example.com"}}}},
		{"in a call: on-the-phone", Presentity{Entity: alice, Contacts: []string{"sip:alice@192.0.2.9"}, InCall: true},
			&pidf.Document{Entity: alice,
				Tuples:  []pidf.Tuple{{ID: "reg-" + hashID("sip:alice@192.0.2.9"), Basic: pidf.Open, Contact: "sip:alice@192.0.2.9"}},
				Persons: []pidf.Person{{ID: "person", Activities: []pidf.Activity{pidf.OnThePhone}}},
			}},
		{"persons of different ids merge", Presentity{Entity: alice, Contacts: []string{"sip:alice@192.0.2.9"}, Published: []*pidf.Document{
			{Entity: alice, Persons: []pidf.Person{{ID: "a", Activities: []pidf.Activity{pidf.Away}, Note: "old"}}},
			{Entity: alice, Persons: []pidf.Person{{ID: "b", Activities: []pidf.Activity{pidf.Meeting}, Note: "new"}}},
		}},
			&pidf.Document{Entity: alice,
				Tuples:  []pidf.Tuple{{ID: "reg-" + hashID("sip:alice@192.0.2.9"), Basic: pidf.Open, Contact: "sip:alice@192.0.2.9"}},
				Persons: []pidf.Person{{ID: "a", Activities: []pidf.Activity{pidf.Away, pidf.Meeting}, Note: "new"}},
			}},
		{"a call without registration says nothing", Presentity{Entity: alice, InCall: true},
			&pidf.Document{Entity: alice, Tuples: []pidf.Tuple{{ID: "offline", Basic: pidf.Closed}}}},
		{"bad ids, no basic, unknown and foreign activities", Presentity{Entity: alice, Contacts: []string{"sip:x@192.0.2.3"},
			Published: []*pidf.Document{{Entity: alice,
				Tuples:  []pidf.Tuple{{ID: "sip:x@192.0.2.3"}, {ID: "offline"}},
				Persons: []pidf.Person{{ID: "offline", Activities: []pidf.Activity{pidf.Unknown, "snoozing", pidf.Meeting}}},
			}}},
			&pidf.Document{Entity: alice,
				Tuples: []pidf.Tuple{
					{ID: "pub0-0", Basic: pidf.Open},
					{ID: "offline", Basic: pidf.Open},
				},
				Persons: []pidf.Person{{ID: "offline-2", Activities: []pidf.Activity{pidf.Meeting}}},
			}},
		{"a device republishing without SIP-If-Match: the newer wins", Presentity{Entity: alice,
			Published: []*pidf.Document{baresipAway, {Entity: alice,
				Tuples:  []pidf.Tuple{{ID: "t4109", Basic: pidf.Closed, Contact: "sip:alice@192.0.2.1:5060"}},
				Persons: []pidf.Person{{ID: "p4159"}},
			}},
			Contacts: []string{"sip:alice@192.0.2.1:5060"}},
			&pidf.Document{Entity: alice,
				Tuples:  []pidf.Tuple{{ID: "t4109", Basic: pidf.Closed, Contact: "sip:alice@192.0.2.1:5060"}},
				Persons: []pidf.Person{{ID: "p4159"}},
			}},
		{"contacts that are not URIs are dropped", Presentity{Entity: alice, Contacts: []string{"<sip:x@192.0.2.3>"},
			Published: []*pidf.Document{{Entity: alice, Tuples: []pidf.Tuple{{ID: "t", Basic: pidf.Open, Contact: "my phone"}}}}},
			&pidf.Document{Entity: alice, Tuples: []pidf.Tuple{{ID: "t", Basic: pidf.Open}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compose(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			// Whatever the inputs, the document must be one Marshal
			// writes, i.e. one that validates.
			if _, err := got.Marshal(); err != nil {
				t.Errorf("composed document does not marshal: %v", err)
			}
		})
	}
}
