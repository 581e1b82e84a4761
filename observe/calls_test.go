package observe

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
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
func bye() msg { return msg{method: "BYE", callID: "c1", branch: "z9hG4bK-2", toTag: "b", seq: 2} }
func byeResp(code int) msg {
	return msg{status: code, cseq: "BYE", callID: "c1", branch: "z9hG4bK-2", toTag: "b", seq: 2}
}
func reinvite() msg       { m := invite(); m.toTag, m.seq = "b", 2; return m }
func otherCall(m msg) msg { m.callID = "c2"; return m }

// the INVITE sent again with credentials after a challenge: a new CSeq
// and branch (§22.2).
func invite2() msg                 { m := invite(); m.seq, m.branch = 2, "z9hG4bK-3"; return m }
func resp2(code int) msg           { m := resp(code); m.seq, m.branch = 2, "z9hG4bK-3"; return m }
func tagged(m msg, tag string) msg { m.toTag = tag; return m }
func untagged(m msg) msg           { m.toTag = ""; return m }

// fromCallee turns an in-dialog request or its response into one the
// callee sent: its tag in From, the caller's in To.
func fromCallee(m msg) msg { m.from, m.toTag = m.toTag, "from1"; return m }

func notify() msg {
	return msg{method: "NOTIFY", callID: "c1", branch: "z9hG4bK-n", toTag: "b", event: "refer"}
}
func notifyResp(code int) msg {
	return msg{status: code, cseq: "NOTIFY", callID: "c1", branch: "z9hG4bK-n", toTag: "b"}
}

func cancel() msg { m := invite(); m.method = "CANCEL"; return m }
func cancelResp() msg {
	return msg{status: 200, cseq: "CANCEL", callID: "c1", branch: "z9hG4bK-1", toTag: "p"}
}

