package server

import (
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/observe"
	"github.com/parley-sip/parley/presence/busylamp"
	"github.com/parley-sip/parley/presence/dialoginfo"
)

// TestLampEvent maps each step of a proxied call, as the observer reports
// it, to what busy lamps are told.
func TestLampEvent(t *testing.T) {
	call := observe.Call{CallID: "c1", Caller: `"Alice" <sip:alice@example.com>;tag=a1`, Callee: "<sip:bob@example.com>",
		CallerTag: "a1", CallerTarget: "sip:alice@192.0.2.1", CalleeTarget: "sip:bob@192.0.2.2",
		Branches: []observe.Branch{{Tag: "b1", State: "early"}, {Tag: "b2", State: "early"}}}
	answered := call
	answered.Answered = time.Unix(10, 0)
	answered.Branches = []observe.Branch{{Tag: "b1", State: "confirmed"}, {Tag: "b2", State: "terminated"}}
	tests := []struct {
		name     string
		change   observe.CallChange
		call     observe.Call
		mutate   func(c *observe.Call)
		state    dialoginfo.State
		tag      string
		code     int
		hungUpBy busylamp.Side
	}{
		{"started", observe.CallStarted, call, nil, dialoginfo.Trying, "b2", 0, 0},
		{"rings", observe.CallAlerting, call, nil, dialoginfo.Early, "b2", 0, 0},
		{"answered by the first fork", observe.CallAnswered, answered, nil, dialoginfo.Confirmed, "b1", 0, 0},
		{"callee hung up", observe.CallFinished, answered, func(c *observe.Call) { c.Status, c.HungUpBy = 200, cdr.Callee },
			dialoginfo.Terminated, "b1", 0, busylamp.Callee},
		{"busy", observe.CallFinished, call, func(c *observe.Call) { c.Status, c.HungUpBy = 486, cdr.Callee },
			dialoginfo.Terminated, "b2", 486, busylamp.Callee},
		{"cancelled", observe.CallFinished, call, func(c *observe.Call) { c.Status, c.HungUpBy = 487, cdr.Caller },
			dialoginfo.Terminated, "b2", 487, busylamp.Caller},
		{"timed out by the system", observe.CallFinished, call, func(c *observe.Call) { c.Status, c.HungUpBy = 408, cdr.System },
			dialoginfo.Terminated, "b2", 408, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.call
			if tt.mutate != nil {
				tt.mutate(&c)
			}
			ev, ok := lampEvent(tt.change, &c)
			if !ok {
				t.Fatal("not told")
			}
			want := busylamp.CallEvent{CallID: "c1", State: tt.state, Code: tt.code, HungUpBy: tt.hungUpBy,
				Caller: busylamp.Leg{Tag: "a1", Party: dialoginfo.Party{Identity: "sip:alice@example.com", Display: "Alice", Target: "sip:alice@192.0.2.1"}},
				Callee: busylamp.Leg{Tag: tt.tag, Party: dialoginfo.Party{Identity: "sip:bob@example.com", Target: "sip:bob@192.0.2.2"}}}
			if ev != want {
				t.Errorf("got  %+v\nwant %+v", ev, want)
			}
		})
	}
	if _, ok := lampEvent(0, &call); ok {
		t.Error("a change that is no step was told")
	}
}
