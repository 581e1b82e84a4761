package transaction

import (
	"net/netip"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// TestParkedClient: a client transaction in Completed over UDP waits
// out Timer K (non-INVITE, T4) or Timer D (INVITE, non-2xx) in a linger
// store or, without one, on the heap; from outside both behave the same:
// retransmitted finals are absorbed, an INVITE's are ACKed again to
// where the request went (§17.1.1.2), nothing reaches the Core until the
// timer, and the transaction ends exactly then.
func TestParkedClient(t *testing.T) {
	li := &transport.ListenerInfo{Proto: transport.UDP}
	dst := transport.Target{Proto: transport.UDP, Addr: uasAddr, Conn: 7, Listener: li, PinnedUDP: true}
	tests := []struct {
		method string
		code   int
		acks   int           // ACKs sent for the final and its two retransmissions
		wait   time.Duration // Timer K or D after the final at 1 s
	}{
		{"OPTIONS", 200, 0, 5 * time.Second},
		{"REGISTER", 401, 0, 5 * time.Second},
		{"INVITE", 486, 3, 32 * time.Second},
	}
	for _, tt := range tests {
		for _, heap := range []bool{false, true} {
			name := tt.method + map[bool]string{false: "/store", true: "/heap"}[heap]
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, Config{heapLinger: heap})
				rec := &recorder{clk: h.clk}
				req := clientReq(t, tt.method)
				c, err := h.l.Request(req, dst, rec.fn)
				if err != nil {
					t.Fatal(err)
				}
				h.advanceTo(time.Second)
				h.answer(req, tt.code, transport.UDP)
				parked := h.l.clients.get(c.Key()) == nil
				if st := h.l.Stats(); parked == heap || st.ClientActive != 1 || st.Lingering != map[bool]int64{false: 1, true: 0}[heap] {
					t.Fatalf("parked %v, stats %+v", parked, st)
				}
				if _, err := h.l.Request(req, dst, rec.fn); err != ErrDuplicate {
					t.Fatalf("same branch while Completed: %v, want ErrDuplicate", err)
				}
				h.advanceTo(2 * time.Second)
				h.answer(req, tt.code, transport.UDP)
				h.answer(req, 200, transport.UDP) // a stray 2xx in Completed is absorbed too
				h.answer(req, tt.code, transport.UDP)
				if _, _, strays := h.core.counts(); strays != 0 || len(rec.got()) != 1 {
					t.Fatalf("strays %d, TU got %v", strays, rec.got())
				}
				acks := 0
				for _, s := range h.snd.all() {
					if s.msg.Method() == "ACK" {
						acks++
						if s.dst != dst {
							t.Fatalf("ACK to %+v, want %+v", s.dst, dst)
						}
						checkACK(t, req, s.msg)
					}
				}
				if acks != tt.acks {
					t.Fatalf("%d ACKs, want %d", acks, tt.acks)
				}
				end := time.Second + tt.wait
				h.advanceTo(end - time.Millisecond)
				if c.State() != Completed {
					t.Fatalf("state %v before the timer", c.State())
				}
				h.advanceTo(end)
				if st := h.l.Stats(); c.State() != Terminated || st.ClientActive != 0 || st.Lingering != 0 {
					t.Fatalf("after the timer: state %v stats %+v", c.State(), st)
				}
				h.answer(req, tt.code, transport.UDP)
				if _, _, strays := h.core.counts(); strays != 1 {
					t.Fatalf("a response after the timer: %d strays, want 1", strays)
				}
			})
		}
	}
}

// TestParkedClientTerminate: the TU may end a parked transaction early;
// its record goes, it is counted once, and a response after is stray.
func TestParkedClientTerminate(t *testing.T) {
	for _, method := range []string{"OPTIONS", "INVITE"} {
		h := newHarness(t, Config{})
		req := clientReq(t, method)
		c, _ := h.l.Request(req, udpTarget, nil)
		h.answer(req, 404, transport.UDP)
		c.Terminate()
		c.Terminate()
		if st := h.l.Stats(); c.State() != Terminated || st.ClientActive != 0 || st.Lingering != 0 || st.ClientTerminated != 1 {
			t.Fatalf("%s: state %v stats %+v", method, c.State(), st)
		}
		h.answer(req, 404, transport.UDP)
		if _, _, strays := h.core.counts(); strays != 1 {
			t.Fatalf("%s: %d strays, want 1", method, strays)
		}
		h.advanceTo(time.Minute)
		if st := h.l.Stats(); st.ClientTerminated != 1 {
			t.Fatalf("%s: counted again at expiry: %+v", method, st)
		}
	}
}

// TestParkedClientRace: a response that found the live transaction just
// before it was parked is still absorbed, and ACKed, by its record.
func TestParkedClientRace(t *testing.T) {
	h := newHarness(t, Config{})
	req := clientReq(t, "INVITE")
	c, _ := h.l.Request(req, udpTarget, nil)
	h.answer(req, 486, transport.UDP)
	if !c.receive(respIn(sip.NewResponse(reparse(t, req), 486, "", "uas"), transport.UDP)) {
		t.Fatal("parked transaction refused its retransmission")
	}
	if n := h.snd.count(method("ACK")); n != 2 {
		t.Fatalf("%d ACKs, want 2", n)
	}
}

// TestTargetCodec: a target survives the record's bytes, and one a
// record cannot hold is refused.
func TestTargetCodec(t *testing.T) {
	li := &transport.ListenerInfo{Proto: transport.UDP}
	tests := []struct {
		name string
		dst  transport.Target
		ok   bool
	}{
		{"ipv4", transport.Target{Proto: transport.UDP, Addr: netip.MustParseAddrPort("127.0.0.1:5060")}, true},
		{"ipv6 zone listener", transport.Target{Proto: transport.UDP, Addr: netip.MustParseAddrPort("[fe80::1%lo]:5062"),
			Conn: 1 << 40, Listener: li, PinnedUDP: true}, true},
		{"tls name", transport.Target{Proto: transport.TLS, Addr: uasAddr, ServerName: "example.com"}, false},
		{"long zone", transport.Target{Proto: transport.UDP, Addr: netip.AddrPortFrom(
			netip.MustParseAddr("fe80::1").WithZone("a-very-long-interface-name-for-a-zone-indeed-0123456789"), 5060)}, false},
	}
	var tc targetCodec
	for _, tt := range tests {
		b, ok := tc.encode([]byte("x"), tt.dst)
		if ok != tt.ok {
			t.Fatalf("%s: encode ok %v", tt.name, ok)
		}
		if !ok {
			continue
		}
		b = append(b[1:], "ACK"...)
		dst, payload, ok := tc.decode(b)
		if !ok || dst != tt.dst || string(payload) != "ACK" {
			t.Fatalf("%s: decoded %+v %q %v", tt.name, dst, payload, ok)
		}
		if _, _, ok := tc.decode(b[:tgtHeader+1]); ok {
			t.Fatalf("%s: a truncated record decoded", tt.name)
		}
	}
}
