package dialog

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-sip/parley/sip"
)

// FuzzMatch feeds any message to a table holding bob's side of a call: a
// message must match only the dialog whose ID it carries, and whatever it
// holds, giving it to the dialog must not panic or leave the dialog in a
// state it cannot be in.
func FuzzMatch(f *testing.F) {
	for _, name := range []string{"invite.sip", "subscribe.sip", "golden/bye_uac.sip", "golden/ack_uac.sip", "golden/bye_strict.sip"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := sip.Parse(data)
		if err != nil {
			return
		}
		p := newPair(t)
		d := p.bobTab.Match(m)
		if d != nil {
			if id, _ := IncomingID(m); id != p.bob.ID() {
				t.Fatalf("matched %v for a message of %v", p.bob.ID(), id)
			}
		}
		if l, _ := p.bobTab.Locate(m); l != nil && l != p.bob {
			t.Fatal("located a dialog the table does not hold")
		}
		if m.IsRequest() {
			p.bob.ReceiveRequest(m)
			p.bob.SendResponse(sip.NewResponse(m, 481, "", ""))
		} else {
			p.bob.ReceiveResponse(m)
		}
		info := p.bob.Info()
		if (info.State == Terminated) != (len(info.Usages) == 0) {
			t.Fatalf("state %s with usages %v", info.State, info.Usages)
		}
		if info.State == Terminated && p.bobTab.Find(info.ID) != nil {
			t.Fatal("a terminated dialog stayed in the table")
		}
	})
}
