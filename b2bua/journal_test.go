package b2bua

import (
	"slices"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
)

// TestJournal: a call is journaled at its first ringing and at its
// answer, with what is known of it then.
func TestJournal(t *testing.T) {
	var rows []cdr.Record
	f := newFixture(t, func(c *Config) { c.Journal = func(r cdr.Record) { rows = append(rows, r) } })
	_, inv := answered(t, f)
	if len(rows) != 2 {
		t.Fatalf("%d journal rows, want 2 (ringing, answer)", len(rows))
	}
	for i, tc := range []struct {
		answered bool
		status   int
	}{{false, 0}, {true, 200}} {
		r := rows[i]
		if r.CallID != "alice-call-1@198.51.100.7" || r.BCallID != inv.req.Header("Call-ID") || r.Setup.IsZero() ||
			r.Ringing.IsZero() || r.Answered.IsZero() != !tc.answered || r.Status != tc.status || !r.End.IsZero() {
			t.Errorf("row %d: %+v, want answered %v, status %d, no end", i, r, tc.answered, tc.status)
		}
	}
	if len(f.records) != 0 {
		t.Errorf("%d records of a call still up", len(f.records))
	}
}

// TestByeWaitsForRecord: the 200 to the BYE that ends a call goes out
// only once the record is durable; the BYE on the other leg does not
// wait.
func TestByeWaitsForRecord(t *testing.T) {
	var durable []func()
	f := newFixture(t, func(c *Config) { c.Durable = func(fn func()) { durable = append(durable, fn) } })
	aTx, _ := answered(t, f)
	f.clk.Advance(5 * time.Second)
	bye := f.deliver(aRequest(t, aTx, "BYE", 11))
	if got := bye.codes(); len(got) != 0 {
		t.Fatalf("alice's BYE answered %v before the record is durable", got)
	}
	if len(f.records) != 1 || f.records[0].HungUpBy != cdr.Caller || len(f.txs.all("BYE")) != 1 {
		t.Fatalf("records %+v, BYEs to bob %d: want the record written and bob's BYE sent at once", f.records, len(f.txs.all("BYE")))
	}
	if len(durable) != 1 {
		t.Fatalf("Durable called %d times, want 1", len(durable))
	}
	durable[0]()
	if got := bye.codes(); !slices.Equal(got, []int{200}) {
		t.Errorf("alice's BYE got %v after the commit, want 200", got)
	}
}
