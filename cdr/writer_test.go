package cdr_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
)

// flaky is a memory store whose Add fails while down is set, and that
// counts its commits.
type flaky struct {
	*cdr.Memory
	gate    chan struct{} // when set, the first Add waits for it to close
	mu      sync.Mutex
	down    bool
	commits int
}

func (f *flaky) Add(ctx context.Context, recs []cdr.Record) error {
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commits++
	if f.down {
		return errors.New("database is down")
	}
	return f.Memory.Add(ctx, recs)
}

func (f *flaky) setDown(v bool) { f.mu.Lock(); f.down = v; f.mu.Unlock() }

func (f *flaky) commitCount() int { f.mu.Lock(); defer f.mu.Unlock(); return f.commits }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func rec(i int) cdr.Record {
	return cdr.Record{Node: "n", CallID: fmt.Sprintf("c%d", i), Setup: time.Unix(int64(i), 0), Disposition: cdr.Answered}
}

func count(t *testing.T, s cdr.Store) int {
	t.Helper()
	got, err := s.List(context.Background(), cdr.Query{Limit: cdr.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return len(got)
}

// TestWriterGroupsCommits: the records written while a commit runs go
// in one commit after it.
func TestWriterGroupsCommits(t *testing.T) {
	store := &flaky{Memory: cdr.NewMemory(), gate: make(chan struct{})}
	w := cdr.NewWriter(store, quiet())
	w.Write(rec(0)) // its commit waits at the gate
	for i := 1; i < 500; i++ {
		w.Write(rec(i))
	}
	close(store.gate)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, store); n != 500 {
		t.Errorf("%d records stored, want 500", n)
	}
	if written, errs := w.Stats(); written != 500 || errs != 0 {
		t.Errorf("stats written %d errors %d, want 500 and 0", written, errs)
	}
	if store.commits > 2 {
		t.Errorf("%d commits for 1 record and 499 written during its commit, want 2", store.commits)
	}
}

func TestWriterRetriesAFailingStore(t *testing.T) {
	store := &flaky{Memory: cdr.NewMemory(), down: true}
	w := cdr.NewWriter(store, quiet())
	w.Write(rec(1))
	w.Write(rec(2))
	deadline := time.Now().Add(5 * time.Second)
	for _, errs := w.Stats(); errs == 0; _, errs = w.Stats() {
		if time.Now().After(deadline) {
			t.Fatal("no failed commit counted")
		}
		time.Sleep(time.Millisecond)
	}
	store.setDown(false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, store); n != 2 {
		t.Errorf("%d records stored after the store came back, want 2", n)
	}
	if written, _ := w.Stats(); written != 2 {
		t.Errorf("written %d, want 2", written)
	}
	_ = w.Close(ctx)
}

// TestWriterLogsAnOutageOnce: a store down for three retries is one
// line when it fails and one when it is back (issue 19's "logged once
// per state change"), not a line a second for as long as it is down.
func TestWriterLogsAnOutageOnce(t *testing.T) {
	store := &flaky{Memory: cdr.NewMemory(), down: true}
	var log bytes.Buffer // read after Close, which waits for the writer's goroutine
	w := cdr.NewWriter(store, slog.New(slog.NewTextHandler(&log, nil)))
	w.Write(rec(1))
	deadline := time.Now().Add(10 * time.Second)
	for store.commitCount() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the writer did not retry three times")
		}
		time.Sleep(10 * time.Millisecond)
	}
	store.setDown(false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := log.String()
	if n := strings.Count(got, "\n"); n != 2 {
		t.Errorf("%d log lines for one outage, want 2:\n%s", n, got)
	}
	for _, want := range []string{`level=WARN msg="cdr store unavailable" error="database is down"`, `level=INFO msg="cdr store available again"`} {
		if !strings.Contains(got, want) {
			t.Errorf("no %s in the log:\n%s", want, got)
		}
	}
}

func TestWriterCloseGivesUpAtTheDeadline(t *testing.T) {
	store := &flaky{Memory: cdr.NewMemory(), down: true}
	w := cdr.NewWriter(store, quiet())
	w.Write(rec(1))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want the deadline", err)
	}
	w.Write(rec(2)) // after Close: dropped and counted, not a panic
	if _, errs := w.Stats(); errs < 2 {
		t.Errorf("errors %d, want the failed commit and the dropped record", errs)
	}
}
