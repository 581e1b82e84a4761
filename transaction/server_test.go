package transaction

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

var invite = rq{method: "INVITE"}

// TestServerInviteTrying checks the 100 Trying switch (§16.2, §17.2.1).
func TestServerInviteTrying(t *testing.T) {
	tests := []struct {
		name      string
		delay     time.Duration
		answerAt  time.Duration // when the Core sends 180; 0 means never
		wantTimes []time.Duration
	}{
		{"immediate", 0, 0, secs(0)},
		{"delayed, Core silent", 200 * time.Millisecond, 0, secs(0.2)},
		{"delayed, Core answered first", 200 * time.Millisecond, 100 * time.Millisecond, nil},
		{"never", -1, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{TryingDelay: tt.delay})
			h.l.HandleMessage(invite.in(t))
			if tt.answerAt > 0 {
				h.advanceTo(tt.answerAt)
				respond(t, h.core.tx(0), 180, "uas")
			}
			h.advanceTo(time.Second)
			if got := h.snd.times(status(100)); !equalDurations(got, tt.wantTimes) {
				t.Fatalf("100 Trying sent at %v, want %v", got, tt.wantTimes)
			}
		})
	}
}

// TestServerInviteProceeding: a retransmitted INVITE gets the latest
// provisional response again (§17.2.1) and is not handed to the Core.
func TestServerInviteProceeding(t *testing.T) {
	h := newHarness(t, Config{})
	h.l.HandleMessage(invite.in(t))
	h.l.HandleMessage(invite.in(t))
	if n := h.snd.count(status(100)); n != 2 {
		t.Fatalf("100 sent %d times, want 2", n)
	}
	tx := h.core.tx(0)
	respond(t, tx, 180, "uas")
	h.l.HandleMessage(invite.in(t))
	if n := h.snd.count(status(180)); n != 2 {
		t.Fatalf("180 sent %d times, want 2", n)
	}
	if r, _, _ := h.core.counts(); r != 1 {
		t.Fatalf("Core saw %d requests, want 1", r)
	}
	if tx.State() != Proceeding || tx.Method() != "INVITE" || tx.Branch() != "z9hG4bK-test" {
		t.Fatalf("state %v method %q branch %q", tx.State(), tx.Method(), tx.Branch())
	}
	// The response goes where §18.2.2 says: the Via's sent-by on UDP.
	if dst := h.snd.all()[0].dst; dst.Addr != uacAddr || dst.Proto != transport.UDP {
		t.Fatalf("sent to %v", dst)
	}
}

// TestServerInviteTimerG: a non-2xx final response is retransmitted at
// T1, 2T1, 4T1… capped at T2 until Timer H (§17.2.1); UDP only.
func TestServerInviteTimerG(t *testing.T) {
	tests := []struct {
		proto transport.Proto
		want  []time.Duration
	}{
		{transport.UDP, secs(0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5)},
		{transport.TCP, secs(0)},
	}
	for _, tt := range tests {
		t.Run(string(tt.proto), func(t *testing.T) {
			h := newHarness(t, Config{})
			h.l.HandleMessage(invite.in(t, tt.proto))
			tx := h.core.tx(0)
			var failed atomic.Value
			tx.OnFailure(func(err error) { failed.Store(err) })
			respond(t, tx, 486, "uas")
			if tx.State() != Completed {
				t.Fatalf("state %v, want Completed", tx.State())
			}
			h.advanceTo(64*500*time.Millisecond - time.Millisecond)
			if failed.Load() != nil || tx.State() != Completed {
				t.Fatal("ended before Timer H")
			}
			h.advanceTo(40 * time.Second)
			if got := h.snd.times(status(486)); !equalDurations(got, tt.want) {
				t.Fatalf("486 sent at %v, want %v", got, tt.want)
			}
			if err, _ := failed.Load().(error); !errors.Is(err, ErrTimeout) {
				t.Fatalf("OnFailure got %v, want ErrTimeout", err)
			}
			if tx.State() != Terminated || h.l.Stats().ServerActive != 0 {
				t.Fatalf("state %v stats %+v", tx.State(), h.l.Stats())
			}
		})
	}
}

