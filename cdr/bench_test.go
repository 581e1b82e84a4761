package cdr_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
)

// BenchmarkWriterSQLite is the cost of a record from Write to its group
// commit in SQLite (synchronous=FULL): what the server pays per call.
func BenchmarkWriterSQLite(b *testing.B) {
	s, err := cdr.OpenSQLite(filepath.Join(b.TempDir(), "parley.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w := cdr.NewWriter(s, quiet())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.Write(rec(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		b.Fatal(err)
	}
}
