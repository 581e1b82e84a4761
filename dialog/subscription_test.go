package dialog

import (
	"testing"

	"github.com/parley-sip/parley/sip"
)

// TestSubscriptionDialog: a busy-lamp watcher (RFC 4235) subscribes to
// bob's dialog state. The SUBSCRIBE's 2xx makes a dialog with one
// subscription usage on both sides; NOTIFYs flow from bob; the watcher
// refreshes; the subscription's end (a NOTIFY saying terminated, or the
// owner's EndUsage when it expires) ends the dialog.
func TestSubscriptionDialog(t *testing.T) {
	for _, end := range []string{"notify", "expiry"} { // what ends the subscription
		t.Run(end, func(t *testing.T) {
			watcherTab, _, rec := newTable()
			bobTab, _, _ := newTable()
			sub := load(t, "subscribe.sip")
			ok := respond(sub, 202, "n1")
			watcher, err := watcherTab.NewUAC(sub, ok)
			if err != nil {
				t.Fatal(err)
			}
			bob, err := bobTab.NewUAS(sub, ok)
			if err != nil {
				t.Fatal(err)
			}
			want := Subscription("Dialog;id=7")
			if watcher.State() != Confirmed || !watcher.HasUsage(want) || !bob.HasUsage(want) {
				t.Fatalf("watcher %+v", watcher.Info())
			}
			// bob's first NOTIFY is his first request in the dialog: CSeq 1.
			if err := send(t, bob, watcher, watcherTab, "NOTIFY", 200, "Event", "dialog;id=7", "Subscription-State", "active;expires=600"); err != nil {
				t.Fatal(err)
			}
			if err := send(t, watcher, bob, bobTab, "SUBSCRIBE", 200, "Event", "dialog;id=7", "Expires", "600"); err != nil {
				t.Fatal(err)
			}
			if got := bob.Info().RemoteSeq; got != 17767 {
				t.Errorf("the refresh's CSeq %d, want 17767", got)
			}
			// A NOTIFY for another event package is another usage, which
			// the dialog does not carry: it is the subscriber's to refuse.
			other, _ := bob.NewRequest("INFO", bobVia)
			if err := watcher.ReceiveRequest(other); err != ErrNoUsage {
				t.Errorf("INFO in a subscription-only dialog: %v, want ErrNoUsage", err)
			}
			switch end {
			case "notify":
				send(t, bob, watcher, watcherTab, "NOTIFY", 200, "Event", "dialog;id=7", "Subscription-State", "terminated;reason=noresource")
			case "expiry":
				watcher.EndUsage(want, "", 0)
				bob.EndUsage(want, "", 0)
			}
			for side, d := range map[string]*Dialog{"watcher": watcher, "bob": bob} {
				if d.State() != Terminated {
					t.Errorf("%s: %s", side, d.State())
				}
			}
			if watcherTab.Len() != 0 {
				t.Error("the watcher's table still holds the dialog")
			}
			last := map[string]string{"notify": "n1 terminated terminated NOTIFY 200", "expiry": "n1 terminated terminated"}[end]
			if events := rec.take(); events[len(events)-1] != last {
				t.Errorf("events %q, want the last %q", events, last)
			}
		})
	}
}

// TestSubscriptionNames: Event headers name the same subscription by
// package (any case) and id, whatever their other parameters.
func TestSubscriptionNames(t *testing.T) {
	tests := []struct{ a, b string }{
		{"presence", "Presence"},
		{"dialog;id=7", "dialog ; id=7;sla"},
		{"refer;id=93809824", "refer;id=93809824"},
	}
	for _, tt := range tests {
		if Subscription(tt.a) != Subscription(tt.b) {
			t.Errorf("%q and %q differ: %v %v", tt.a, tt.b, Subscription(tt.a), Subscription(tt.b))
		}
	}
	if Subscription("dialog;id=7") == Subscription("dialog;id=8") || Subscription("presence") == InviteUsage {
		t.Error("different subscriptions compare equal")
	}
	req, _ := sip.Parse([]byte("NOTIFY sip:a@b SIP/2.0\r\nEvent: presence\r\nCSeq: 1 NOTIFY\r\n\r\n"))
	if UsageOf(req) != Subscription("presence") {
		t.Errorf("UsageOf NOTIFY %v", UsageOf(req))
	}
}
