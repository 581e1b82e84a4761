package cdr

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// countingStore is a memory store that counts its commits.
type countingStore struct {
	*Memory
	commits atomic.Int64
}

func (c *countingStore) Add(ctx context.Context, recs []Record) error {
	c.commits.Add(1)
	return c.Memory.Add(ctx, recs)
}

func flushed(t *testing.T, w *Writer) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// TestWriterPacesCommits: records handed over within the gap after a
// commit began go in one commit after it, however quick the store; a
// record handed over to a writer idle for longer than the gap is
// committed at once. Before the gap, a store as quick as memory took a
// commit per record.
func TestWriterPacesCommits(t *testing.T) {
	const gap = 400 * time.Millisecond
	store := &countingStore{Memory: NewMemory()}
	w := newWriter(store, nil, gap)
	defer w.Close(context.Background())

	for i := range 20 {
		w.Write(Record{Node: "n", CallID: fmt.Sprint(i), Setup: time.Unix(int64(i), 0)})
		time.Sleep(2 * time.Millisecond)
	}
	if took := flushed(t, w); took < gap/4 {
		t.Errorf("the records after the first were committed after %v, want them held for the rest of the %v gap", took, gap)
	}
	// The first at once, the rest (handed over in some 40 ms) after the
	// gap: 2, or 3 on a machine slow enough to spread them past it.
	if got := store.commits.Load(); got < 2 || got > 3 {
		t.Errorf("%d commits for 20 records handed over within the gap, want 2 (3 at most)", got)
	}

	time.Sleep(gap)
	before := store.commits.Load()
	w.Write(Record{Node: "n", CallID: "late", Setup: time.Unix(100, 0)})
	if took := flushed(t, w); took >= gap/2 {
		t.Errorf("a record after an idle gap waited %v, want it committed at once", took)
	}
	if got := store.commits.Load() - before; got != 1 {
		t.Errorf("%d commits for the late record, want 1", got)
	}
	if n := count(store.Memory); n != 21 {
		t.Errorf("%d records stored, want 21", n)
	}
}

func count(m *Memory) int {
	recs, _ := m.List(context.Background(), Query{Limit: MaxLimit})
	return len(recs)
}
