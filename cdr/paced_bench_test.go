package cdr_test

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
)

// BenchmarkWriterAtRate is the writer's CPU per B2BUA call when calls
// arrive at a steady 400 a second, as a server sees them, rather than as
// fast as the loop can hand them over (BenchmarkJournaledCall): every
// 2.5 ms one call rings, one is answered and one ends, each a change to
// SQLite (synchronous=FULL). cpu-us/call is the process's CPU (user and
// system, the sync's included) over the run per call: at this rate the
// size of a commit's batch, and so its cost per call, depends on how
// soon the writer commits again.
func BenchmarkWriterAtRate(b *testing.B) {
	s, err := cdr.OpenSQLite(filepath.Join(b.TempDir(), "parley.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w := cdr.NewWriter(s, quiet())
	const every = 2500 * time.Microsecond
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	tick := time.NewTicker(every)
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		<-tick.C
		w.Open(rec(i))
		if i >= 8 {
			w.Open(call("n", i-8))
		}
		if i >= 16 {
			w.Write(ended(call("n", i-16)))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano()
	b.ReportMetric(float64(cpu)/float64(b.N)/1e3, "cpu-us/call")
}
