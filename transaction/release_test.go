package transaction

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// deliver hands data to the layer through the transport's pooled receive
// path, from src, and reports whether the layer released the message. In
// checked builds a released message is poisoned when this returns, so a
// transaction or a fake Core that kept it fails the test that reads it.
func (h *harness) deliver(data []byte, src netip.AddrPort) bool {
	h.t.Helper()
	var released bool
	layer := transport.HandlerFunc(func(in *transport.Incoming) {
		h.l.HandleMessage(in)
		released = in.Released()
	})
	in := transport.Incoming{Proto: transport.UDP, Source: src, Local: proxyAddr}
	if err := transport.Inject(layer, sip.DefaultLimits, data, in); err != nil {
		h.t.Fatal(err)
	}
	return released
}

// The ownership rule at the transaction layer: a message whose handling
// ends in the layer (a retransmission it answers or absorbs, an ACK for a
// non-2xx, a request it drops or refuses, a response its client
// transaction absorbs) is released; one that starts a transaction or goes
// to the Core or a client transaction's owner is not, since they may keep
// it.
func TestLayerReleasesWhatEndsInIt(t *testing.T) {
	invite := rq{method: "INVITE"}
	options := rq{method: "OPTIONS"}
	ack := func(toTag string) []byte { return rq{method: "ACK", toTag: toTag}.bytes() }
	answer := func(code int) func(h *harness) {
		return func(h *harness) { respond(h.t, h.core.tx(0), code, "uas1") }
	}
	cases := []struct {
		name     string
		cfg      Config
		before   [][]byte         // delivered first, from the UAC
		then     func(h *harness) // e.g. the Core answers
		again    [][]byte         // delivered after then
		last     []byte           // the message under test
		released bool
		check    func(t *testing.T, h *harness)
	}{
		{name: "a new INVITE starts a transaction", last: invite.bytes()},
		{name: "a new OPTIONS starts a transaction", last: options.bytes()},
		{name: "INVITE retransmitted in Proceeding", before: [][]byte{invite.bytes()}, last: invite.bytes(), released: true,
			check: func(t *testing.T, h *harness) {
				if n := h.snd.count(status(100)); n != 2 {
					t.Errorf("sent %d 100 Trying, want the retransmission answered too", n)
				}
			}},
		{name: "OPTIONS retransmitted before its answer", before: [][]byte{options.bytes()}, last: options.bytes(), released: true},
		{name: "OPTIONS retransmitted after its 200 (linger store)", before: [][]byte{options.bytes()}, then: answer(200),
			last: options.bytes(), released: true, check: func(t *testing.T, h *harness) {
				if n := h.snd.count(status(200)); n != 2 {
					t.Errorf("sent %d 200s, want the retransmission answered", n)
				}
			}},
		{name: "INVITE retransmitted after a 486", before: [][]byte{invite.bytes()}, then: answer(486), last: invite.bytes(), released: true},
		{name: "the ACK for a 486", before: [][]byte{invite.bytes()}, then: answer(486), last: ack("uas1"), released: true},
		{name: "the ACK for a 486, retransmitted", before: [][]byte{invite.bytes()}, then: answer(486), again: [][]byte{ack("uas1")}, last: ack("uas1"), released: true},
		{name: "the ACK for a 2xx goes to the Core", before: [][]byte{invite.bytes()}, then: answer(200), last: ack("uas1"),
			check: func(t *testing.T, h *harness) {
				if _, acks, _ := h.core.counts(); acks != 1 {
					t.Errorf("Core got %d ACKs, want 1", acks)
				}
			}},
		{name: "an ACK matching nothing goes to the Core", last: ack("x")},
		{name: "a request nobody could answer (no CSeq)", last: []byte("OPTIONS sip:bob@example.com SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-nocseq\r\nFrom: <sip:a@example.com>;tag=1\r\n" +
			"To: <sip:bob@example.com>\r\nCall-ID: c1\r\nContent-Length: 0\r\n\r\n"), released: true},
		{name: "a request refused past the bound", cfg: Config{MaxInFlight: 1}, before: [][]byte{invite.bytes()},
			last: rq{method: "INVITE", branch: "z9hG4bK-second", callID: "call-2"}.bytes(), released: true,
			check: func(t *testing.T, h *harness) {
				if n := h.snd.count(status(503)); n != 1 {
					t.Errorf("sent %d 503s, want 1", n)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.cfg)
			for _, b := range c.before {
				if h.deliver(b, uacAddr) {
					t.Fatalf("the first request was released")
				}
			}
			if c.then != nil {
				c.then(h)
			}
			for _, b := range c.again {
				h.deliver(b, uacAddr)
			}
			if got := h.deliver(c.last, uacAddr); got != c.released {
				t.Errorf("released = %v, want %v", got, c.released)
			}
			if c.check != nil {
				c.check(t, h)
			}
		})
	}
}

// The same for responses: a client transaction's owner gets every
// response the state machine passes on, unreleased; retransmitted finals
// it absorbs are released, also once the transaction waits in a linger
// store.
func TestClientReleasesAbsorbedResponses(t *testing.T) {
	for _, c := range []struct {
		name    string
		method  string
		codes   []int  // responses delivered in turn
		release []bool // whether each was released
		tu      []int  // what the owner got
	}{
		{"INVITE 180, 486, 486 again", "INVITE", []int{180, 486, 486}, []bool{false, false, true}, []int{180, 486}},
		{"INVITE 200, 200 again (Accepted)", "INVITE", []int{200, 200}, []bool{false, false}, []int{200, 200}},
		{"OPTIONS 200, 200 again (linger store)", "OPTIONS", []int{200, 200, 200}, []bool{false, true, true}, []int{200}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			rec := &recorder{clk: h.clk}
			req := clientReq(t, c.method)
			if _, err := h.l.Request(req, udpTarget, rec.fn); err != nil {
				t.Fatal(err)
			}
			for i, code := range c.codes {
				resp := sip.NewResponse(req, code, "", "uas1").Bytes()
				if got := h.deliver(resp, uasAddr); got != c.release[i] {
					t.Errorf("response %d (%d): released = %v, want %v", i, code, got, c.release[i])
				}
			}
			if got := rec.got(); !slices.Equal(got, c.tu) {
				t.Errorf("owner got %v, want %v", got, c.tu)
			}
		})
	}
}
