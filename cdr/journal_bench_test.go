package cdr_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
)

// BenchmarkJournaledCall is what a B2BUA call costs the writer on
// SQLite: a journal row at the ringing, its update at the answer, the
// record at the end, which removes the row.
func BenchmarkJournaledCall(b *testing.B) {
	s, err := cdr.OpenSQLite(filepath.Join(b.TempDir(), "parley.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w := cdr.NewWriter(s, quiet())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.Open(rec(i))
		w.Open(call("n", i))
		w.Write(ended(call("n", i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDurableBye is the wait a BYE's 200 has for its record: a
// record, then AfterCommit, then the wait for it, from one BYE at a time
// to many calls ending at once (b.RunParallel, par per core). ns/op is
// throughput; wait-ms/bye is the mean wait of one BYE.
func BenchmarkDurableBye(b *testing.B) {
	for _, par := range []int{1, 100} {
		b.Run(fmt.Sprintf("par=%d", par), func(b *testing.B) { durableBye(b, par) })
	}
}

func durableBye(b *testing.B, par int) {
	s, err := cdr.OpenSQLite(filepath.Join(b.TempDir(), "parley.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w := cdr.NewWriter(s, quiet())
	defer w.Close(context.Background())
	var n, waited atomic.Int64
	b.SetParallelism(par)
	b.RunParallel(func(pb *testing.PB) {
		done := make(chan struct{}, 1)
		for pb.Next() {
			i := int(n.Add(1))
			start := time.Now()
			w.Write(ended(call("n", i)))
			w.AfterCommit(func() { done <- struct{}{} })
			<-done
			waited.Add(int64(time.Since(start)))
		}
	})
	b.ReportMetric(float64(waited.Load())/float64(n.Load())/1e6, "wait-ms/bye")
}
