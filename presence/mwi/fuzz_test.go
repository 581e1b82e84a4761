package mwi

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse feeds any bytes to Parse: it must not panic, and a summary it
// accepts must survive Marshal and Parse unchanged (less an account with
// a line break, which Marshal refuses and Parse cannot produce).
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	golden, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.txt"))
	for _, name := range append(files, golden...) {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		out, err := s.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed summary %+v: %v", s, err)
		}
		back, err := Parse(out)
		if err != nil || !reflect.DeepEqual(back, s) {
			t.Fatalf("round trip of %q: %+v (%v), want %+v", out, back, err, s)
		}
	})
}
