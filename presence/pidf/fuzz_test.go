package pidf

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds any bytes to Parse: it must not panic, and a document
// it accepts must keep what Parse promises (an entity, tuple ids, basic
// open, closed or empty).
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	golden, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.xml"))
	for _, name := range append(files, golden...) {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			return
		}
		if d.Entity == "" {
			t.Fatal("accepted a document without entity")
		}
		for _, tu := range d.Tuples {
			if tu.ID == "" || (tu.Basic != "" && tu.Basic != Open && tu.Basic != Closed) {
				t.Fatalf("accepted tuple %+v", tu)
			}
		}
	})
}
