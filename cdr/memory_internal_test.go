package cdr

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// TestMemoryBound: the memory store keeps the newest records within its
// bound, forgets the oldest a tenth at a time, keeps IDs increasing, and
// still refuses a duplicate of a record it keeps.
func TestMemoryBound(t *testing.T) {
	m := newMemory(100)
	ctx := context.Background()
	setup := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := func(i int) Record { return Record{CallID: "c" + strconv.Itoa(i), Setup: setup, End: setup} }
	for i := range 150 {
		if err := m.Add(ctx, []Record{rec(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if len(m.recs) > 100 || len(m.seen) != len(m.recs) {
		t.Fatalf("kept %d records, %d keys; want at most 100, one key each", len(m.recs), len(m.seen))
	}
	if first, last := m.recs[0], m.recs[len(m.recs)-1]; last.CallID != "c149" || last.ID != 150 || first.ID >= last.ID {
		t.Errorf("kept %s (id %d) … %s (id %d), want the newest ending at c149, id 150", first.CallID, first.ID, last.CallID, last.ID)
	}
	n := len(m.recs)
	m.Add(ctx, []Record{rec(149)})
	if len(m.recs) != n {
		t.Errorf("a duplicate of a kept record was added")
	}
}

// BenchmarkMemoryAdd: adding stays constant-time however many records are
// kept (it was a scan of them all).
func BenchmarkMemoryAdd(b *testing.B) {
	m := NewMemory()
	ctx := context.Background()
	setup := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; b.Loop(); i++ {
		m.Add(ctx, []Record{{CallID: strconv.Itoa(i), Setup: setup, End: setup}})
	}
}
