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

// BenchmarkCommitCall is a B2BUA call's cost to the SQL store's commits
// (ns and allocations per call), batches of 16 calls as the writer
// groups them under load, calls held across commits: "answer" journals
// a call once, at its answer (what the B2BUA does), "ringing+answer" at
// both, as it did before. The records are made before the timer starts.
func BenchmarkCommitCall(b *testing.B) {
	for _, shape := range []struct {
		name  string
		rings bool
	}{{"ringing+answer", true}, {"answer", false}} {
		b.Run(shape.name, func(b *testing.B) {
			s, err := cdr.OpenSQLite(filepath.Join(b.TempDir(), "parley.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const per = 16
			calls := make([]cdr.Record, b.N+per)
			for i := range calls {
				calls[i] = call("n", i)
				calls[i].Caller, calls[i].Callee, calls[i].Source = "sip:alice@example.com", "sip:bob@example.com", "127.0.0.1:5060"
			}
			batch := make([]cdr.Change, 0, 3*per)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if shape.rings {
					ringing := calls[i]
					ringing.Answered, ringing.Status = time.Time{}, 0
					batch = append(batch, cdr.Change{Record: ringing, Open: true})
				}
				batch = append(batch, cdr.Change{Record: calls[i], Open: true})
				if i >= per {
					batch = append(batch, cdr.Change{Record: ended(calls[i-per])})
				}
				if (i+1)%per == 0 || i == b.N-1 {
					if err := s.Commit(ctx, batch); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
			}
		})
	}
}
