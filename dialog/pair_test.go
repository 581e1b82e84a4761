package dialog

import (
	"testing"

	"github.com/parley-sip/parley/sip"
)

// pair is one call between alice (the UAC, on her own table) and bob (the
// UAS, on his), set up through two record-routing proxies, so that each
// side's requests are checked by the other's dialog.
type pair struct {
	alice, bob       *Dialog
	aliceTab, bobTab *Table
	aliceRec, bobRec *recorder
	ok               *sip.Message // the 200 to the INVITE
}

const (
	aliceVia = "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnew1"
	bobVia   = "SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKbob1"
)

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{}
	p.aliceTab, _, p.aliceRec = newTable()
	p.bobTab, _, p.bobRec = newTable()
	req := load(t, "invite.sip")
	atBob := req.Clone()
	atBob.PrependHeader("Record-Route", recordRoute)
	p.ok = respond(atBob, 200, "a")
	var err error
	if p.bob, err = p.bobTab.NewUAS(atBob, p.ok); err != nil {
		t.Fatal(err)
	}
	inv, _ := p.aliceTab.NewInvitation(req)
	if p.alice, err = inv.ReceiveResponse(p.ok); err != nil || p.alice == nil {
		t.Fatal(p.alice, err)
	}
	p.aliceRec.take()
	p.bobRec.take()
	return p
}

// send has from send a request of method to to, which answers code
// (0: no answer); it returns to's error for the request.
func send(t *testing.T, from, to *Dialog, toTab *Table, method string, code int, extra ...string) error {
	t.Helper()
	via := aliceVia
	if from.Role() == UAS {
		via = bobVia
	}
	req, err := from.NewRequest(method, via, extra...)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	if d := toTab.Match(req); d != to {
		t.Fatalf("%s matched %v on the other side", method, d)
	}
	if err := to.ReceiveRequest(req); err != nil {
		return err
	}
	if code != 0 {
		resp := sip.NewResponse(req, code, "", "")
		to.SendResponse(resp)
		from.ReceiveResponse(resp)
	}
	return nil
}

func usages(d *Dialog) []string {
	var out []string
	for _, u := range d.Info().Usages {
		out = append(out, u.String())
	}
	return out
}

// TestTermination: which final responses to in-dialog requests end the
// dialog, a usage, or nothing (RFC 3261 §12.2.1.2, §15; RFC 5057 §5.1), on
// both sides alike.
func TestTermination(t *testing.T) {
	const sub = "subscription:dialog;id=7"
	tests := []struct {
		name      string
		subscribe bool   // bob subscribes to alice's dialog state first
		method    string // then alice sends this
		code      int    // and bob answers it so
		state     State
		usages    []string
	}{
		{"BYE answered", false, "BYE", 200, Terminated, nil},
		{"BYE 481", false, "BYE", 481, Terminated, nil},
		{"BYE 408", false, "BYE", 408, Terminated, nil},
		{"BYE refused still ends the session", false, "BYE", 500, Terminated, nil},
		{"re-INVITE glare keeps it", false, "INVITE", 491, Confirmed, []string{"invite"}},
		{"re-INVITE 481 ends it", false, "INVITE", 481, Terminated, nil},
		{"re-INVITE 408 ends it", false, "INVITE", 408, Terminated, nil},
		{"re-INVITE 404: the other side is gone", false, "INVITE", 404, Terminated, nil},
		{"INFO 415 is the transaction's alone", false, "INFO", 415, Confirmed, []string{"invite"}},
		{"UPDATE 200 keeps it", false, "UPDATE", 200, Confirmed, []string{"invite"}},
		{"BYE ends the INVITE usage only", true, "BYE", 200, Confirmed, []string{sub}},
		{"re-INVITE 481 ends the INVITE usage only", true, "INVITE", 481, Confirmed, []string{sub}},
		{"INFO 404 ends every usage", true, "INFO", 404, Terminated, nil},
		{"NOTIFY terminated ends the subscription", true, "NOTIFY", 200, Confirmed, []string{"invite"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t)
			if tt.subscribe {
				if err := send(t, p.bob, p.alice, p.aliceTab, "SUBSCRIBE", 200, "Event", "Dialog;id=7", "Expires", "600"); err != nil {
					t.Fatal(err)
				}
			}
			var extra []string
			if tt.method == "NOTIFY" {
				extra = []string{"Event", "dialog;id=7", "Subscription-State", "terminated;reason=timeout"}
			}
			if err := send(t, p.alice, p.bob, p.bobTab, tt.method, tt.code, extra...); err != nil {
				t.Fatal(err)
			}
			for side, d := range map[string]*Dialog{"alice": p.alice, "bob": p.bob} {
				if d.State() != tt.state {
					t.Errorf("%s: %s, want %s", side, d.State(), tt.state)
				}
				equalLines(t, side+"'s usages", usages(d), tt.usages)
			}
			if live := tt.state != Terminated; (p.aliceTab.Find(p.alice.ID()) != nil) != live {
				t.Errorf("alice's table still holds the dialog: %v, want %v", !live, live)
			}
		})
	}
}

