package dialog

import (
	"testing"
	"unsafe"

	"github.com/parley-sip/parley/sip"
)

// within reports whether s's bytes lie in buf: a string that views a
// message keeps that message's whole buffer alive.
func within(s string, buf []byte) bool {
	if s == "" || len(buf) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	start := uintptr(unsafe.Pointer(&buf[0]))
	return p >= start && p < start+uintptr(len(buf))
}

// A dialog lives as long as its usages (an hour for a subscription), so
// what it keeps must not view the messages that made it.
func TestDialogOwnsItsStrings(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		role       Role
	}{
		{"UAS of a SUBSCRIBE", "subscribe.sip", UAS},
		{"UAC of a SUBSCRIBE", "subscribe.sip", UAC},
		{"UAS of an INVITE", "invite.sip", UAS},
		{"UAC of an INVITE", "invite.sip", UAC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab, _, _ := newTable()
			req := load(t, tc.file)
			resp := sip.NewResponse(req, 200, "", "n1", "Contact", "<sip:bob@192.0.2.4>")
			create := tab.NewUAS
			if tc.role == UAC {
				create = tab.NewUAC
			}
			d, err := create(req, resp)
			if err != nil {
				t.Fatal(err)
			}
			info := d.Info()
			kept := map[string]string{"Call-ID": d.id.CallID, "local tag": d.id.LocalTag, "remote tag": d.id.RemoteTag,
				"local party": info.LocalParty, "remote party": info.RemoteParty, "remote target": info.RemoteTarget,
				"local target": info.LocalTarget}
			for i, u := range d.usages {
				kept["usage "+itoa(i)] = u.Event
			}
			for what, s := range kept {
				for name, m := range map[string]*sip.Message{"request": req, "response": resp} {
					if within(s, m.Raw()) {
						t.Errorf("the dialog's %s %q views the %s's buffer", what, s, name)
					}
				}
			}
			if tab.Find(d.ID()) != d {
				t.Error("the dialog is not found by its ID")
			}
			// One allocation for the ID, parties and targets: seven would
			// each lose their rounding to a size class.
			one := unsafe.Slice(unsafe.StringData(d.id.CallID), len(d.id.CallID)+len(d.id.LocalTag)+len(d.id.RemoteTag)+
				len(info.LocalParty)+len(info.RemoteParty)+len(info.LocalTarget)+len(info.RemoteTarget))
			for _, what := range []string{"local tag", "remote tag", "local party", "remote party", "local target", "remote target"} {
				if !within(kept[what], one) {
					t.Errorf("the dialog's %s is not in the allocation its Call-ID is in", what)
				}
			}
		})
	}
}

// A subscription's dialog is idle between NOTIFYs for most of its life:
// once a request is answered it keeps no room for the next.
func TestIdleDialogKeepsNoPending(t *testing.T) {
	watcherTab, _, _ := newTable()
	bobTab, _, _ := newTable()
	sub := load(t, "subscribe.sip")
	ok := respond(sub, 200, "n1")
	watcher, err := watcherTab.NewUAC(sub, ok)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := bobTab.NewUAS(sub, ok)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := send(t, bob, watcher, watcherTab, "NOTIFY", 200, "Event", "dialog;id=7", "Subscription-State", "active;expires=600"); err != nil {
			t.Fatal(err)
		}
		bob.mu.Lock()
		held := cap(bob.pending)
		bob.mu.Unlock()
		if held != 0 {
			t.Errorf("after NOTIFY %d answered, room for %d pending requests kept", i+1, held)
		}
	}
}

// A 2xx repeating its provisional's Contact leaves the early dialog's
// target where it is, in the dialog's one allocation of strings; a new
// Contact becomes the target, a copy of its own.
func TestConfirmKeepsAnUnchangedTarget(t *testing.T) {
	for _, tc := range []struct {
		name, okContact, want string
	}{
		{"same Contact", "<sip:bob@192.0.2.4>", ""},
		{"new Contact", "<sip:bob@192.0.2.99;transport=tcp>", "sip:bob@192.0.2.99;transport=tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab, _, _ := newTable()
			req := load(t, "invite.sip")
			inv, err := tab.NewInvitation(req)
			if err != nil {
				t.Fatal(err)
			}
			d, err := inv.ReceiveResponse(reparse(t, sip.NewResponse(req, 180, "", "n1", "Contact", "<sip:bob@192.0.2.4>")))
			if err != nil || d == nil {
				t.Fatalf("180: %v", err)
			}
			early := d.Info().RemoteTarget
			ok := reparse(t, sip.NewResponse(req, 200, "", "n1", "Contact", tc.okContact))
			if _, err := inv.ReceiveResponse(ok); err != nil {
				t.Fatalf("200: %v", err)
			}
			got := d.Info().RemoteTarget
			switch {
			case d.State() != Confirmed:
				t.Fatalf("state %v after the 200", d.State())
			case tc.want == "" && unsafe.StringData(got) != unsafe.StringData(early):
				t.Errorf("the unchanged target %q is a new object, not the early dialog's", got)
			case tc.want != "" && got != tc.want:
				t.Errorf("target %q, want %q", got, tc.want)
			case within(got, ok.Raw()):
				t.Errorf("the target %q views the 200's buffer", got)
			}
		})
	}
}

// reparse is m as it arrives: parsed from its bytes, its strings views of
// its buffer.
func reparse(t *testing.T, m *sip.Message) *sip.Message {
	t.Helper()
	p, err := sip.Parse(m.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return p
}
