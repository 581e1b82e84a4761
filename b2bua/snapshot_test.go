package b2bua

import (
	"encoding/json"
	"testing"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/dialog"
)

type dialogInfo = dialog.Info

// TestSnapshot: the snapshot taken at the answer builds, for each leg,
// the BYE the B2BUA itself sends when it hangs up — same Request-URI,
// From, To and Call-ID, and a CSeq the far end has not seen yet — and
// carries the record so far.
func TestSnapshot(t *testing.T) {
	var snaps []Snapshot
	f := newFixture(t, func(c *Config) {
		c.OnAnswer = func(c *Call) {
			if s, ok := c.Snapshot(); ok {
				snaps = append(snaps, s)
			}
		}
	})
	answered(t, f)
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots at the answer, want 1", len(snaps))
	}
	s := snaps[0]
	if r := s.Record; r.CallID != "alice-call-1@198.51.100.7" || r.Answered.IsZero() || !r.End.IsZero() || r.Disposition != cdr.Answered {
		t.Errorf("record %+v: want alice's call, answered, not ended", r)
	}
	f.b.Hangup(f.b.Calls()[0].ID)
	byes := f.txs.all("BYE")
	if len(byes) != 2 {
		t.Fatalf("%d BYEs on hangup, want 2", len(byes))
	}
	legs := map[string]*dialogInfo{s.A.ID.CallID: &s.A, s.B.ID.CallID: &s.B}
	for _, bye := range byes {
		want := bye.req
		leg := legs[want.Header("Call-ID")]
		if leg == nil {
			t.Fatalf("BYE in Call-ID %q, of neither leg of the snapshot", want.Header("Call-ID"))
		}
		delete(legs, want.Header("Call-ID"))
		m, err := leg.Request("BYE", "", leg.LocalSeq+1)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{"From", "To", "Call-ID", "CSeq"} {
			if m.Header(h) != want.Header(h) {
				t.Errorf("%s of the snapshot's BYE %q, the B2BUA's %q", h, m.Header(h), want.Header(h))
			}
		}
		if m.RequestURI() != want.RequestURI() {
			t.Errorf("snapshot's BYE to %s, the B2BUA's to %s", m.RequestURI(), want.RequestURI())
		}
	}
	if _, ok := f.ended[0].Snapshot(); ok {
		t.Error("an ended call still gives a snapshot")
	}
}

// BenchmarkSnapshot is what a cluster node adds to each answered call on
// the call's queue (the snapshot), and reports the size of its JSON, the
// value each call keeps in Redis while it is up (the encoding itself
// runs on the writer's goroutine, off the call's queue).
func BenchmarkSnapshot(b *testing.B) {
	f := newFixture(&testing.T{})
	answered(&testing.T{}, f)
	c := f.b.Call(f.b.Calls()[0].ID)
	done := make(chan Snapshot, 1)
	b.ReportAllocs()
	for b.Loop() {
		c.Post(func() { s, _ := c.Snapshot(); done <- s })
		<-done
	}
	c.Post(func() { s, _ := c.Snapshot(); done <- s })
	v, err := json.Marshal(<-done)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(v)), "json-bytes")
}
