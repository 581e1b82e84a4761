package observe

import (
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
