package observe

import (
	"testing"
	"time"
)

// step is one message in a call-tracking scenario.
type step struct {
	dir Direction
	m   msg
}

func in(m msg) step  { return step{Received, m} }
func out(m msg) step { return step{Sent, m} }

func invite() msg { return msg{method: "INVITE", callID: "c1", branch: "z9hG4bK-1"} }
func resp(code int) msg {
	return msg{status: code, cseq: "INVITE", callID: "c1", branch: "z9hG4bK-1", toTag: "b"}
}
func bye() msg { return msg{method: "BYE", callID: "c1", branch: "z9hG4bK-2", toTag: "b"} }
func byeResp(code int) msg {
	return msg{status: code, cseq: "BYE", callID: "c1", branch: "z9hG4bK-2", toTag: "b"}
}
func reinvite() msg       { m := invite(); m.toTag = "b"; return m }
func otherCall(m msg) msg { m.callID = "c2"; return m }

func TestTrackerTransitions(t *testing.T) {
	tests := []struct {
		name    string
		steps   []step
		state   CallState // "" means no call tracked
		status  int
		reason  string
		changes int
	}{
		{"INVITE starts a call", []step{in(invite())}, CallTrying, 0, "", 1},
		{"forwarded copy is the same call", []step{in(invite()), out(invite())}, CallTrying, 0, "", 1},
		{"retransmission is the same call", []step{in(invite()), in(invite())}, CallTrying, 0, "", 1},
		{"100 changes nothing", []step{in(invite()), out(resp(100))}, CallTrying, 0, "", 1},
		{"180 rings", []step{in(invite()), out(resp(100)), in(resp(180)), out(resp(180))}, CallRinging, 0, "", 2},
		{"received 180 alone is not relayed yet", []step{in(invite()), in(resp(180))}, CallTrying, 0, "", 1},
		{"200 establishes", []step{in(invite()), out(resp(180)), out(resp(200))}, CallEstablished, 200, "", 3},
		{"200 without ringing", []step{in(invite()), out(resp(200))}, CallEstablished, 200, "", 2},
		{"2xx retransmission changes nothing", []step{in(invite()), out(resp(200)), out(resp(200))}, CallEstablished, 200, "", 2},
		{"BYE answered ends", []step{in(invite()), out(resp(200)), in(bye()), out(bye()), in(byeResp(200)), out(byeResp(200))}, CallEnded, 200, "hung up", 3},
		{"BYE unanswered keeps it up", []step{in(invite()), out(resp(200)), in(bye()), out(bye())}, CallEstablished, 200, "", 2},
		{"BYE answered 481 ends too", []step{in(invite()), out(resp(200)), in(bye()), out(byeResp(481))}, CallEnded, 200, "hung up", 3},
		{"busy ends", []step{in(invite()), out(resp(180)), out(resp(486))}, CallEnded, 486, "486 Busy Here", 3},
		{"404 from Parley ends", []step{in(invite()), out(resp(404))}, CallEnded, 404, "404 Not Found", 2},
		{"cancelled", []step{in(invite()), out(resp(180)), out(resp(487))}, CallEnded, 487, "487 Request Terminated", 3},
		{"absorbed branch failure does not end", []step{in(invite()), in(resp(486))}, CallTrying, 0, "", 1},
		{"failed re-INVITE keeps the call", []step{in(invite()), out(resp(200)), in(reinvite()), out(resp(491))}, CallEstablished, 200, "", 2},
		{"in-dialog INVITE starts nothing", []step{in(reinvite())}, "", 0, "", 0},
		{"sent INVITE starts nothing", []step{out(invite())}, "", 0, "", 0},
		{"INVITE after the end is not a new call", []step{in(invite()), out(resp(486)), in(invite())}, CallEnded, 486, "486 Busy Here", 2},
		{"another call is separate", []step{in(invite()), out(otherCall(resp(200)))}, CallTrying, 0, "", 1},
		{"response for unknown call", []step{out(resp(200))}, "", 0, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker(0)
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			changes := 0
			for i, s := range tt.steps {
				text := s.m.text()
				m := Message{Dir: s.dir, Time: now.Add(time.Duration(i) * time.Second), Peer: alice, Text: text, Summary: Scan(text)}
				if _, ok := tr.observe(&m); ok {
					changes++
				}
			}
			active, recent := tr.snapshot()
			var got *Call
			switch {
			case len(active) > 0:
				got = &active[0]
			case len(recent) > 0:
				got = &recent[0]
			}
			if tt.state == "" {
				if got != nil {
					t.Fatalf("tracked %+v, want nothing", got)
				}
				return
			}
			if got == nil {
				t.Fatal("no call tracked")
			}
			if got.State != tt.state || got.Status != tt.status || got.Reason != tt.reason || changes != tt.changes {
				t.Errorf("got %s %d %q after %d changes, want %s %d %q after %d",
					got.State, got.Status, got.Reason, changes, tt.state, tt.status, tt.reason, tt.changes)
			}
			if (got.State == CallEnded) != (len(recent) == 1 && len(active) == 0) {
				t.Errorf("active %d recent %d for state %s", len(active), len(recent), got.State)
			}
		})
	}
}

