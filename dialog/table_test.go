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
