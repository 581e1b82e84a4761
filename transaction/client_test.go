package transaction

import (
	"errors"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// answer builds the UAS's response to the request the client sent and
// delivers it to the layer.
func (h *harness) answer(req *sip.Message, code int, proto transport.Proto) {
	h.t.Helper()
	h.l.HandleMessage(respIn(sip.NewResponse(reparse(h.t, req), code, "", "uas"), proto))
}

// TestClientRetransmitAndTimeout checks Timers A and B (figure 5) and E
// and F (figure 6): retransmissions on UDP only, A doubling without
// bound, E doubling up to T2, and a local 408 with ErrTimeout at 64*T1.
func TestClientRetransmitAndTimeout(t *testing.T) {
	tests := []struct {
		method string
		dst    transport.Target
		want   []time.Duration
	}{
		{"INVITE", udpTarget, secs(0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5)},
		{"INVITE", tcpTarget, secs(0)},
		{"OPTIONS", udpTarget, secs(0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5)},
		{"OPTIONS", tcpTarget, secs(0)},
	}
	for _, tt := range tests {
		t.Run(tt.method+"/"+string(tt.dst.Proto), func(t *testing.T) {
			h := newHarness(t, Config{})
			rec := &recorder{clk: h.clk}
			c, err := h.l.Request(clientReq(t, tt.method), tt.dst, rec.fn)
			if err != nil {
				t.Fatal(err)
			}
			h.advanceTo(32*time.Second - time.Millisecond)
			if len(rec.got()) != 0 {
				t.Fatalf("TU got %v before Timer B/F", rec.got())
			}
			h.advanceTo(40 * time.Second)
			if got := h.snd.times(method(tt.method)); !equalDurations(got, tt.want) {
				t.Fatalf("sent at %v, want %v", got, tt.want)
			}
			if got := rec.got(); len(got) != 1 || got[0] != 408 || !errors.Is(rec.errs[0], ErrTimeout) || rec.at[0] != 32*time.Second {
				t.Fatalf("TU got %v %v at %v, want one local 408 at 32s", got, rec.errs, rec.at)
			}
			if c.State() != Terminated || h.l.Stats().ClientActive != 0 {
				t.Fatalf("state %v stats %+v", c.State(), h.l.Stats())
			}
		})
	}
}

// TestClientInviteProvisional: a 1xx stops Timer A and Timer B (§17.1.1.2;
// the proxy's Timer C governs Proceeding).
func TestClientInviteProvisional(t *testing.T) {
	h := newHarness(t, Config{})
	rec := &recorder{clk: h.clk}
	req := clientReq(t, "INVITE")
	c, _ := h.l.Request(req, udpTarget, rec.fn)
	h.advanceTo(time.Second) // one retransmission at 0.5 s
	h.answer(req, 100, transport.UDP)
	h.answer(req, 180, transport.UDP)
	h.advanceTo(60 * time.Second)
	if got := h.snd.times(method("INVITE")); !equalDurations(got, secs(0, 0.5)) {
		t.Fatalf("INVITE sent at %v", got)
	}
	if got := rec.got(); len(got) != 2 || got[0] != 100 || got[1] != 180 {
		t.Fatalf("TU got %v", got)
	}
	if c.State() != Proceeding {
		t.Fatalf("state %v", c.State())
	}
	c.Terminate()
	if c.State() != Terminated || h.l.Stats().ClientActive != 0 {
		t.Fatalf("Terminate: state %v stats %+v", c.State(), h.l.Stats())
	}
	h.answer(req, 200, transport.UDP)
	if _, _, strays := h.core.counts(); strays != 1 {
		t.Fatalf("response after Terminate: %d strays", strays)
	}
}

// TestClientInviteNon2xx: the transaction ACKs a non-2xx final response
// itself (§17.1.1.3), re-ACKs its retransmissions without telling the TU
// again, and ends after Timer D (32 s on UDP, 0 on TCP).
func TestClientInviteNon2xx(t *testing.T) {
	tests := []struct {
		dst     transport.Target
		wantEnd time.Duration
	}{
		{udpTarget, time.Second + 32*time.Second},
		{tcpTarget, time.Second},
	}
	for _, tt := range tests {
		t.Run(string(tt.dst.Proto), func(t *testing.T) {
			h := newHarness(t, Config{})
			rec := &recorder{clk: h.clk}
			req := rq{method: "INVITE", branch: NewBranch(), sentBy: "192.0.2.10:5060",
				route: "<sip:edge.example.com;lr>", uri: "sip:bob@192.0.2.20"}.msg(t)
			c, _ := h.l.Request(req, tt.dst, rec.fn)
			h.advanceTo(time.Second)
			h.answer(req, 486, tt.dst.Proto)
			if tt.dst.Proto == transport.UDP {
				h.answer(req, 486, tt.dst.Proto)
			}
			acks := h.snd.all()
			var ack *sip.Message
			n := 0
			for _, s := range acks {
				if s.msg.Method() == "ACK" {
					n++
					ack = s.msg
					if s.dst != tt.dst {
						t.Fatalf("ACK sent to %v, want %v", s.dst, tt.dst)
					}
				}
			}
			if want := map[transport.Proto]int{transport.UDP: 2, transport.TCP: 1}[tt.dst.Proto]; n != want {
				t.Fatalf("%d ACKs, want %d", n, want)
			}
			checkACK(t, req, ack)
			if got := rec.got(); len(got) != 1 || got[0] != 486 || rec.errs[0] != nil {
				t.Fatalf("TU got %v %v", got, rec.errs)
			}
			h.advanceTo(tt.wantEnd - time.Millisecond)
			if tt.dst.Proto == transport.UDP && c.State() != Completed {
				t.Fatalf("state %v before Timer D", c.State())
			}
			h.advanceTo(tt.wantEnd)
			if c.State() != Terminated {
				t.Fatalf("state %v after Timer D", c.State())
			}
		})
	}
}

// checkACK compares an ACK with §17.1.1.3.
func checkACK(t *testing.T, req, ack *sip.Message) {
	t.Helper()
	if ack.RequestURI() != req.RequestURI() {
		t.Errorf("ACK Request-URI %q", ack.RequestURI())
	}
	for _, h := range []string{"Call-ID", "From", "Route"} {
		if ack.Header(h) != req.Header(h) {
			t.Errorf("ACK %s %q, want %q", h, ack.Header(h), req.Header(h))
		}
	}
	if vias := ack.HeaderValues("Via"); len(vias) != 1 || vias[0] != req.Header("Via") {
		t.Errorf("ACK Via %q", vias)
	}
	if cseq, _ := ack.CSeq(); cseq.Method != "ACK" || cseq.Seq != 1 {
		t.Errorf("ACK CSeq %+v", cseq)
	}
	if to, _ := ack.To(); to.Tag() != "uas" {
		t.Errorf("ACK To %q lacks the response's tag", ack.Header("To"))
	}
}

// TestClientInviteAccepted: RFC 6026 §8.4. A 2xx moves to Accepted;
// further 2xx go to the TU, nothing is ACKed by the transaction, and
// Timer M ends it; a 2xx after that is stray.
func TestClientInviteAccepted(t *testing.T) {
	for _, dst := range []transport.Target{udpTarget, tcpTarget} {
		t.Run(string(dst.Proto), func(t *testing.T) {
			h := newHarness(t, Config{})
			rec := &recorder{clk: h.clk}
			req := clientReq(t, "INVITE")
			c, _ := h.l.Request(req, dst, rec.fn)
			h.answer(req, 200, dst.Proto)
			if c.State() != Accepted {
				t.Fatalf("state %v", c.State())
			}
			h.advanceTo(5 * time.Second)
			h.answer(req, 200, dst.Proto)
			h.answer(req, 486, dst.Proto) // not for Accepted: dropped
			if got := rec.got(); len(got) != 2 || got[0] != 200 || got[1] != 200 {
				t.Fatalf("TU got %v", got)
			}
			if h.snd.count(method("ACK")) != 0 || h.snd.count(method("INVITE")) != 1 {
				t.Fatal("transaction ACKed a 2xx or retransmitted after it")
			}
			h.advanceTo(32*time.Second - time.Millisecond)
			if c.State() != Accepted {
				t.Fatalf("state %v before Timer M", c.State())
			}
			h.advanceTo(32 * time.Second)
			if c.State() != Terminated {
				t.Fatalf("state %v after Timer M", c.State())
			}
			h.answer(req, 200, dst.Proto)
			if _, _, strays := h.core.counts(); strays != 1 {
				t.Fatalf("2xx after Timer M: %d strays, want 1", strays)
			}
		})
	}
}

// TestClientNonInviteProceeding: in Proceeding Timer E fires every T2
// (§17.1.2.2); a final response moves to Completed, which absorbs
// retransmitted finals until Timer K (T4 on UDP, 0 on TCP).
func TestClientNonInviteProceeding(t *testing.T) {
	h := newHarness(t, Config{})
	rec := &recorder{clk: h.clk}
	req := clientReq(t, "REGISTER")
	c, _ := h.l.Request(req, udpTarget, rec.fn)
	h.advanceTo(200 * time.Millisecond)
	h.answer(req, 100, transport.UDP)
	h.advanceTo(10 * time.Second)
	if got := h.snd.times(method("REGISTER")); !equalDurations(got, secs(0, 0.5, 4.5, 8.5)) {
		t.Fatalf("REGISTER sent at %v", got)
	}
	h.answer(req, 200, transport.UDP)
	h.answer(req, 200, transport.UDP)
	if got := rec.got(); len(got) != 2 || got[0] != 100 || got[1] != 200 {
		t.Fatalf("TU got %v", got)
	}
	h.advanceTo(15*time.Second - time.Millisecond)
	if c.State() != Completed {
		t.Fatalf("state %v before Timer K", c.State())
	}
	h.advanceTo(15 * time.Second)
	if c.State() != Terminated || h.snd.count(method("REGISTER")) != 4 {
		t.Fatalf("state %v after Timer K", c.State())
	}

	// On TCP, Timer K is zero.
	req = clientReq(t, "REGISTER")
	c, _ = h.l.Request(req, tcpTarget, rec.fn)
	h.answer(req, 200, transport.TCP)
	if c.State() != Terminated {
		t.Fatalf("TCP: state %v after final", c.State())
	}
}

// TestClientTransportError: a failed first send is Request's error; a
// failed retransmission hands the TU a local 503 with ErrTransport
// (§17.1.4).
func TestClientTransportError(t *testing.T) {
	h := newHarness(t, Config{})
	boom := errors.New("port unreachable")
	h.snd.failWith(boom)
	if _, err := h.l.Request(clientReq(t, "INVITE"), udpTarget, nil); !errors.Is(err, ErrTransport) || !errors.Is(err, boom) {
		t.Fatalf("Request: %v", err)
	}
	if st := h.l.Stats(); st.ClientActive != 0 || st.ClientCreated != 1 || st.ClientTerminated != 1 {
		t.Fatalf("stats %+v", st)
	}
	h.snd.failWith(nil)
	rec := &recorder{clk: h.clk}
	c, err := h.l.Request(clientReq(t, "OPTIONS"), udpTarget, rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	h.snd.failWith(boom)
	h.advanceTo(time.Second)
	if got := rec.got(); len(got) != 1 || got[0] != 503 || !errors.Is(rec.errs[0], ErrTransport) {
		t.Fatalf("TU got %v %v", got, rec.errs)
	}
	if c.State() != Terminated {
		t.Fatalf("state %v", c.State())
	}
}

// TestClientRequestErrors checks what Request refuses.
func TestClientRequestErrors(t *testing.T) {
	h := newHarness(t, Config{})
	tests := []struct {
		name string
		req  *sip.Message
		want error
	}{
		{"ACK", rq{method: "ACK", branch: NewBranch()}.msg(t), ErrBadRequest},
		{"no cookie", rq{method: "OPTIONS", branch: "old1"}.msg(t), ErrBadRequest},
		{"response", sip.NewResponse(invite.msg(t), 200, "", "x"), ErrBadRequest},
	}
	for _, tt := range tests {
		if _, err := h.l.Request(tt.req, udpTarget, nil); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	req := clientReq(t, "OPTIONS")
	if _, err := h.l.Request(req, udpTarget, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.l.Request(reparse(t, req), udpTarget, nil); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("same branch twice: %v", err)
	}
}

// TestClientLocalResponse checks the local 408 a TU gets: it answers the
// request (same Via, Call-ID, CSeq) and carries a To tag.
func TestClientLocalResponse(t *testing.T) {
	h := newHarness(t, Config{})
	req := clientReq(t, "MESSAGE")
	var got *sip.Message
	c, _ := h.l.Request(req, tcpTarget, func(resp *sip.Message, err error) { got = resp })
	h.advanceTo(time.Minute)
	if got == nil || got.StatusCode() != 408 {
		t.Fatalf("got %v", got)
	}
	if got.Header("Via") != req.Header("Via") || got.Header("Call-ID") != req.Header("Call-ID") || got.Header("CSeq") != req.Header("CSeq") {
		t.Fatalf("local 408 does not answer the request:\n%s", got)
	}
	if to, _ := got.To(); to.Tag() == "" {
		t.Fatal("local 408 has no To tag")
	}
	v, _ := req.TopVia()
	if c.Method() != "MESSAGE" || c.Target() != tcpTarget || c.Branch() != v.Branch() || c.Key() == "" {
		t.Fatal("accessors")
	}
	if c.Request() != nil {
		t.Fatal("an ended transaction still holds its request")
	}
}