// TestReceiveRequest: §12.2.2 on the UAS of an in-dialog request.
func TestReceiveRequest(t *testing.T) {
	p := newPair(t)
	if err := send(t, p.alice, p.bob, p.bobTab, "INFO", 200); err != nil {
		t.Fatal(err)
	}
	// A request older than the last one is out of order: 500.
	old, _ := p.alice.NewRequest("INFO", aliceVia)
	newer, _ := p.alice.NewRequest("INFO", aliceVia)
	if err := p.bob.ReceiveRequest(newer); err != nil {
		t.Fatal(err)
	}
	if err := p.bob.ReceiveRequest(old); err != ErrOutOfOrder {
		t.Errorf("older CSeq: %v, want ErrOutOfOrder", err)
	}
	// A request of another dialog (another From tag) is refused untouched.
	stranger, _ := p.alice.NewRequest("INFO", aliceVia)
	stranger.SetHeader("From", "Alice <sip:alice@atlanta.example.com>;tag=other")
	if err := p.bob.ReceiveRequest(stranger); err != ErrNotInDialog {
		t.Errorf("another dialog's request: %v, want ErrNotInDialog", err)
	}
	if err := p.bob.SendResponse(sip.NewResponse(stranger, 481, "", "")); err != ErrNotInDialog {
		t.Errorf("a response in another dialog: %v, want ErrNotInDialog", err)
	}
	// A target refresh moves the remote target; a non-refresh does not.
	moved := "<sip:alice@198.51.100.7:5062>"
	info, _ := p.alice.NewRequest("INFO", aliceVia, "Contact", moved)
	p.bob.ReceiveRequest(info)
	if got := p.bob.Info().RemoteTarget; got != "sip:alice@pc33.atlanta.example.com" {
		t.Errorf("INFO moved the target to %s", got)
	}
	reinvite, _ := p.alice.NewRequest("UPDATE", aliceVia)
	reinvite.SetHeader("Contact", moved)
	p.bob.ReceiveRequest(reinvite)
	if got := p.bob.Info().RemoteTarget; got != "sip:alice@198.51.100.7:5062" {
		t.Errorf("UPDATE left the target at %s", got)
	}
	// A NOTIFY for a subscription nobody made creates it (RFC 6665
	// §4.1.2.4); a BYE after the INVITE usage ended is 481.
	send(t, p.alice, p.bob, p.bobTab, "NOTIFY", 200, "Event", "presence", "Subscription-State", "active")
	if !p.bob.HasUsage(Subscription("presence")) {
		t.Error("NOTIFY did not add its subscription")
	}
	send(t, p.alice, p.bob, p.bobTab, "BYE", 200)
	bye, _ := p.alice.NewRequest("BYE", aliceVia)
	if err := p.bob.ReceiveRequest(bye); err != ErrNoUsage {
		t.Errorf("BYE without an INVITE usage: %v, want ErrNoUsage", err)
	}
}

// TestUASEarly: a UAS dialog made by a 180 is confirmed by the 2xx it
// sends, or ended by a failure.
func TestUASEarly(t *testing.T) {
	for _, code := range []int{200, 486} {
		tab, _, rec := newTable()
		req := load(t, "invite.sip")
		d, err := tab.NewUAS(req, respond(req, 180, "a"))
		if err != nil {
			t.Fatal(err)
		}
		d.SendResponse(respond(req, code, "a"))
		want := []string{"1928301774 created early INVITE 180", "1928301774 usage-added early invite INVITE 180"}
		if code == 200 {
			want = append(want, "1928301774 confirmed confirmed INVITE 200")
		} else {
			want = append(want, "1928301774 usage-ended terminated invite INVITE 486", "1928301774 terminated terminated INVITE 486")
		}
		equalLines(t, "events", rec.take(), want)
		if info := d.Info(); info.ID.LocalTag != "a" || info.RemoteTarget != "sip:alice@pc33.atlanta.example.com" ||
			info.LocalTarget != "sip:bob@a.biloxi.example.com" {
			t.Errorf("info %+v", info)
		}
	}
}

// TestLocate: a proxy taking alice's view finds the dialog for messages
// in both directions and tells them apart.
func TestLocate(t *testing.T) {
	p := newPair(t)
	fromAlice, _ := p.alice.NewRequest("INFO", aliceVia)
	fromBob, _ := p.bob.NewRequest("INFO", bobVia)
	for _, tt := range []struct {
		name      string
		m         *sip.Message
		fromLocal bool
	}{
		{"alice's request", fromAlice, true},
		{"the answer to alice's", sip.NewResponse(fromAlice, 200, "", ""), true},
		{"bob's request", fromBob, false},
		{"the answer to bob's", sip.NewResponse(fromBob, 200, "", ""), false},
	} {
		d, local := p.aliceTab.Locate(tt.m)
		if d != p.alice || local != tt.fromLocal {
			t.Errorf("%s: dialog %v, from local %v", tt.name, d, local)
		}
	}
	if d, _ := p.aliceTab.Locate(load(t, "invite.sip")); d != nil {
		t.Error("the initial INVITE located a dialog")
	}
}

// TestTerminatedRefusesAll: nothing is built or accepted after the end.
func TestTerminatedRefusesAll(t *testing.T) {
	p := newPair(t)
	send(t, p.alice, p.bob, p.bobTab, "BYE", 200)
	if _, err := p.alice.NewRequest("INFO", aliceVia); err != ErrTerminated {
		t.Errorf("NewRequest: %v", err)
	}
	if _, err := p.alice.NewACK(p.ok, aliceVia); err != ErrTerminated {
		t.Errorf("NewACK: %v", err)
	}
	if err := p.bob.ReceiveRequest(load(t, "invite.sip")); err != ErrTerminated {
		t.Errorf("ReceiveRequest: %v", err)
	}
}