func TestTrackerTransitions(t *testing.T) {
	tests := []struct {
		name     string
		steps    []step
		state    CallState // "" means no call tracked
		status   int
		reason   string
		changes  int    // messages that changed the call
		branches string // "tag:state:status" each, when not ""
	}{
		{"INVITE starts a call", []step{in(invite())}, CallTrying, 0, "", 1, ""},
		{"forwarded copy is the same call", []step{in(invite()), out(invite())}, CallTrying, 0, "", 1, ""},
		{"retransmission is the same call", []step{in(invite()), in(invite())}, CallTrying, 0, "", 1, ""},
		{"100 changes nothing", []step{in(invite()), out(untagged(resp(100)))}, CallTrying, 0, "", 1, ""},
		{"180 rings", []step{in(invite()), out(untagged(resp(100))), in(resp(180)), out(resp(180))}, CallRinging, 0, "", 2,
			"b:early:180"},
		{"received 180 alone is not relayed yet", []step{in(invite()), in(resp(180))}, CallTrying, 0, "", 1, ""},
		{"200 establishes", []step{in(invite()), out(resp(180)), out(resp(200))}, CallEstablished, 200, "", 3,
			"b:confirmed:200"},
		{"200 without ringing", []step{in(invite()), out(resp(200))}, CallEstablished, 200, "", 2, "b:confirmed:200"},
		{"2xx retransmission changes nothing", []step{in(invite()), out(resp(200)), out(resp(200))}, CallEstablished, 200, "", 2, ""},
		{"BYE answered ends", []step{in(invite()), out(resp(200)), in(bye()), out(bye()), in(byeResp(200)), out(byeResp(200))},
			CallEnded, 200, "hung up", 3, "b:terminated:200"},
		{"callee's BYE ends", []step{in(invite()), out(resp(200)), in(fromCallee(bye())), out(fromCallee(byeResp(200)))},
			CallEnded, 200, "hung up", 3, ""},
		{"BYE unanswered keeps it up", []step{in(invite()), out(resp(200)), in(bye()), out(bye())}, CallEstablished, 200, "", 2, ""},
		{"BYE answered 481 ends too", []step{in(invite()), out(resp(200)), in(bye()), out(byeResp(481))}, CallEnded, 200, "hung up", 3, ""},
		{"re-INVITE answered 481 ends the dialog", []step{in(invite()), out(resp(200)), in(reinvite()), out(tagged(resp2(481), "b"))},
			CallEnded, 200, "INVITE answered 481", 3, ""},
		{"busy ends", []step{in(invite()), out(resp(180)), out(resp(486))}, CallEnded, 486, "Busy Here", 3, "b:terminated:486"},
		{"rejected at once", []step{in(invite()), out(untagged(resp(100))), out(resp(486))}, CallEnded, 486, "Busy Here", 2, ""},
		{"404 from Parley ends", []step{in(invite()), out(resp(404))}, CallEnded, 404, "Not Found", 2, ""},
		{"cancelled", []step{in(invite()), out(resp(180)), in(cancel()), out(cancelResp()), out(resp(487))},
			CallEnded, 487, "Request Terminated", 3, "b:terminated:487"},
		{"absorbed branch failure does not end", []step{in(invite()), in(resp(486))}, CallTrying, 0, "", 1, ""},
		{"failed re-INVITE keeps the call", []step{in(invite()), out(resp(200)), in(reinvite()), out(resp2(491))}, CallEstablished, 200, "", 2, ""},
		{"in-dialog INVITE starts nothing", []step{in(reinvite())}, "", 0, "", 0, ""},
		{"sent INVITE starts nothing", []step{out(invite())}, "", 0, "", 0, ""},
		{"INVITE after the end is not a new call", []step{in(invite()), out(resp(486)), in(invite())}, CallEnded, 486, "Busy Here", 2, ""},
		{"another call is separate", []step{in(invite()), out(otherCall(resp(200)))}, CallTrying, 0, "", 1, ""},
		{"response for unknown call", []step{out(resp(200))}, "", 0, "", 0, ""},
		{"a challenge does not end the call", []step{in(invite()), out(tagged(resp(407), "p"))}, CallTrying, 0, "", 1, ""},
		{"challenged, then answered, is one call", []step{in(invite()), out(tagged(resp(407), "p")), in(invite2()),
			out(untagged(resp2(100))), out(resp2(180)), out(resp2(200))}, CallEstablished, 200, "", 3, "b:confirmed:200"},
		{"challenged, then busy", []step{in(invite()), out(tagged(resp(407), "p")), in(invite2()), out(resp2(486))},
			CallEnded, 486, "Busy Here", 2, ""},
		{"forked: two phones ring, one answers", []step{in(invite()), out(tagged(resp(180), "b1")), out(tagged(resp(180), "b2")),
			out(tagged(resp(200), "b2"))}, CallEstablished, 200, "", 4, "b1:terminated:180 b2:confirmed:200"},
		{"forked: the answering phone hangs up", []step{in(invite()), out(tagged(resp(180), "b1")), out(tagged(resp(183), "b2")),
			out(tagged(resp(200), "b2")), in(tagged(bye(), "b2")), out(tagged(byeResp(200), "b2"))},
			CallEnded, 200, "hung up", 5, "b1:terminated:180 b2:terminated:200"},
		{"forked: all fail", []step{in(invite()), out(tagged(resp(180), "b1")), out(tagged(resp(180), "b2")),
			out(tagged(resp(480), "b3"))}, CallEnded, 480, "Whatever", 4, "b1:terminated:480 b2:terminated:480"},
		// A subscription sharing the dialog (a REFER's NOTIFYs) does
		// not keep the call up past its BYE: the old tracker, running
		// RFC 5057's usages, ended it only at the last NOTIFY's answer.
		{"a transfer's NOTIFY does not keep the call up", []step{in(invite()), out(resp(200)), in(fromCallee(notify())),
			out(fromCallee(notifyResp(200))), in(bye()), out(byeResp(200))}, CallEnded, 200, "hung up", 3, ""},
		{"BYE to the branch that did not answer changes nothing", []step{in(invite()), out(tagged(resp(180), "b1")),
			out(tagged(resp(200), "b2")), in(tagged(bye(), "b1")), out(tagged(byeResp(200), "b1"))}, CallEstablished, 200, "", 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker(0)
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			changes := 0
			for i, s := range tt.steps {
				text := s.m.text()
				m := Message{Dir: s.dir, Time: now.Add(time.Duration(i) * time.Second), Peer: alice, Text: text, Summary: Scan(text)}
				if len(tr.observe(&m)) > 0 {
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
			if tt.branches != "" && branchesOf(got) != tt.branches {
				t.Errorf("branches %q, want %q", branchesOf(got), tt.branches)
			}
			if (got.State == CallEnded) != (len(recent) == 1 && len(active) == 0) {
				t.Errorf("active %d recent %d for state %s", len(active), len(recent), got.State)
			}
			if got.State == CallEnded && (len(tr.active) != 0 || len(tr.callIDs) != 0) {
				t.Errorf("%d calls, %d Call-IDs left after the call ended", len(tr.active), len(tr.callIDs))
			}
		})
	}
}

func branchesOf(c *Call) string {
	var parts []string
	for _, b := range c.Branches {
		parts = append(parts, fmt.Sprintf("%s:%s:%d", b.Tag, b.State, b.Status))
	}
	return strings.Join(parts, " ")
}

// feedSteps gives the tracker steps one second apart from t0.
func feedSteps(tr *tracker, t0 time.Time, gap time.Duration, steps ...step) []notice {
	var all []notice
	for i, s := range steps {
		text := s.m.text()
		all = append(all, tr.observe(&Message{Dir: s.dir, Time: t0.Add(time.Duration(i) * gap), Peer: alice, Text: text, Summary: Scan(text)})...)
	}
	return all
}

func TestTrackerCallDetails(t *testing.T) {
	tr := newTracker(0)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	feedSteps(tr, t0, 10*time.Second, in(invite()), out(resp(180)), out(resp(200)), in(bye()), out(byeResp(200)))
	_, recent := tr.snapshot()
	c := recent[0]
	want := Call{CallID: "c1", Caller: `"Alice" <sip:alice@example.com>`, Callee: "<sip:bob@example.com>",
		CallerTag: "from1", CallerTarget: "sip:alice@192.0.2.10:5060", CalleeTarget: "sip:bob-b@192.0.2.20:5060",
		RequestURI: "sip:bob@example.com", Source: alice.String(), State: CallEnded, Status: 200, Reason: "hung up",
		Start: t0, Ringing: t0.Add(10 * time.Second), Answered: t0.Add(20 * time.Second), End: t0.Add(30 * time.Second), // the BYE
		HungUpBy: cdr.Caller, Branches: []Branch{{Tag: "b", State: "terminated", Status: 200}}}
	if !reflect.DeepEqual(c, want) {
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

// TestTrackerEndsAtBye: a call ends when its BYE is sent, however late
// the BYE's answer: a far end that is gone (a dead cluster node, a phone
// without power) answers nothing, and the 408 comes after Timer F's 32 s,
// which are no talk time.
func TestTrackerEndsAtBye(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		final msg
	}{
		{"answered at once", byeResp(200)},
		{"timed out", byeResp(408)},
		{"callee's BYE timed out", fromCallee(byeResp(408))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker(0)
			b := bye()
			if tt.final.from != "" {
				b = fromCallee(b)
			}
			feedSteps(tr, t0, 10*time.Second, in(invite()), out(resp(200)), in(b))
			tr.observe(&Message{Dir: Sent, Time: t0.Add(52 * time.Second), Peer: alice, Text: tt.final.text(), Summary: Scan(tt.final.text())})
			_, recent := tr.snapshot()
			if len(recent) != 1 || !recent[0].End.Equal(t0.Add(20*time.Second)) {
				t.Fatalf("ended calls %+v, want one that ended at its BYE, %v", recent, t0.Add(20*time.Second))
			}
		})
	}
}

// TestTrackerHungUpBy: who ended each kind of call, as the call detail
// record keeps it.
func TestTrackerHungUpBy(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		steps []step
		want  cdr.Party
	}{
		{"caller's BYE", []step{in(invite()), out(resp(200)), in(bye()), out(byeResp(200))}, cdr.Caller},
		{"callee's BYE", []step{in(invite()), out(resp(200)), in(fromCallee(bye())), out(fromCallee(byeResp(200)))}, cdr.Callee},
		{"the first BYE counts", []step{in(invite()), out(resp(200)), in(fromCallee(bye())), in(bye()), out(byeResp(200))}, cdr.Callee},
		{"cancelled", []step{in(invite()), out(resp(180)), in(cancel()), out(cancelResp()), out(resp(487))}, cdr.Caller},
		{"487 without a CANCEL", []step{in(invite()), out(resp(180)), out(resp(487))}, cdr.System},
		{"busy", []step{in(invite()), out(resp(486))}, cdr.Callee},
		{"timed out", []step{in(invite()), out(resp(408))}, cdr.System},
		{"server error", []step{in(invite()), out(resp(503))}, cdr.System},
		{"re-INVITE answered 481", []step{in(invite()), out(resp(200)), in(reinvite()), out(tagged(resp2(481), "b"))}, cdr.System},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker(0)
			feedSteps(tr, t0, time.Second, tt.steps...)
			_, recent := tr.snapshot()
			if len(recent) != 1 || recent[0].HungUpBy != tt.want {
				t.Errorf("ended calls %+v, want one hung up by %s", recent, tt.want)
			}
		})
	}
}

