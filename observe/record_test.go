package observe

import (
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
)

// TestRecords: the call detail records the tracked calls give, one per
// call, through the same notices that reach Config.OnCall.
func TestRecords(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name  string
		steps []step // one second apart
		want  cdr.Record
	}{
		{"answered", []step{in(invite()), out(resp(180)), out(resp(200)), in(bye()), out(byeResp(200))},
			cdr.Record{Setup: t0, Ringing: at(1), Answered: at(2), End: at(3), Disposition: cdr.Answered,
				HungUpBy: cdr.Caller, Status: 200, Reason: "hung up"}},
		{"busy", []step{in(invite()), out(resp(180)), out(resp(486))},
			cdr.Record{Setup: t0, Ringing: at(1), End: at(2), Disposition: cdr.Busy,
				HungUpBy: cdr.Callee, Status: 486, Reason: "Busy Here"}},
		{"cancelled", []step{in(invite()), out(resp(180)), in(cancel()), out(cancelResp()), out(resp(487))},
			cdr.Record{Setup: t0, Ringing: at(1), End: at(4), Disposition: cdr.Cancelled,
				HungUpBy: cdr.Caller, Status: 487, Reason: "Request Terminated"}},
		{"challenged, then answered", []step{in(invite()), out(tagged(resp(407), "p")), in(invite2()),
			out(resp2(180)), out(resp2(200)), in(fromCallee(bye())), out(fromCallee(byeResp(200)))},
			cdr.Record{Setup: t0, Ringing: at(3), Answered: at(4), End: at(5), Disposition: cdr.Answered,
				HungUpBy: cdr.Callee, Status: 200, Reason: "hung up"}},
		{"not found", []step{in(invite()), out(untagged(resp(100))), out(resp(404))},
			cdr.Record{Setup: t0, End: at(2), Disposition: cdr.Failed, HungUpBy: cdr.Callee, Status: 404, Reason: "Not Found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker(0)
			var recs []cdr.Record
			for _, n := range feedSteps(tr, t0, time.Second, tt.steps...) {
				if n.change == CallFinished {
					recs = append(recs, n.call.Record("node1", at(100)))
				}
			}
			want := tt.want
			want.Node, want.CallID, want.Caller, want.Callee = "node1", "c1", "sip:alice@example.com", "sip:bob@example.com"
			want.Dialled, want.Source = "bob", alice.String()
			if len(recs) != 1 || recs[0] != want {
				t.Fatalf("records %+v\nwant one: %+v", recs, want)
			}
		})
	}
}

// TestRecordInterrupted: a call still up when the server stops is
// recorded as interrupted at the stop, by the system.
func TestRecordInterrupted(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := newTracker(0)
	feedSteps(tr, t0, time.Second, in(invite()), out(resp(180)), out(resp(200)))
	active, _ := tr.snapshot()
	if len(active) != 1 {
		t.Fatalf("%d active calls, want 1", len(active))
	}
	r := active[0].Record("n", t0.Add(time.Minute))
	if r.Disposition != cdr.Interrupted || r.HungUpBy != cdr.System || !r.End.Equal(t0.Add(time.Minute)) ||
		r.Billable() != 58 || r.Reason != "server stopped" {
		t.Errorf("record %+v (billable %d)", r, r.Billable())
	}
}
