package dialog

import (
	"testing"
	"time"
)

// resp is one response to alice's INVITE in a scenario: a status and the
// To tag of the fork that sent it ("" for none).
type resp struct {
	code int
	tag  string
}

// TestInvitationForks: the early dialogs of a forked INVITE, each made by
// its own tag, confirmed by its 2xx or ended by a failure, and the others
// ended Linger after the first 2xx.
func TestInvitationForks(t *testing.T) {
	tests := []struct {
		name      string
		responses []resp
		advance   time.Duration // after the responses
		final     int
		states    map[string]State // by remote tag
		events    []string
	}{
		{"100 makes no dialog", []resp{{100, ""}}, 0, 0, map[string]State{},
			nil},
		{"180 then 200", []resp{{100, ""}, {180, "a"}, {200, "a"}}, 0, 200, map[string]State{"a": Confirmed},
			[]string{"a created early INVITE 180", "a usage-added early invite INVITE 180", "a confirmed confirmed INVITE 200"}},
		{"200 alone", []resp{{200, "a"}}, 0, 200, map[string]State{"a": Confirmed},
			[]string{"a created confirmed INVITE 200", "a usage-added confirmed invite INVITE 200"}},
		{"two forks ring, one answers, the other ends after Linger", []resp{{180, "a"}, {180, "b"}, {200, "b"}}, DefaultLinger,
			200, map[string]State{"a": Terminated, "b": Confirmed},
			[]string{"a created early INVITE 180", "a usage-added early invite INVITE 180",
				"b created early INVITE 180", "b usage-added early invite INVITE 180",
				"b confirmed confirmed INVITE 200", "a usage-ended terminated invite", "a terminated terminated"}},
		{"the other fork waits until Linger", []resp{{180, "a"}, {180, "b"}, {200, "b"}}, DefaultLinger - time.Second,
			200, map[string]State{"a": Early, "b": Confirmed}, nil},
		{"ringing then busy", []resp{{180, "a"}, {486, "a"}}, 0, 486, map[string]State{"a": Terminated},
			[]string{"a created early INVITE 180", "a usage-added early invite INVITE 180",
				"a usage-ended terminated invite INVITE 486", "a terminated terminated INVITE 486"}},
		{"a failure from another fork ends every early dialog", []resp{{183, "a"}, {180, "b"}, {487, "c"}}, 0, 487,
			map[string]State{"a": Terminated, "b": Terminated}, nil},
		{"two forks answer: two dialogs", []resp{{200, "a"}, {200, "b"}}, DefaultLinger, 200,
			map[string]State{"a": Confirmed, "b": Confirmed}, nil},
		{"challenge makes no dialog", []resp{{407, "p"}}, 0, 407, map[string]State{}, nil},
		{"retransmitted 180 and 200 change nothing", []resp{{180, "a"}, {180, "a"}, {200, "a"}, {200, "a"}}, 0, 200,
			map[string]State{"a": Confirmed}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, clk, rec := newTable()
			req := load(t, "invite.sip")
			inv, err := tab.NewInvitation(req)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range tt.responses {
				if _, err := inv.ReceiveResponse(respond(req, r.code, r.tag)); err != nil {
					t.Fatalf("%d %s: %v", r.code, r.tag, err)
				}
			}
			clk.Advance(tt.advance)
			if inv.Final() != tt.final {
				t.Errorf("final %d, want %d", inv.Final(), tt.final)
			}
			got := map[string]State{}
			for _, d := range inv.Dialogs() {
				got[d.ID().RemoteTag] = d.State()
			}
			if len(got) != len(tt.states) {
				t.Errorf("dialogs %v, want %v", got, tt.states)
			}
			live := 0
			for tag, want := range tt.states {
				if got[tag] != want {
					t.Errorf("dialog %s is %s, want %s", tag, got[tag], want)
				}
				if want != Terminated {
					live++
				}
			}
			if tab.Len() != live {
				t.Errorf("table holds %d dialogs, want the %d not terminated", tab.Len(), live)
			}
			if tt.events != nil {
				equalLines(t, "events", rec.take(), tt.events)
			}
		})
	}
}

func TestInvitationRejectsWhatIsNoInitialInvite(t *testing.T) {
	tab, _, _ := newTable()
	req := load(t, "invite.sip")
	for name, m := range map[string]string{
		"a SUBSCRIBE":      "subscribe.sip",
		"an in-dialog one": "",
	} {
		msg := req
		if m != "" {
			msg = load(t, m)
		} else {
			msg = respond(req, 200, "x") // tagged To: in a dialog already
		}
		if _, err := tab.NewInvitation(msg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestInvitationClosed: once the INVITE transaction is over, a late 180
// makes no early dialog, but a late 2xx still makes its dialog, which the
// caller must ACK and BYE.
func TestInvitationClosed(t *testing.T) {
	tab, _, _ := newTable()
	req := load(t, "invite.sip")
	inv, _ := tab.NewInvitation(req)
	inv.ReceiveResponse(respond(req, 180, "a"))
	inv.Close()
	if d := inv.Dialogs()[0]; d.State() != Terminated {
		t.Errorf("early dialog %s after Close", d.State())
	}
	if d, _ := inv.ReceiveResponse(respond(req, 180, "b")); d != nil {
		t.Errorf("late 180 made a dialog")
	}
	d, err := inv.ReceiveResponse(respond(req, 200, "c"))
	if err != nil || d == nil || d.State() != Confirmed {
		t.Fatalf("late 200: %v %v", d, err)
	}
}

// TestInvitationMaxForks: a peer that answers with a new tag every time
// makes at most MaxForks dialogs.
func TestInvitationMaxForks(t *testing.T) {
	tab, _, _ := newTable()
	req := load(t, "invite.sip")
	inv, _ := tab.NewInvitation(req)
	for i := range MaxForks + 10 {
		_, err := inv.ReceiveResponse(respond(req, 180, "f"+itoa(i)))
		if (err == ErrTooManyForks) != (i >= MaxForks) {
			t.Fatalf("fork %d: %v", i, err)
		}
	}
	if tab.Len() != MaxForks || len(inv.Dialogs()) != MaxForks {
		t.Errorf("%d dialogs in the table, %d in the invitation, want %d", tab.Len(), len(inv.Dialogs()), MaxForks)
	}
}