// TestTrackerChanges: the start, first ring, answer and end of a call,
// each once, for the call log and busy lamps (Config.OnCall), even when
// the INVITE was challenged.
func TestTrackerChanges(t *testing.T) {
	tr := newTracker(0)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var got []string
	for _, n := range feedSteps(tr, t0, time.Second, in(invite()), out(tagged(resp(407), "p")), in(invite2()),
		out(resp2(180)), out(resp2(200)), in(bye()), out(byeResp(200))) {
		if n.change != 0 {
			got = append(got, fmt.Sprintf("%d %s %d %v", n.change, n.call.State, n.call.Status, n.call.Duration(t0.Add(time.Hour))))
		}
	}
	want := []string{"1 trying 0 1h0m0s", "4 ringing 0 1h0m0s", "2 established 200 59m56s", "3 ended 200 1s"} // talk: answer to BYE
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("changes %q, want %q", got, want)
	}
}

// TestTrackerChallengeGivenUp: a challenged INVITE that is not sent again
// ends the call with the challenge's status, at the challenge's time,
// once challengeWait has passed.
func TestTrackerChallengeGivenUp(t *testing.T) {
	tr := newTracker(0)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	feedSteps(tr, t0, time.Second, in(invite()), out(tagged(resp(407), "p")))
	if n := tr.sweep(t0.Add(challengeWait)); len(n) != 0 {
		t.Fatalf("ended before the wait: %+v", n)
	}
	n := tr.sweep(t0.Add(time.Second + challengeWait + time.Millisecond))
	if len(n) != 1 || n[0].change != CallFinished {
		t.Fatalf("sweep %+v", n)
	}
	c := n[0].call
	if c.Status != 407 || c.Reason != "Proxy Authentication Required" || !c.End.Equal(t0.Add(time.Second)) {
		t.Errorf("call %+v", c)
	}
}

