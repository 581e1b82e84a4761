//go:build unix

package observe

import (
	"reflect"
	"testing"
	"time"
)

func TestMayChangeCall(t *testing.T) {
	const id = "c1@example.com"
	for _, tc := range []struct {
		name string
		dir  Direction
		m    msg
		want bool
	}{
		{"INVITE from the caller", Received, msg{method: "INVITE", callID: id}, true},
		{"forwarded INVITE", Sent, msg{method: "INVITE", callID: id}, true},
		{"re-INVITE from a party", Received, msg{method: "INVITE", callID: id, toTag: "t1"}, true},
		{"forwarded re-INVITE", Sent, msg{method: "INVITE", callID: id, toTag: "t1"}, false},
		{"CANCEL from the caller", Received, msg{method: "CANCEL", callID: id}, true},
		{"forwarded CANCEL", Sent, msg{method: "CANCEL", callID: id}, false},
		{"ACK in the dialog", Received, msg{method: "ACK", callID: id, toTag: "t1"}, false},
		{"BYE from a party", Received, msg{method: "BYE", callID: id, toTag: "t1"}, true},
		{"forwarded BYE", Sent, msg{method: "BYE", callID: id, toTag: "t1"}, false},
		{"REGISTER", Received, msg{method: "REGISTER", callID: id}, false},
		{"our 100 Trying", Sent, msg{status: 100, cseq: "INVITE", callID: id}, false},
		{"180 to the caller", Sent, msg{status: 180, cseq: "INVITE", callID: id}, true},
		{"486 to the caller, no tag", Sent, msg{status: 486, cseq: "INVITE", callID: id}, true},
		{"200 from the callee", Received, msg{status: 200, cseq: "INVITE", callID: id, toTag: "t1"}, false},
		{"200 for a BYE to a party", Sent, msg{status: 200, cseq: "BYE", callID: id, toTag: "t1"}, true},
		{"200 for a REGISTER, no tag", Sent, msg{status: 200, cseq: "REGISTER", callID: id}, false},
		{"no Call-ID", Received, msg{method: "INVITE"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Scan(tc.m.text())
			if got := mayChangeCall(tc.dir, &s); got != tc.want {
				t.Errorf("mayChangeCall = %v, want %v", got, tc.want)
			}
			// The first line's test runs before the scan: it may keep
			// what the scan then drops, never drop what it keeps.
			if tc.want && !mayChangeCallLine(tc.dir, s.Line) {
				t.Errorf("mayChangeCallLine(%q) drops what mayChangeCall keeps", s.Line)
			}
		})
	}
}

// TestMayChangeCallLine: of the 8 messages of a proxied call that
// cannot change it, the first line settles 7 before any header is
// scanned (all but the proxy's 100 Trying), and it keeps every one of the
// other 6.
func TestMayChangeCallLine(t *testing.T) {
	settled := 0
	for i, data := range callLadder() {
		text := string(data)
		s := Scan(text)
		line := mayChangeCallLine(ladderDirs[i], s.Line)
		if full := mayChangeCall(ladderDirs[i], &s); full && !line {
			t.Errorf("%s %q: the first line drops what can change the call", ladderDirs[i], s.Line)
		}
		if !line {
			settled++
		}
	}
	if settled != 7 {
		t.Errorf("the first line settled %d messages, want 7", settled)
	}
}

// TestCallsOnly: with CallsOnly, Capture keeps 6 of the 14 messages of a
// proxied call, and OnCall hears the same steps of the same calls as
// from an observer that keeps every message.
func TestCallsOnly(t *testing.T) {
	type step struct {
		change CallChange
		call   Call
	}
	run := func(callsOnly bool) ([]step, Stats) {
		clk := newClock()
		var got []step
		o := New(Config{Now: clk.Now, CallsOnly: callsOnly,
			OnCall: func(ch CallChange, c Call) { got = append(got, step{ch, c}) }})
		o.Start()
		defer o.Close()
		captureCalls(o, 3, func() { clk.Advance(time.Millisecond) })
		return got, o.Stats()
	}
	all, allStats := run(false)
	some, someStats := run(true)
	if len(all) != 12 {
		t.Fatalf("every message kept: %d steps, want 12 (3 calls started, alerting, answered, finished)", len(all))
	}
	if !reflect.DeepEqual(some, all) {
		t.Errorf("CallsOnly: steps\n%+v\nwant\n%+v", some, all)
	}
	if allStats.Captured != 3*14 || someStats.Captured != 3*6 {
		t.Errorf("captured %d and %d (CallsOnly), want %d and %d", allStats.Captured, someStats.Captured, 3*14, 3*6)
	}
}

// TestCallEventsKeepTheirCall: every call event of the live stream keeps
// the call as it was at that step, though the tracker reuses the memory
// of its notices from one message to the next.
func TestCallEventsKeepTheirCall(t *testing.T) {
	o := New(Config{Now: newClock().Now})
	events, cancel := o.Subscribe(1024)
	defer cancel()
	o.Start()
	defer o.Close()
	captureCalls(o, 2, func() {})
	var got []string
	for len(events) > 0 {
		e := <-events
		if e.Kind != EventCall {
			continue
		}
		// The call's last digit and state; a branch's change repeats them.
		s := e.Call.CallID[len(callIDPattern)-7:len(callIDPattern)-6] + " " + string(e.Call.State)
		if len(got) == 0 || got[len(got)-1] != s {
			got = append(got, s)
		}
	}
	var want []string
	for _, id := range []string{"0", "1"} {
		for _, st := range []CallState{CallTrying, CallRinging, CallEstablished, CallEnded} {
			want = append(want, id+" "+string(st))
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("call events %q, want %q", got, want)
	}
}

// captureCalls has o capture n calls of the call ladder, calling before
// ahead of each message, and waits for its worker to handle them.
func captureCalls(o *Observer, n int, before func()) {
	ladder := callLadder()
	for i := range n {
		for j, data := range ladder {
			setCallID(data, i)
			before()
			o.Capture(ladderDirs[j], "udp", parley, alice, data)
		}
	}
	o.Flush()
}