// TestServerInviteACK: the ACK for a non-2xx response stops Timer G and
// moves to Confirmed, where Timer I (T4 on UDP) absorbs further ACKs and
// INVITEs; on TCP Timer I is zero and the transaction ends at once
// (§17.2.1). The ACK never reaches the Core.
func TestServerInviteACK(t *testing.T) {
	tests := []struct {
		proto     transport.Proto
		wantState State
	}{
		{transport.UDP, Confirmed},
		{transport.TCP, Terminated},
	}
	for _, tt := range tests {
		t.Run(string(tt.proto), func(t *testing.T) {
			h := newHarness(t, Config{})
			h.l.HandleMessage(invite.in(t, tt.proto))
			tx := h.core.tx(0)
			tx.OnFailure(func(err error) { t.Errorf("OnFailure(%v) after ACK", err) })
			respond(t, tx, 404, "uas")
			h.advanceTo(2 * time.Second)
			sentBefore := h.snd.count(status(404))
			ack := rq{method: "ACK", toTag: "uas"}
			h.l.HandleMessage(ack.in(t, tt.proto))
			if tx.State() != tt.wantState {
				t.Fatalf("state %v after ACK, want %v", tx.State(), tt.wantState)
			}
			if tt.proto == transport.UDP {
				h.l.HandleMessage(ack.in(t, tt.proto))
				h.l.HandleMessage(invite.in(t, tt.proto))
				if r, acks, _ := h.core.counts(); r != 1 || acks != 0 {
					t.Fatalf("Core saw %d requests and %d ACKs, want 1 and 0", r, acks)
				}
			}
			h.advanceTo(40 * time.Second)
			if n := h.snd.count(status(404)); n != sentBefore {
				t.Fatalf("404 retransmitted after ACK: %d then %d", sentBefore, n)
			}
			if tx.State() != Terminated || h.l.Stats().ServerActive != 0 {
				t.Fatalf("state %v at the end", tx.State())
			}
		})
	}
}

// TestServerInviteTimerI checks when Timer I ends a Confirmed transaction.
func TestServerInviteTimerI(t *testing.T) {
	h := newHarness(t, Config{})
	h.l.HandleMessage(invite.in(t))
	tx := h.core.tx(0)
	respond(t, tx, 404, "uas")
	h.advanceTo(time.Second)
	h.l.HandleMessage(rq{method: "ACK", toTag: "uas"}.in(t))
	h.advanceTo(6*time.Second - time.Millisecond)
	if tx.State() != Confirmed {
		t.Fatalf("state %v before Timer I", tx.State())
	}
	h.advanceTo(6 * time.Second)
	if tx.State() != Terminated {
		t.Fatalf("state %v after Timer I", tx.State())
	}
}

// TestServerInviteCompletedRetransmission: an INVITE retransmitted in
// Completed gets the final response again.
func TestServerInviteCompletedRetransmission(t *testing.T) {
	h := newHarness(t, Config{})
	h.l.HandleMessage(invite.in(t))
	respond(t, h.core.tx(0), 603, "uas")
	h.advanceTo(100 * time.Millisecond)
	h.l.HandleMessage(invite.in(t))
	if got := h.snd.times(status(603)); !equalDurations(got, secs(0, 0.1)) {
		t.Fatalf("603 sent at %v", got)
	}
}

