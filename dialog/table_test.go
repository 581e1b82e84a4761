package dialog

import (
	"fmt"
	"sync"
	"testing"

	"github.com/parley-sip/parley/sip"
)

// TestTableConcurrent makes, matches and ends dialogs from many goroutines
// at once (run with -race).
func TestTableConcurrent(t *testing.T) {
	tab, _, rec := newTable()
	var wg sync.WaitGroup
	for g := range 8 {
		req := load(t, "invite.sip") // a message is one goroutine's (its typed values are cached on first use)
		wg.Go(func() {
			for i := range 50 {
				tag := fmt.Sprintf("g%di%d", g, i)
				ok := respond(req, 200, tag)
				d, err := tab.NewUAS(req, ok)
				if err != nil {
					t.Error(err)
					return
				}
				bye := sip.NewResponse(req, 200, "", tag) // a message with bob's tag in To and alice's in From
				if tab.Match(bye) != d {
					t.Error("no match for", tag)
				}
				d.Terminate("", 0)
			}
		})
	}
	wg.Wait()
	if tab.Len() != 0 {
		t.Errorf("%d dialogs left", tab.Len())
	}
	if n := len(rec.take()); n != 8*50*4 {
		t.Errorf("%d events, want 4 per dialog", n)
	}
}

// TestNewTag: tags are fresh and long enough (§19.3).
func TestNewTag(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tag := NewTag()
		if len(tag) < 8 || seen[tag] {
			t.Fatalf("tag %q", tag)
		}
		seen[tag] = true
	}
}

// TestRestore: a dialog kept as its Info and restored in another table
// (a notifier's subscription after a restart) goes on where it stood:
// its next request continues the CSeq and the route set, and in-dialog
// requests match it.
func TestRestore(t *testing.T) {
	tab, _, _ := newTable()
	sub := load(t, "subscribe.sip")
	d, err := tab.NewUAS(sub, respond(sub, 202, "n1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.NewRequest("NOTIFY", bobVia, "Event", "dialog;id=7"); err != nil {
		t.Fatal(err)
	}
	info := d.Info()
	again, _, rec := newTable()
	r, err := again.Restore(info)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Info(); got.LocalSeq != info.LocalSeq || got.RemoteTarget != info.RemoteTarget || !r.HasUsage(Subscription("dialog;id=7")) {
		t.Errorf("restored %+v, want %+v", got, info)
	}
	n, err := r.NewRequest("NOTIFY", bobVia, "Event", "dialog;id=7")
	if err != nil {
		t.Fatal(err)
	}
	if cs, _ := n.CSeq(); cs.Seq != info.LocalSeq+1 {
		t.Errorf("CSeq %d after restore, want %d", cs.Seq, info.LocalSeq+1)
	}
	if again.Find(info.ID) != r || len(rec.take()) != 2 {
		t.Error("restored dialog not in the table, or events missing")
	}
	if _, err := again.Restore(Info{}); err != ErrNotInDialog {
		t.Errorf("empty info: %v", err)
	}
}