func TestTrackerCallDetails(t *testing.T) {
	tr := newTracker(0)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, s := range []step{in(invite()), out(resp(180)), out(resp(200)), out(byeResp(200))} {
		text := s.m.text()
		tr.observe(&Message{Dir: s.dir, Time: t0.Add(time.Duration(i) * 10 * time.Second), Peer: alice, Text: text, Summary: Scan(text)})
	}
	_, recent := tr.snapshot()
	c := recent[0]
	want := Call{CallID: "c1", Caller: `"Alice" <sip:alice@example.com>`, Callee: "<sip:bob@example.com>",
		RequestURI: "sip:bob@example.com", Source: alice.String(), State: CallEnded, Status: 200, Reason: "hung up",
		Start: t0, Answered: t0.Add(20 * time.Second), End: t0.Add(30 * time.Second)}
	if c != want {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	if d := c.Duration(t0.Add(time.Hour)); d != 10*time.Second {
		t.Errorf("duration %v, want the 10s of talk", d)
	}
	ringing := Call{Start: t0}
	if d := ringing.Duration(t0.Add(3 * time.Second)); d != 3*time.Second {
		t.Errorf("duration before answer %v", d)
	}
}

func TestTrackerBounds(t *testing.T) {
	tr := newTracker(3)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	start := func(id string, at time.Time) {
		m := invite()
		m.callID = id
		text := m.text()
		tr.observe(&Message{Dir: Received, Time: at, Text: text, Summary: Scan(text)})
	}
	for i, id := range []string{"a", "b", "c", "d"} {
		start(id, t0.Add(time.Duration(i)*time.Second))
	}
	active, _ := tr.snapshot()
	if len(active) != 3 || active[0].CallID != "b" || active[2].CallID != "d" {
		t.Errorf("active %+v, want b c d (a evicted)", active)
	}

	// Calls stuck in setup end after setupTimeout; recent calls go after recentAge.
	ended := tr.sweep(t0.Add(setupTimeout + 2500*time.Millisecond))
	if len(ended) != 2 || ended[0].CallID != "b" || ended[0].Reason != "no final response" {
		t.Errorf("swept %+v, want b and c", ended)
	}
	if tr.count() != 1 {
		t.Errorf("%d active after sweep, want 1", tr.count())
	}
	tr.sweep(t0.Add(setupTimeout + recentAge + 3*time.Second))
	active, recent := tr.snapshot()
	if len(recent) != 1 || recent[0].CallID != "d" || len(active) != 0 {
		t.Errorf("after the second sweep: active %d, recent %+v; want only d, recently ended", len(active), recent)
	}

	for i := range maxRecent + 5 {
		id := string(rune('A'+i%26)) + string(rune('a'+i/26))
		start(id, t0)
		m := resp(404)
		m.callID = id
		text := m.text()
		tr.observe(&Message{Dir: Sent, Time: t0, Text: text, Summary: Scan(text)})
	}
	if _, recent := tr.snapshot(); len(recent) != maxRecent {
		t.Errorf("%d recent calls, want the bound %d", len(recent), maxRecent)
	}
}