// TestServerInviteAccepted: RFC 6026 §7.1. A 2xx moves to Accepted, where
// INVITE retransmissions are absorbed, further 2xx from the Core go out,
// ACKs go to the Core, other responses are refused, and Timer L ends it.
func TestServerInviteAccepted(t *testing.T) {
	for _, proto := range []transport.Proto{transport.UDP, transport.TCP} {
		t.Run(string(proto), func(t *testing.T) {
			h := newHarness(t, Config{})
			h.l.HandleMessage(invite.in(t, proto))
			tx := h.core.tx(0)
			respond(t, tx, 200, "uas")
			if tx.State() != Accepted {
				t.Fatalf("state %v, want Accepted", tx.State())
			}
			h.advanceTo(time.Second)
			h.l.HandleMessage(invite.in(t, proto))
			if n := h.snd.count(status(200)); n != 1 {
				t.Fatalf("INVITE retransmission answered: 200 sent %d times", n)
			}
			respond(t, tx, 200, "uas") // the UAS core's own retransmission
			if err := tx.Respond(sip.NewResponse(reqOf(tx), 486, "", "x")); !errors.Is(err, ErrFinalSent) {
				t.Fatalf("486 in Accepted: %v", err)
			}
			h.l.HandleMessage(rq{method: "ACK", toTag: "uas", cseqMethod: "ACK"}.in(t, proto))
			if _, acks, _ := h.core.counts(); acks != 1 {
				t.Fatalf("Core saw %d ACKs, want 1", acks)
			}
			if n := h.snd.count(status(200)); n != 2 {
				t.Fatalf("200 sent %d times, want 2", n)
			}
			h.advanceTo(32*time.Second - time.Millisecond)
			if tx.State() != Accepted {
				t.Fatalf("state %v before Timer L", tx.State())
			}
			h.advanceTo(32 * time.Second)
			if tx.State() != Terminated {
				t.Fatalf("state %v after Timer L", tx.State())
			}
			if err := tx.Respond(sip.NewResponse(reqOf(tx), 200, "", "uas")); !errors.Is(err, ErrTerminated) {
				t.Fatalf("200 after Timer L: %v", err)
			}
		})
	}
}