// TestTrackerMaxCallAge: an answered call whose BYE never came ends
// after maxCallAge, hung up by the system, and no sooner.
func TestTrackerMaxCallAge(t *testing.T) {
	tr := newTracker(0)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	feedSteps(tr, t0, time.Second, in(invite()), out(resp(200)))
	if n := tr.sweep(t0.Add(time.Second + maxCallAge)); len(n) != 0 {
		t.Fatalf("ended at maxCallAge: %+v", n)
	}
	n := tr.sweep(t0.Add(2*time.Second + maxCallAge))
	if len(n) != 1 || n[0].change != CallFinished || n[0].call.HungUpBy != cdr.System || n[0].call.Reason != "no BYE within 12h" {
		t.Fatalf("sweep %+v", n)
	}
}

// TestTrackerDisown: a call its owner takes (a B2BUA's A leg) leaves the
// tracker without a notice, a retransmission of its INVITE does not bring
// it back, the owner's steps are announced as given and its end joins the
// recent calls; other calls stay.
func TestTrackerDisown(t *testing.T) {
	tr := newTracker(0)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	feedSteps(tr, t0, time.Second, in(invite()), in(otherCall(invite())))
	if n := tr.owned(&ownedStep{callID: "c1"}); len(n) != 0 {
		t.Fatalf("disown announced %+v", n)
	}
	if n := feedSteps(tr, t0, time.Second, in(invite()), out(resp(180))); len(n) != 0 {
		t.Fatalf("a disowned call's INVITE again: %+v", n)
	}
	if active, _ := tr.snapshot(); len(active) != 1 || active[0].CallID != "c2" {
		t.Fatalf("active after disown: %+v", active)
	}
	end := Call{CallID: "c1", State: CallEnded, HungUpBy: cdr.Callee, End: t0.Add(time.Minute)}
	n := tr.owned(&ownedStep{callID: "c1", change: CallFinished, c: end})
	if len(n) != 1 || n[0].change != CallFinished || n[0].call.HungUpBy != cdr.Callee {
		t.Fatalf("report %+v", n)
	}
	if _, recent := tr.snapshot(); len(recent) != 1 || recent[0].CallID != "c1" {
		t.Errorf("recent after the owner's end: %+v", recent)
	}
}

