package observe

import (
	"reflect"
	"strconv"
	"testing"
	"time"
)

func TestSubscribe(t *testing.T) {
	clk := newClock()
	o := New(Config{CaptureMessages: 10, CaptureBytes: 1 << 20, Now: clk.Now})
	o.Start()
	defer o.Close()
	events, cancel := o.Subscribe(16)
	o.Capture(Received, "udp", parley, alice, []byte(invite().text()))
	o.Flush()

	e := <-events
	if e.Kind != EventMessage || e.Message.Seq != 1 || e.Message.FirstLine != "INVITE sip:bob@example.com SIP/2.0" ||
		e.Message.Src != alice.String() || e.Message.Dst != parley.String() || e.Message.Direction != "received" || e.Message.CallID != "c1" {
		t.Errorf("first event %+v %+v", e, e.Message)
	}
	e = <-events
	if e.Kind != EventCall || e.Call.CallID != "c1" || e.Call.State != CallTrying {
		t.Errorf("second event %+v", e)
	}
	cancel()
	cancel() // a second cancel is harmless
	if _, open := <-events; open {
		t.Error("channel still open after cancel")
	}
}

// TestSlowSubscriber: a subscriber that does not read loses events, is
// told to resync once it reads again, and never blocks capture.
func TestSlowSubscriber(t *testing.T) {
	o := New(Config{CaptureMessages: 10, CaptureBytes: 1 << 20})
	o.Start()
	defer o.Close()
	events, cancel := o.Subscribe(2)
	defer cancel()
	for range 5 {
		o.Capture(Received, "udp", parley, alice, []byte(msg{method: "OPTIONS", callID: "x"}.text()))
	}
	o.Flush()
	<-events
	<-events // the buffer is free again
	o.Capture(Received, "udp", parley, alice, []byte(msg{method: "OPTIONS", callID: "x"}.text()))
	o.Flush()
	if e := <-events; e.Kind != EventResync {
		t.Errorf("got %s, want resync", e.Kind)
	}
	if e := <-events; e.Kind != EventMessage || e.Message.Seq != 6 {
		t.Errorf("got %+v, want message 6", e)
	}
}

// TestQueueFull: without a worker the queue fills; further messages are
// still counted and kept in the ring, and the loss is counted.
func TestQueueFull(t *testing.T) {
	o := New(Config{CaptureMessages: 10, CaptureBytes: 1 << 20, QueueSize: 2})
	for range 5 {
		o.Capture(Received, "udp", parley, alice, []byte(invite().text()))
	}
	st := o.Stats()
	if st.Dropped != 3 || st.Held != 5 || st.Captured != 5 {
		t.Errorf("stats %+v, want 3 dropped, 5 held", st)
	}
	o.Start()
	o.Flush()
	if active, _ := o.Calls(); len(active) != 1 {
		t.Errorf("%d calls, want 1 from the queued INVITEs", len(active))
	}
	o.Close()
	o.Close()
	o.Flush() // returns at once after Close
}

func TestCaptureDisabled(t *testing.T) {
	o := New(Config{CaptureMessages: 100, CaptureBytes: 0})
	o.Start()
	defer o.Close()
	o.Capture(Received, "udp", parley, alice, []byte(invite().text()))
	o.Flush()
	if ms := o.Messages(0, 0); len(ms) != 0 {
		t.Errorf("%d messages held with capture_bytes 0", len(ms))
	}
	if active, _ := o.Calls(); len(active) != 1 {
		t.Error("calls must be tracked even without the ring")
	}
}

func TestExportAndCallMessages(t *testing.T) {
	var exported []uint64
	clk := newClock()
	o := New(Config{CaptureMessages: 100, CaptureBytes: 1 << 20, Now: clk.Now,
		Export: func(m *Message) { exported = append(exported, m.Seq) }})
	o.Start()
	feed(o, clk)
	o.Close() // handles everything queued first
	if len(exported) != 12 || exported[0] != 1 || exported[11] != 12 {
		t.Errorf("exported %v, want 1..12 in order", exported)
	}
	ladder := o.CallMessages("c1")
	if len(ladder) != 11 || ladder[0].Method != "INVITE" || ladder[10].CSeqMethod != "BYE" {
		t.Errorf("ladder of %d messages", len(ladder))
	}
	if ladder[3].Time.Sub(ladder[2].Time) != 30*time.Millisecond {
		t.Errorf("times not from the clock: %v %v", ladder[2].Time, ladder[3].Time)
	}
}

func TestCloseWithoutStart(t *testing.T) {
	o := New(Config{})
	o.Flush() // returns: no worker
	done := make(chan struct{})
	go func() { o.Close(); o.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close without Start hangs")
	}
	o.Start() // after Close: no worker starts, nothing hangs
	o.Flush()
}

// ownedCalls is a fake Config.Owned.
type ownedCalls []Call

func (o ownedCalls) Calls() []Call { return o }
func (o ownedCalls) Count() (setup, answered int) {
	for _, c := range o {
		if c.State == CallEstablished {
			answered++
		} else {
			setup++
		}
	}
	return setup, answered
}

// TestOwnedCalls: an owner's calls are listed and counted with the
// tracked ones, oldest first; a call it disowns leaves the tracker; its
// reported steps reach OnCall in order with the captured messages.
func TestOwnedCalls(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	owned := ownedCalls{{CallID: "b1", State: CallEstablished, Start: t0}}
	var got []string
	o := New(Config{Owned: owned, Now: func() time.Time { return t0.Add(time.Second) },
		OnCall: func(ch CallChange, c Call) { got = append(got, strconv.Itoa(int(ch))+" "+c.CallID) }})
	o.Start()
	o.Capture(Received, "udp", parley, alice, []byte(invite().text()))
	o.Capture(Received, "udp", parley, alice, []byte(otherCall(invite()).text()))
	o.Disown("c2")
	o.Report(CallFinished, Call{CallID: "c2", State: CallEnded})
	o.Flush()
	active, recent := o.Calls()
	if len(active) != 2 || active[0].CallID != "b1" || active[1].CallID != "c1" {
		t.Errorf("active %+v, want b1 then c1", active)
	}
	if len(recent) != 1 || recent[0].CallID != "c2" {
		t.Errorf("recent %+v, want c2", recent)
	}
	if st := o.Stats(); st.ActiveCalls != 1 || st.SetupCalls != 1 {
		t.Errorf("stats: %d active, %d setting up; want 1 and 1", st.ActiveCalls, st.SetupCalls)
	}
	o.Close()
	if want := []string{"1 c1", "1 c2", "3 c2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("OnCall %v, want %v", got, want)
	}
}

// TestWakesWithoutFlush checks that the worker, which is not woken per
// message, still takes what is captured while it waits, each time it has
// gone idle again. The wait stays under the 5 s sweep, which would wake
// the worker anyway and hide a lost wake-up.
func TestWakesWithoutFlush(t *testing.T) {
	started := make(chan string, 4)
	o := New(Config{OnCall: func(change CallChange, c Call) {
		if change == CallStarted {
			started <- c.CallID
		}
	}})
	o.Start()
	defer o.Close()
	for _, id := range []string{"c1", "c2", "c3"} {
		m := invite()
		m.callID = id
		o.Capture(Received, "udp", parley, alice, []byte(m.text()))
		select {
		case got := <-started:
			if got != id {
				t.Fatalf("call %s started, want %s", got, id)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("call %s: the worker never took the captured INVITE", id)
		}
	}
}
