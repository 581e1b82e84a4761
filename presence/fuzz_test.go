package presence

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-sip/parley/presence/pidf"
)

// FuzzCompose composes whatever a phone could publish, twice over (two
// devices), online and in a call or not: the document must always be one
// Marshal writes, since a notifier that cannot build its NOTIFY body
// would leave the watchers with stale state.
func FuzzCompose(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("pidf", "testdata", "*.xml"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "sip:alice@192.0.2.1", true)
	}
	f.Fuzz(func(t *testing.T, data []byte, contact string, inCall bool) {
		doc, err := pidf.Parse(data)
		if err != nil {
			return
		}
		p := Presentity{Entity: alice, Published: []*pidf.Document{doc, doc}, InCall: inCall}
		for _, contacts := range [][]string{nil, {contact, contact}} {
			p.Contacts = contacts
			if _, err := Compose(p).Marshal(); err != nil {
				t.Fatalf("composed %+v from %q: %v", Compose(p), data, err)
			}
		}
	})
}