// TestTrackerDisownBound: the tracker remembers maxDisowned Call-IDs, the
// latest.
func TestTrackerDisownBound(t *testing.T) {
	tr := newTracker(0)
	for i := range maxDisowned + 10 {
		tr.owned(&ownedStep{callID: "c" + strconv.Itoa(i)})
	}
	if len(tr.disowned) != maxDisowned || len(tr.gone) != maxDisowned || tr.disowned["c9"] || !tr.disowned["c10"] {
		t.Errorf("%d disowned, %d in order; c9 %v, c10 %v", len(tr.disowned), len(tr.gone), tr.disowned["c9"], tr.disowned["c10"])
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
	active, recent := tr.snapshot()
	if len(active) != 3 || active[0].CallID != "b" || active[2].CallID != "d" {
		t.Errorf("active %+v, want b c d (a evicted)", active)
	}
	if len(recent) != 1 || recent[0].CallID != "a" || recent[0].Reason != "no longer followed: too many calls" || recent[0].HungUpBy != cdr.System {
		t.Errorf("recent %+v, want a ended, so that its record is written", recent)
	}

	// Calls stuck in setup end after setupTimeout; recent calls go after recentAge.
	ended := tr.sweep(t0.Add(setupTimeout + 2500*time.Millisecond))
	if len(ended) != 2 || ended[0].call.CallID != "b" || ended[0].call.Reason != "no final response" {
		t.Errorf("swept %+v, want b and c", ended)
	}
	if setup, _ := tr.count(); setup != 1 {
		t.Errorf("%d in setup after sweep, want 1", setup)
	}
	tr.sweep(t0.Add(setupTimeout + recentAge + 3*time.Second))
	active, recent = tr.snapshot()
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
	if _, recent := tr.snapshot(); len(recent) != maxRecent || recent[0].CallID != "Wh" || recent[maxRecent-1].CallID != "Fa" {
		t.Errorf("%d recent calls, newest %s, oldest %s; want the bound %d, Wh to Fa",
			len(recent), recent[0].CallID, recent[len(recent)-1].CallID, maxRecent)
	}
	if ids := tr.recent.ids; len(ids) != maxRecent || ids["Ea"] != 0 || ids["Fa"] != 1 {
		t.Errorf("%d recent Call-IDs, Ea %d, Fa %d; want %d, 0, 1", len(ids), ids["Ea"], ids["Fa"], maxRecent)
	}
	// An INVITE of a call that ended and is still listed is a late
	// retransmission: it starts nothing. One pushed out of the list
	// starts a call again.
	start("Fa", t0)
	if setup, _ := tr.count(); setup != 0 {
		t.Errorf("a recently ended call's INVITE started %d calls", setup)
	}
	start("Ea", t0)
	if setup, _ := tr.count(); setup != 1 {
		t.Errorf("%d calls in setup after an INVITE of a call no longer listed, want 1", setup)
	}
	if len(tr.active) != 1 || tr.order.Len() != 1 {
		t.Errorf("%d calls, %d in order; want the one started", len(tr.active), tr.order.Len())
	}
}

// TestTrackerSummaryOnly: the tracker follows a call from the messages'
// summaries alone, as Capture queues them when only calls are followed
// (CallsOnly): no text, the summary's strings a compact copy. The old
// tracker parsed the text again and followed nothing without it.
func TestTrackerSummaryOnly(t *testing.T) {
	tr := newTracker(0)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	forwarded := invite()
	forwarded.branch = "z9hG4bK-out"
	steps := []step{in(invite()), out(untagged(resp(100))), out(forwarded), out(resp(180)), out(resp(200)),
		in(msg{method: "ACK", callID: "c1", branch: "z9hG4bK-ack", toTag: "b"}), in(bye()), out(bye()), out(byeResp(200))}
	for i, s := range steps {
		tr.observe(&Message{Dir: s.dir, Time: t0.Add(time.Duration(i) * time.Second), Peer: alice, Summary: Scan(s.m.text()).compact()})
	}
	_, recent := tr.snapshot()
	want := Call{CallID: "c1", Caller: `"Alice" <sip:alice@example.com>`, Callee: "<sip:bob@example.com>",
		CallerTag: "from1", CallerTarget: "sip:alice@192.0.2.10:5060", CalleeTarget: "sip:bob-b@192.0.2.20:5060",
		RequestURI: "sip:bob@example.com", Source: alice.String(), State: CallEnded, Status: 200, Reason: "hung up",
		Start: t0, Ringing: t0.Add(3 * time.Second), Answered: t0.Add(4 * time.Second), End: t0.Add(6 * time.Second),
		HungUpBy: cdr.Caller, Relayed: true, Branches: []Branch{{Tag: "b", State: "terminated", Status: 200}}}
	if len(recent) != 1 || !reflect.DeepEqual(recent[0], want) {
		t.Errorf("ended calls %+v\nwant one: %+v", recent, want)
	}
}

// TestRefusedByPolicy: a call Parley turned away itself before relaying
// it (a challenge never answered, a 403) is an attempt, which gets no call
// detail record; once its INVITE was forwarded, any outcome is a call.
func TestRefusedByPolicy(t *testing.T) {
	tests := []struct {
		name    string
		steps   []step
		relayed bool
		refused bool
	}{
		{"challenge never answered", []step{in(invite()), out(tagged(resp(407), "p"))}, false, true},
		{"relaying denied", []step{in(invite()), out(tagged(resp(403), "p"))}, false, true},
		{"unknown user", []step{in(invite()), out(resp(404))}, false, false},
		{"relayed, then refused by the callee", []step{in(invite()), out(invite()), out(resp(403))}, true, false},
		{"challenged, then relayed and answered", []step{in(invite()), out(tagged(resp(407), "p")), in(invite2()),
			out(invite2()), out(resp2(200))}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker(0)
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, s := range tt.steps {
				text := s.m.text()
				m := Message{Dir: s.dir, Time: now.Add(time.Duration(i) * time.Second), Peer: alice, Text: text, Summary: Scan(text)}
				tr.observe(&m)
			}
			tr.sweep(now.Add(time.Minute + challengeWait)) // a challenge never answered ends here
			active, recent := tr.snapshot()
			calls := append(active, recent...)
			if len(calls) != 1 || calls[0].State == CallTrying {
				t.Fatalf("tracked %+v, want one call past its setup", calls)
			}
			c := calls[0]
			if c.Relayed != tt.relayed || c.RefusedByPolicy() != tt.refused {
				t.Errorf("relayed %v, refused by policy %v; want %v, %v", c.Relayed, c.RefusedByPolicy(), tt.relayed, tt.refused)
			}
		})
	}
}