// TestServerNonInvite walks figure 8 (§17.2.2): Trying absorbs
// retransmissions, Proceeding resends the provisional, Completed resends
// the final until Timer J (64*T1 on UDP, 0 on TCP).
func TestServerNonInvite(t *testing.T) {
	tests := []struct {
		proto   transport.Proto
		wantEnd time.Duration // Timer J from the final response at 2 s
	}{
		{transport.UDP, 2*time.Second + 32*time.Second},
		{transport.TCP, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(string(tt.proto), func(t *testing.T) {
			h := newHarness(t, Config{})
			opts := rq{method: "OPTIONS"}
			h.l.HandleMessage(opts.in(t, tt.proto))
			tx := h.core.tx(0)
			if tx.State() != Trying || len(h.snd.all()) != 0 {
				t.Fatalf("state %v, %d sent; want Trying, nothing sent", tx.State(), len(h.snd.all()))
			}
			h.l.HandleMessage(opts.in(t, tt.proto))
			if len(h.snd.all()) != 0 {
				t.Fatal("retransmission in Trying answered")
			}
			respond(t, tx, 183, "uas")
			h.l.HandleMessage(opts.in(t, tt.proto))
			if tx.State() != Proceeding || h.snd.count(status(183)) != 2 {
				t.Fatalf("Proceeding: state %v, 183 sent %d times", tx.State(), h.snd.count(status(183)))
			}
			h.advanceTo(2 * time.Second)
			respond(t, tx, 200, "uas")
			if tt.proto == transport.UDP {
				h.l.HandleMessage(opts.in(t, tt.proto))
				if n := h.snd.count(status(200)); n != 2 {
					t.Fatalf("200 sent %d times, want 2", n)
				}
				if err := tx.Respond(sip.NewResponse(reqOf(tx), 500, "", "uas")); !errors.Is(err, ErrFinalSent) {
					t.Fatalf("second final: %v", err)
				}
			}
			h.advanceTo(tt.wantEnd - time.Millisecond)
			if tt.proto == transport.UDP && tx.State() != Completed {
				t.Fatalf("state %v before Timer J", tx.State())
			}
			h.advanceTo(tt.wantEnd)
			if tx.State() != Terminated {
				t.Fatalf("state %v after Timer J", tx.State())
			}
			if r, _, _ := h.core.counts(); r != 1 {
				t.Fatalf("Core saw %d requests, want 1", r)
			}
			st := h.l.Stats()
			if st.ServerActive != 0 || st.ServerCreated != 1 || st.ServerTerminated != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestServerRespondErrors checks what Respond refuses, and that a
// transport error ends the transaction and reaches OnFailure (§17.2.4).
func TestServerRespondErrors(t *testing.T) {
	h := newHarness(t, Config{TryingDelay: -1})
	h.l.HandleMessage(invite.in(t))
	tx := h.core.tx(0)
	if err := tx.Respond(invite.msg(t)); !errors.Is(err, ErrNotResponse) {
		t.Fatalf("request as response: %v", err)
	}
	var got error
	tx.OnFailure(func(err error) { got = err })
	h.snd.failWith(errors.New("connection refused"))
	if err := tx.Respond(sip.NewResponse(reqOf(tx), 180, "", "uas")); !errors.Is(err, ErrTransport) {
		t.Fatalf("Respond with failing sender: %v", err)
	}
	if !errors.Is(got, ErrTransport) || tx.State() != Terminated {
		t.Fatalf("OnFailure got %v, state %v", got, tx.State())
	}
	// OnFailure set after the fact runs at once.
	late := false
	tx.OnFailure(func(error) { late = true })
	if !late {
		t.Fatal("late OnFailure did not run")
	}
}

// TestServerRetransmitFailure: a Timer G retransmission that cannot be
// sent ends the transaction.
func TestServerRetransmitFailure(t *testing.T) {
	h := newHarness(t, Config{})
	h.l.HandleMessage(invite.in(t))
	tx := h.core.tx(0)
	respond(t, tx, 486, "uas")
	h.snd.failWith(errors.New("no route"))
	h.advanceTo(time.Second)
	if st := h.l.Stats(); tx.State() != Terminated || st.ServerActive != 0 || st.Lingering != 0 {
		t.Fatalf("state %v stats %+v", tx.State(), h.l.Stats())
	}
}

// TestServerTryingSendFails: when the immediate 100 Trying cannot be
// sent, the transaction ends and the Core never sees the request.
func TestServerTryingSendFails(t *testing.T) {
	h := newHarness(t, Config{})
	h.snd.failWith(errors.New("connection reset"))
	h.l.HandleMessage(invite.in(t, transport.TCP))
	if r, _, _ := h.core.counts(); r != 0 {
		t.Fatal("Core saw a request that cannot be answered")
	}
	if st := h.l.Stats(); st.ServerActive != 0 || st.ServerCreated != 1 || st.ServerTerminated != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A transaction lets go of its request with the final response: it
// lingers 32 s on UDP, and what it needs for that (key, last response)
// must not keep the request's bytes in memory. Retransmissions are still
// answered from what is left.
func TestServerSettlesAfterFinal(t *testing.T) {
	for _, method := range []string{"INVITE", "OPTIONS"} {
		t.Run(method, func(t *testing.T) {
			h := newHarness(t, Config{})
			r := rq{method: method}
			h.l.HandleMessage(r.in(t))
			tx := h.core.tx(0)
			if tx.Request() == nil || tx.Incoming() == nil {
				t.Fatal("no request before the final response")
			}
			respond(t, tx, 486, "uas")
			if tx.Request() != nil || tx.Incoming() != nil {
				t.Fatal("the request is still held after the final response")
			}
			h.l.HandleMessage(r.in(t))
			if n := h.snd.count(status(486)); n != 2 {
				t.Fatalf("486 sent %d times after a retransmission, want 2", n)
			}
			if tx.Method() != method || tx.Branch() == "" {
				t.Fatalf("accessors: method %q branch %q", tx.Method(), tx.Branch())
			}
		})
	}
}
