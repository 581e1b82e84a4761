// Package storetest is the conformance suite every cdr.Store engine
// passes: Run it with a function that opens a fresh, empty store.
package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
)

// Open returns a fresh, empty store, closed when t ends.
type Open func(t *testing.T) cdr.Store

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 123456000, time.UTC)

// record returns the i-th test call: started i minutes after t0, with
// the disposition and caller given.
func record(i int, d cdr.Disposition, caller string) cdr.Record {
	r := cdr.Record{
		Node: "node1", CallID: fmt.Sprintf("call-%d@example.com", i), Caller: caller,
		Callee: "sip:Bob@example.com", Dialled: "bob", Source: "192.0.2.10:5060",
		Setup: t0.Add(time.Duration(i) * time.Minute), Disposition: d, HungUpBy: cdr.Callee, Status: 486, Reason: "Busy Here",
	}
	r.End = r.Setup.Add(3 * time.Second)
	if d == cdr.Answered {
		r.Ringing, r.Answered = r.Setup.Add(time.Second), r.Setup.Add(2*time.Second)
		r.End, r.Status, r.Reason, r.HungUpBy = r.Setup.Add(62500*time.Millisecond), 200, "hung up", cdr.Caller
	}
	return r
}

// Run runs the suite.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		run  func(t *testing.T, s cdr.Store)
	}{
		{"round trip", roundTrip},
		{"add is idempotent", idempotent},
		{"filters", filters},
		{"paging", paging},
		{"empty", empty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, open(t)) })
	}
}

func add(t *testing.T, s cdr.Store, recs ...cdr.Record) {
	t.Helper()
	if err := s.Add(context.Background(), recs); err != nil {
		t.Fatalf("Add: %v", err)
	}
}

func list(t *testing.T, s cdr.Store, q cdr.Query) []cdr.Record {
	t.Helper()
	got, err := s.List(context.Background(), q)
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	return got
}

func roundTrip(t *testing.T, s cdr.Store) {
	want := record(1, cdr.Answered, "sip:alice@example.com")
	want.BCallID, want.Trunk, want.Route, want.AnsweredBy, want.TransferredBy = "b-leg@parley", "provider", "national", "sip:carol@example.com", "sip:bob@example.com"
	add(t, s, want)
	got := list(t, s, cdr.Query{})
	if len(got) != 1 || got[0].ID <= 0 {
		t.Fatalf("got %+v, want one record with an ID", got)
	}
	want.ID = got[0].ID
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("stored\n%+v\nwant\n%+v", got[0], want)
	}
	if d, b := got[0].Duration(), got[0].Billable(); d != 62500*time.Millisecond || b != 61 {
		t.Errorf("duration %v billable %d, want 1m2.5s and 61", d, b)
	}
}

func idempotent(t *testing.T, s cdr.Store) {
	r := record(1, cdr.Busy, "sip:alice@example.com")
	add(t, s, r)
	add(t, s, r, record(2, cdr.Busy, "sip:alice@example.com"))
	if got := list(t, s, cdr.Query{}); len(got) != 2 {
		t.Errorf("%d records after adding one twice and another, want 2", len(got))
	}
}

func filters(t *testing.T, s cdr.Store) {
	add(t, s,
		record(0, cdr.Answered, "sip:alice@example.com"),
		record(1, cdr.Busy, "sip:alice@example.com"),
		record(2, cdr.Answered, "sip:carol@example.com"),
		record(3, cdr.Cancelled, `"100%_sure" <sip:dave@example.com>`),
	)
	tests := []struct {
		name string
		q    cdr.Query
		want []int // the records' minutes, in order
	}{
		{"all, oldest first", cdr.Query{}, []int{0, 1, 2, 3}},
		{"newest first", cdr.Query{Newest: true}, []int{3, 2, 1, 0}},
		{"caller substring, any case", cdr.Query{Caller: "ALICE"}, []int{0, 1}},
		{"callee", cdr.Query{Callee: "bob@"}, []int{0, 1, 2, 3}},
		{"no such callee", cdr.Query{Callee: "zed"}, nil},
		{"LIKE wildcards are literal", cdr.Query{Caller: "%_s"}, []int{3}},
		{"an underscore matches only itself", cdr.Query{Caller: "_"}, []int{3}},
		{"disposition", cdr.Query{Disposition: cdr.Answered}, []int{0, 2}},
		{"since is inclusive", cdr.Query{Since: t0.Add(time.Minute)}, []int{1, 2, 3}},
		{"until is exclusive", cdr.Query{Until: t0.Add(2 * time.Minute)}, []int{0, 1}},
		{"all together", cdr.Query{Caller: "alice", Disposition: cdr.Busy, Since: t0, Until: t0.Add(time.Hour)}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			for _, r := range list(t, s, tt.q) {
				got = append(got, int(r.Setup.Sub(t0)/time.Minute))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got minutes %v, want %v", got, tt.want)
			}
		})
	}
}

// paging walks 25 records in pages of 10, both ways, and checks that
// every record comes once.
func paging(t *testing.T, s cdr.Store) {
	var recs []cdr.Record
	for i := range 25 {
		recs = append(recs, record(i, cdr.NoAnswer, "sip:alice@example.com"))
	}
	add(t, s, recs...)
	for _, newest := range []bool{false, true} {
		seen := map[string]bool{}
		var cursor int64
		pages := 0
		for {
			q := cdr.Query{Newest: newest, Limit: 10, After: cursor, Before: cursor}
			page := list(t, s, q)
			if len(page) == 0 {
				break
			}
			pages++
			for _, r := range page {
				if seen[r.CallID] {
					t.Fatalf("newest=%v: %s seen twice", newest, r.CallID)
				}
				seen[r.CallID] = true
			}
			cursor = page[len(page)-1].ID
		}
		if len(seen) != 25 || pages != 3 {
			t.Errorf("newest=%v: %d records in %d pages, want 25 in 3", newest, len(seen), pages)
		}
	}
	if got := list(t, s, cdr.Query{Limit: 5000}); len(got) != 25 {
		t.Errorf("a limit past the maximum returned %d, want all 25", len(got))
	}
	if got := list(t, s, cdr.Query{}); len(got) != 25 || cdr.DefaultLimit < 25 {
		t.Errorf("the default limit returned %d", len(got))
	}
}

func empty(t *testing.T, s cdr.Store) {
	got := list(t, s, cdr.Query{})
	if got == nil || len(got) != 0 {
		t.Errorf("an empty store listed %#v, want an empty, non-nil slice", got)
	}
}