// TestTrackerTargets: the callee's target follows the latest early
// dialog until one answers, and then stays the answering phone's, as a
// busy lamp must show it.
func TestTrackerTargets(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		steps []step
		want  string
	}{
		{"ringing", []step{in(invite()), out(tagged(resp(180), "b1"))}, "sip:bob-b1@192.0.2.20:5060"},
		{"second fork rings", []step{in(invite()), out(tagged(resp(180), "b1")), out(tagged(resp(183), "b2"))}, "sip:bob-b2@192.0.2.20:5060"},
		{"first fork answers", []step{in(invite()), out(tagged(resp(180), "b1")), out(tagged(resp(183), "b2")),
			out(tagged(resp(200), "b1"))}, "sip:bob-b1@192.0.2.20:5060"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker(0)
			feedSteps(tr, t0, time.Second, tt.steps...)
			active, _ := tr.snapshot()
			if len(active) != 1 || active[0].CallerTarget != "sip:alice@192.0.2.10:5060" || active[0].CalleeTarget != tt.want {
				t.Errorf("calls %+v, want the callee's target %s", active, tt.want)
			}
		})
	}
}

// The tracker parses every call message but a call's first INVITE into
// one reused Message. Two calls interleaved: if anything kept from one
// message (a dialog's identity, tags, targets) pointed into that
// Message, the next parse would change it and the first call's BYE would
// no longer find its dialog.
func TestTrackerReusedMessageKeepsNothing(t *testing.T) {
	tr := newTracker(0)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	second := func(m msg) msg { m.callID, m.from = "c2", "from2"; return m }
	feedSteps(tr, t0, time.Second,
		in(invite()), in(second(invite())),
		out(resp(200)), out(tagged(second(resp(200)), "b2")),
		in(bye()), out(byeResp(200)))
	active, recent := tr.snapshot()
	if len(active) != 1 || active[0].CallID != "c2" || active[0].State != CallEstablished {
		t.Fatalf("active calls %+v, want c2 established", active)
	}
	if len(recent) != 1 || recent[0].CallID != "c1" || recent[0].HungUpBy != cdr.Caller ||
		recent[0].Caller != `"Alice" <sip:alice@example.com>` {
		t.Fatalf("ended calls %+v, want c1 hung up by its caller", recent)
	}
}

// TestTrackerAllocations: following a whole proxied call costs the
// tracker a bounded number of allocations: the call, its list element,
// one copy of what it keeps of the INVITE, its leg, the notices' copies
// of the call and its place among the ended calls. The old tracker, which
// parsed five of the call's messages and ran package dialog, made 36.
func TestTrackerAllocations(t *testing.T) {
	ladder := callLadder()
	msgs := make([]Message, len(ladder))
	for i, data := range ladder {
		msgs[i] = Message{Dir: ladderDirs[i], Peer: alice, Summary: Scan(string(data)).compact()}
	}
	tr := newTracker(0)
	n := 0
	allocs := testing.AllocsPerRun(200, func() {
		n++
		id := "call-" + strconv.Itoa(n) // a fresh call each run
		for i := range msgs {
			m := msgs[i]
			m.CallID = id
			tr.observe(&m)
		}
	})
	if active, _ := tr.snapshot(); len(active) != 0 {
		t.Fatalf("%d calls left active: the ladder did not end its call", len(active))
	}
	if allocs > 17 { // 16, and the Call-ID the test makes
		t.Errorf("%.0f allocations per call, want at most 17", allocs)
	}
}
