package cdr_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
	substoretest "github.com/parley-sip/parley/subscriber/storetest"
)

func openSQLiteJournal(t *testing.T) cdr.Journal {
	s, err := cdr.OpenSQLite(filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestJournalSQLite(t *testing.T) { runJournal(t, openSQLiteJournal) }

func TestJournalPostgres(t *testing.T) {
	substoretest.RequirePostgres(t)
	runJournal(t, func(t *testing.T) cdr.Journal {
		s, err := cdr.OpenPostgres(context.Background(), substoretest.PostgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// call is an answered call of node n, set up at second i.
func call(n string, i int) cdr.Record {
	r := rec(i)
	r.Node = n
	r.BCallID = "b" + r.CallID
	r.Answered = r.Setup.Add(time.Second)
	r.Status = 200
	return r
}

func ended(r cdr.Record) cdr.Record {
	r.End = r.Answered.Add(3 * time.Second)
	r.HungUpBy = cdr.Caller
	return r
}

// manyCalls is one batch: calls 0..up-1 answered, the first ended of
// them ended after it.
func manyCalls(up, done int) []cdr.Change {
	var b []cdr.Change
	for i := range up {
		b = append(b, cdr.Change{Record: rec(i), Open: true}, cdr.Change{Record: call("n", i), Open: true})
	}
	for i := range done {
		b = append(b, cdr.Change{Record: ended(call("n", i))})
	}
	return b
}

func manyWant(up, done int) map[string]cdr.Disposition {
	want := map[string]cdr.Disposition{}
	for i := range up {
		want[fmt.Sprintf("c%d", i)] = cdr.Interrupted
		if i < done {
			want[fmt.Sprintf("c%d", i)] = cdr.Answered
		}
	}
	return want
}

func runJournal(t *testing.T, open func(t *testing.T) cdr.Journal) {
	restart := time.Unix(1000, 0).UTC()
	for _, tc := range []struct {
		name    string
		batches [][]cdr.Change
		node    string
		want    map[string]cdr.Disposition // call_id → disposition after recovery
	}{
		{"ended in a later batch", [][]cdr.Change{{{Record: call("n", 1), Open: true}}, {{Record: ended(call("n", 1))}}},
			"n", map[string]cdr.Disposition{"c1": cdr.Answered}},
		{"open and ended in one batch", [][]cdr.Change{{{Record: call("n", 1), Open: true}, {Record: ended(call("n", 1))}}},
			"n", map[string]cdr.Disposition{"c1": cdr.Answered}},
		{"up at the crash", [][]cdr.Change{{{Record: call("n", 1), Open: true}, {Record: call("n", 2), Open: true}, {Record: ended(call("n", 2))}}},
			"n", map[string]cdr.Disposition{"c1": cdr.Interrupted, "c2": cdr.Answered}},
		{"ringing then answered", [][]cdr.Change{{{Record: rec(1), Open: true}}, {{Record: call("n", 1), Open: true}}},
			"n", map[string]cdr.Disposition{"c1": cdr.Interrupted}},
		{"a batch past a chunk: 100 calls up, 30 of them ended in it", [][]cdr.Change{manyCalls(100, 30)},
			"n", manyWant(100, 30)},
		{"another node's call is left alone", [][]cdr.Change{{{Record: call("other", 1), Open: true}}},
			"n", map[string]cdr.Disposition{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := open(t)
			ctx := context.Background()
			for _, b := range tc.batches {
				if err := j.Commit(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			n, err := j.Recover(ctx, tc.node, restart)
			if err != nil {
				t.Fatal(err)
			}
			got, err := j.List(ctx, cdr.Query{Limit: cdr.MaxLimit})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("records %+v, want %v", got, tc.want)
			}
			interrupted := 0
			for _, r := range got {
				if tc.want[r.CallID] != r.Disposition {
					t.Errorf("%s: disposition %q, want %q", r.CallID, r.Disposition, tc.want[r.CallID])
				}
				if r.Disposition == cdr.Interrupted {
					interrupted++
					if !r.End.Equal(restart) || r.Reason != cdr.RecoveredReason || r.HungUpBy != cdr.System {
						t.Errorf("recovered %+v: want end %v, reason %q, hung up by system", r, restart, cdr.RecoveredReason)
					}
				}
			}
			if n != interrupted {
				t.Errorf("Recover says %d, %d records are interrupted", n, interrupted)
			}
			if n, err := j.Recover(ctx, tc.node, restart.Add(time.Hour)); err != nil || n != 0 {
				t.Errorf("second Recover: %d, %v; want 0", n, err)
			}
		})
	}
}

// TestRecoverEndsNoEarlierThanAnswer: a clock stepped back across the
// restart cannot give a recovered call a negative talk time.
func TestRecoverEndsNoEarlierThanAnswer(t *testing.T) {
	j := openSQLiteJournal(t)
	ctx := context.Background()
	c := call("n", 100)
	if err := j.Commit(ctx, []cdr.Change{{Record: c, Open: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Recover(ctx, "n", time.Unix(5, 0)); err != nil {
		t.Fatal(err)
	}
	got, _ := j.List(ctx, cdr.Query{})
	if len(got) != 1 || !got[0].End.Equal(c.Answered.UTC()) {
		t.Fatalf("got %+v, want one record ending at the answer %v", got, c.Answered)
	}
}

// TestWriterAfterCommit: what AfterCommit runs sees the records handed
// over before it in the store, journal rows included.
func TestWriterAfterCommit(t *testing.T) {
	j := openSQLiteJournal(t)
	w := cdr.NewWriter(j, quiet())
	defer w.Close(context.Background())
	w.Open(call("n", 1))
	w.Open(call("n", 2))
	w.Write(ended(call("n", 2)))
	seen := make(chan int, 1)
	w.AfterCommit(func() { seen <- count(t, j) })
	select {
	case n := <-seen:
		if n != 1 {
			t.Fatalf("after the commit the store holds %d records, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("AfterCommit never ran")
	}
	if written, errs := w.Stats(); written != 1 || errs != 0 {
		t.Errorf("Stats = %d, %d; want 1 written (journal rows are not records), 0 errors", written, errs)
	}
	if n, err := j.Recover(context.Background(), "n", time.Unix(1000, 0)); err != nil || n != 1 {
		t.Errorf("Recover = %d, %v; want the one call still up", n, err)
	}
}

// TestWriterIgnoresOpenWithoutJournal: the memory engine keeps only the
// records of ended calls.
func TestWriterIgnoresOpenWithoutJournal(t *testing.T) {
	m := cdr.NewMemory()
	w := cdr.NewWriter(m, quiet())
	w.Open(call("n", 1))
	w.Write(ended(call("n", 2)))
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, m); n != 1 {
		t.Fatalf("memory holds %d records, want 1", n)
	}
}
