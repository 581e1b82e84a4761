package b2bua

import (
	"testing"

	"github.com/parley-sip/parley/cdr"
)

// TestAdminHangupRinging: the admin API's hang-up of a call still
// ringing answers the caller 480 and cancels the callee, and the record
// says the administrator ended it, as it does for an answered call; it
// said only "Call Ended", a no-answer nobody could tell from a phone's.
func TestAdminHangupRinging(t *testing.T) {
	f := newFixture(t)
	aTx, _ := f.call(Plan{}, "sip:bob@203.0.113.9:5060")
	invs := f.txs.all("INVITE")
	if len(invs) != 1 {
		t.Fatalf("%d B INVITEs, want 1", len(invs))
	}
	invs[0].answer(180, "bob-1")
	if !f.b.Hangup(f.b.Calls()[0].ID) {
		t.Fatal("no call to hang up")
	}
	if last := aTx.last(); last == nil || last.StatusCode() != 480 {
		t.Fatalf("alice got %v, want 480", aTx.codes())
	}
	if len(f.records) != 1 {
		t.Fatalf("%d records, want 1", len(f.records))
	}
	if r := f.records[0]; r.Status != 480 || r.HungUpBy != cdr.System || r.Reason != "hung up by the administrator" {
		t.Errorf("record status %d by %q reason %q, want 480 by system, hung up by the administrator", r.Status, r.HungUpBy, r.Reason)
	}
}
