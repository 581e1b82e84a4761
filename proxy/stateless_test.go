package proxy

import (
	"slices"
	"strings"
	"testing"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

func statelessConfig() Config {
	cfg := defaultConfig()
	cfg.Stateless = true
	return cfg
}

// sentTo returns the messages the fake transport sent to addr.
func (f *fixture) sentTo(addr string) []sent {
	a := ap(addr)
	var out []sent
	for _, s := range f.tp.messages() {
		if s.dst.Addr == a {
			out = append(out, s)
		}
	}
	return out
}

// onlySent returns the one message the transport sent.
func onlySent(t *testing.T, f *fixture) sent {
	t.Helper()
	msgs := f.tp.messages()
	if len(msgs) != 1 {
		var what []string
		for _, s := range msgs {
			what = append(what, s.msg.Method()+status(s.msg)+" to "+s.dst.Addr.String())
		}
		t.Fatalf("transport sent %d messages %q, want 1", len(msgs), what)
	}
	return msgs[0]
}

// TestStatelessForward is §16.11: one target only, no transaction, no
// provisional response of our own, and a branch computed from the request
// so that a retransmission leaves exactly as the original did.
func TestStatelessForward(t *testing.T) {
	bob := location.Binding{Contact: "sip:bob@10.0.0.5:5062", Source: ap("198.51.100.20:40000")}

	t.Run("forwarded without transaction, same branch for a retransmission", func(t *testing.T) {
		f := newFixture(t, statelessConfig())
		f.bind("sip:bob@example.com", bob)
		f.serve(req(t, "invite.sip"))
		first := onlySent(t, f)
		if !sameDst(first.dst, target(transport.UDP, "198.51.100.20:40000")) {
			t.Errorf("sent to %+v, want udp 198.51.100.20:40000", first.dst)
		}
		if first.msg.RequestURI() != "sip:bob@10.0.0.5:5062" {
			t.Errorf("Request-URI = %s, want the contact", first.msg.RequestURI())
		}
		b1 := ourVia(t, "stateless INVITE", first.msg, "UDP", "192.0.2.1:5060")
		checkHeaders(t, "stateless INVITE", first.msg, map[string][]string{
			"Via":          {"SIP/2.0/UDP 192.0.2.1:5060;branch=" + b1, uacVia},
			"Max-Forwards": {"69"},
			"Record-Route": {"<sip:192.0.2.1:5060;lr>"},
		})

		f.serve(req(t, "invite.sip")) // the UAC retransmits
		msgs := f.sentTo("198.51.100.20:40000")
		if len(msgs) != 2 {
			t.Fatalf("%d messages to bob after the retransmission, want 2", len(msgs))
		}
		if b2 := topBranch(t, msgs[1].msg); b2 != b1 {
			t.Errorf("retransmission forwarded with branch %q, want %q as the original", b2, b1)
		}
		if msgs[1].msg.String() != first.msg.String() {
			t.Errorf("retransmission forwarded differently:\n%s\nvs\n%s", msgs[1].msg, first.msg)
		}

		f.serve(req(t, "invite.sip", "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKuac9", "CSeq: 2 INVITE"))
		msgs = f.sentTo("198.51.100.20:40000")
		if len(msgs) != 3 {
			t.Fatalf("%d messages to bob, want 3", len(msgs))
		}
		if b3 := topBranch(t, msgs[2].msg); b3 == b1 {
			t.Errorf("a new transaction got the same branch %q", b3)
		}
		if n := len(f.txs.all("")); n != 0 {
			t.Errorf("%d client transactions in stateless mode, want 0", n)
		}
	})

	t.Run("one target only, the same each time", func(t *testing.T) {
		f := newFixture(t, statelessConfig())
		f.bind("sip:bob@example.com", location.Binding{Contact: "sip:bob@10.0.0.9", Source: ap("198.51.100.29:5060"), Q: 500})
		f.bind("sip:bob@example.com", bob)
		f.serve(req(t, "invite.sip"))
		f.serve(req(t, "invite.sip"))
		msgs := f.tp.messages()
		if len(msgs) != 2 {
			t.Fatalf("sent %d messages for two copies of the request, want 2", len(msgs))
		}
		for _, s := range msgs {
			if !sameDst(s.dst, target(transport.UDP, "198.51.100.20:40000")) {
				t.Errorf("sent to %+v, want the highest-q binding udp 198.51.100.20:40000", s.dst)
			}
		}
	})

	t.Run("local response sent by the transport", func(t *testing.T) {
		f := newFixture(t, statelessConfig())
		m := req(t, "invite.sip")
		f.serve(m)
		s := onlySent(t, f)
		if !sameDst(s.dst, target(transport.UDP, "198.51.100.7:5060")) || s.dst.Listener == nil || s.dst.Listener.Port != 5060 {
			t.Errorf("404 sent to %+v, want udp 198.51.100.7:5060 from the listener it came in on", s.dst)
		}
		checkLocalResponse(t, f, m, s.msg, 404, "Not Found", nil)
	})

	t.Run("REGISTER answered by the registrar", func(t *testing.T) {
		f := newFixture(t, statelessConfig())
		f.serve(req(t, "register.sip"))
		s := onlySent(t, f)
		if status(s.msg) != "200 OK" || !sameDst(s.dst, target(transport.UDP, "198.51.100.7:5060")) {
			t.Errorf("sent %q to %+v, want 200 OK to udp 198.51.100.7:5060", status(s.msg), s.dst)
		}
	})
}

// TestStatelessCancelAndACK: §16.11, "CANCEL and non-Routed ACK requests
// MUST generate the same choice as their associated INVITE", and a
// stateless proxy forwards a CANCEL (§9.2, §16.10). The downstream UAS
// matches them to the INVITE by branch (§9.2, §17.2.3), so they must carry
// the branch the INVITE was forwarded with.
func TestStatelessCancelAndACK(t *testing.T) {
	bob := location.Binding{Contact: "sip:bob@10.0.0.5:5062", Source: ap("198.51.100.20:40000")}

	t.Run("CANCEL", func(t *testing.T) {
		f := newFixture(t, statelessConfig())
		f.bind("sip:bob@example.com", bob)
		f.serve(req(t, "invite.sip"))
		inv := onlySent(t, f)
		f.serve(req(t, "cancel.sip"))
		msgs := f.tp.messages()
		if len(msgs) != 2 {
			t.Fatalf("sent %d messages, want the INVITE and the CANCEL", len(msgs))
		}
		c := msgs[1]
		if c.msg.Method() != "CANCEL" {
			t.Fatalf("second message is %q %s, want the CANCEL forwarded (a stateless proxy does not answer it)", status(c.msg), c.msg.Method())
		}
		if !sameDst(c.dst, inv.dst) || c.msg.RequestURI() != inv.msg.RequestURI() {
			t.Errorf("CANCEL went to %s via %+v, want %s via %+v like the INVITE", c.msg.RequestURI(), c.dst, inv.msg.RequestURI(), inv.dst)
		}
		if got, want := topBranch(t, c.msg), topBranch(t, inv.msg); got != want {
			t.Errorf("CANCEL branch %q, want the INVITE's %q", got, want)
		}
	})

	t.Run("ACK for a non-2xx", func(t *testing.T) {
		f := newFixture(t, statelessConfig())
		f.bind("sip:bob@example.com", bob)
		f.serve(req(t, "invite.sip"))
		inv := onlySent(t, f)
		// §17.1.1.3: the INVITE's Request-URI, top Via and From, the To
		// of the response (with its tag), CSeq number with ACK.
		f.p.ServeACK(incoming(req(t, "ack-non2xx.sip")))
		msgs := f.tp.messages()
		if len(msgs) != 2 {
			t.Fatalf("sent %d messages, want the INVITE and the ACK", len(msgs))
		}
		a := msgs[1]
		if !sameDst(a.dst, inv.dst) || a.msg.RequestURI() != inv.msg.RequestURI() {
			t.Errorf("ACK went to %s via %+v, want %s via %+v like the INVITE", a.msg.RequestURI(), a.dst, inv.msg.RequestURI(), inv.dst)
		}
		if got, want := topBranch(t, a.msg), topBranch(t, inv.msg); got != want {
			t.Errorf("ACK branch %q, want the INVITE's %q", got, want)
		}
	})
}

// TestStrayResponse is §16.11 (and §16.7 for responses without a
// context): our Via is removed and the response goes to the address in
// the next Via, honouring received and rport (§18.2.2, RFC 3581).
func TestStrayResponse(t *testing.T) {
	const ours = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKPabc.def"
	resp := func(vias ...string) string {
		s := "SIP/2.0 180 Ringing\r\n"
		for _, v := range vias {
			s += "Via: " + v + "\r\n"
		}
		return s + "From: Alice <sip:alice@example.com>;tag=a1\r\n" +
			"To: Bob <sip:bob@example.com>;tag=b1\r\n" +
			"Call-ID: c1@198.51.100.7\r\n" +
			"CSeq: 1 INVITE\r\n" +
			"Content-Length: 0\r\n\r\n"
	}
	tests := []struct {
		name string
		vias []string
		dst  *transport.Target // nil: dropped
	}{
		{"to the next Via's sent-by", []string{ours, uacVia},
			&transport.Target{Proto: transport.UDP, Addr: ap("198.51.100.7:5060")}},
		{"received and rport", []string{ours, "SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKuac1;received=198.51.100.7;rport=40001"},
			&transport.Target{Proto: transport.UDP, Addr: ap("198.51.100.7:40001")}},
		{"TCP sent-by with default port", []string{ours, "SIP/2.0/TCP 198.51.100.7;branch=z9hG4bKuac1"},
			&transport.Target{Proto: transport.TCP, Addr: ap("198.51.100.7:5060")}},
		{"two Vias on one line", []string{ours + ", " + uacVia},
			&transport.Target{Proto: transport.UDP, Addr: ap("198.51.100.7:5060")}},
		{"top Via not ours", []string{uacVia, ours}, nil},
		{"only our Via", []string{ours}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, statelessConfig())
			in := incoming(parse(t, resp(tt.vias...)))
			in.Source = ap("198.51.100.20:40000")
			f.p.ServeStrayResponse(in)
			msgs := f.tp.messages()
			if tt.dst == nil {
				if len(msgs) != 0 {
					t.Errorf("forwarded %d messages, want the response dropped", len(msgs))
				}
				return
			}
			s := onlySent(t, f)
			if !sameDst(s.dst, *tt.dst) {
				t.Errorf("sent to %+v, want %+v", s.dst, *tt.dst)
			}
			if status(s.msg) != "180 Ringing" {
				t.Errorf("forwarded %q, want 180 Ringing", status(s.msg))
			}
			// Our Via is gone, the others are untouched.
			want := parse(t, resp(tt.vias...)).HeaderValues("Via")[1:]
			if got := s.msg.HeaderValues("Via"); !slices.Equal(got, want) {
				t.Errorf("Via = %q, want %q", got, want)
			}
			checkHeaders(t, "forwarded response", s.msg, map[string][]string{
				"To":   {"Bob <sip:bob@example.com>;tag=b1"},
				"CSeq": {"1 INVITE"},
			})
		})
	}
}

// TestStatelessAliasWebPhone: a stateless proxy gives a web phone's
// answer (its Contact under .invalid) the flow it came on as alias, so
// that the ACK and BYE that follow reach the connection; other answers
// pass untouched.
func TestStatelessAliasWebPhone(t *testing.T) {
	const ours = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKPabc.def"
	tests := []struct {
		name, status, cseq, contact, want string
	}{
		{"web phone 200", "200 OK", "1 INVITE", "<sip:k3@df7jal23ls0d.invalid;transport=ws>",
			"<sip:k3@df7jal23ls0d.invalid;transport=ws;alias=198.51.100.20~40000~wss>"},
		{"web phone 180", "180 Ringing", "1 INVITE", "<sip:k3@x.invalid;transport=ws>",
			"<sip:k3@x.invalid;transport=ws;alias=198.51.100.20~40000~wss>"},
		{"private address: maybe a proxy's answer", "200 OK", "1 INVITE", "<sip:bob@10.0.0.5>", "<sip:bob@10.0.0.5>"},
		{"not dialog-creating", "200 OK", "2 MESSAGE", "<sip:k3@x.invalid;transport=ws>", "<sip:k3@x.invalid;transport=ws>"},
		{"failure", "486 Busy Here", "1 INVITE", "<sip:k3@x.invalid;transport=ws>", "<sip:k3@x.invalid;transport=ws>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, statelessConfig())
			in := incoming(parse(t, "SIP/2.0 "+tt.status+"\r\nVia: "+ours+"\r\nVia: "+uacVia+"\r\n"+
				"From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>;tag=b1\r\nCall-ID: c1\r\n"+
				"CSeq: "+tt.cseq+"\r\nContact: "+tt.contact+"\r\nContent-Length: 0\r\n\r\n"))
			in.Proto, in.Source = transport.WSS, ap("198.51.100.20:40000")
			f.p.ServeStrayResponse(in)
			if got := onlySent(t, f).msg.Header("Contact"); got != tt.want {
				t.Errorf("Contact %q, want %q", got, tt.want)
			}
		})
	}
}

// TestServeACK: the ACK for a 2xx is end to end and forwarded statelessly
// along its route set (§13.2.2.4, §16.4, §16.11), with no transaction and
// never answered; an ACK with Max-Forwards 0 must not be forwarded
// (§16.3 step 3), and since an ACK is never answered it is dropped.
func TestServeACK(t *testing.T) {
	tests := []struct {
		name  string
		edits []string
		dst   *transport.Target // nil: dropped
		route []string
		mf    string
	}{
		{name: "our Route removed, sent to the next", dst: &transport.Target{Proto: transport.UDP, Addr: ap("203.0.113.9:5080")},
			route: []string{"<sip:203.0.113.9:5080;lr>"}, mf: "69"},
		{name: "only our Route: sent to the Request-URI", edits: []string{"Route: <sip:192.0.2.1:5060;lr>"},
			dst: &transport.Target{Proto: transport.UDP, Addr: ap("198.51.100.20:5062")}, mf: "69"},
		{name: "Max-Forwards 0 is dropped", edits: []string{"Max-Forwards: 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, defaultConfig())
			m := req(t, "ack-2xx.sip", tt.edits...)
			f.p.ServeACK(incoming(m))
			if n := len(f.txs.all("")); n != 0 {
				t.Errorf("%d client transactions for an ACK, want 0", n)
			}
			msgs := f.tp.messages()
			if tt.dst == nil {
				if len(msgs) != 0 {
					t.Errorf("sent %d messages, want the ACK dropped", len(msgs))
				}
				return
			}
			s := onlySent(t, f)
			if !sameDst(s.dst, *tt.dst) {
				t.Errorf("ACK sent to %+v, want %+v", s.dst, *tt.dst)
			}
			if s.msg.Method() != "ACK" || s.msg.RequestURI() != "sip:bob@198.51.100.20:5062" {
				t.Errorf("request line = %s %s, want ACK sip:bob@198.51.100.20:5062", s.msg.Method(), s.msg.RequestURI())
			}
			b := ourVia(t, "ACK", s.msg, "UDP", "192.0.2.1:5060")
			checkHeaders(t, "ACK", s.msg, map[string][]string{
				"Via":          {"SIP/2.0/UDP 192.0.2.1:5060;branch=" + b, "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKuac1ack"},
				"Route":        tt.route,
				"Max-Forwards": {tt.mf},
				"Record-Route": nil,
				"CSeq":         {"1 ACK"},
			})
			// The UAC sends the ACK again for each 2xx retransmission: same branch.
			f.p.ServeACK(incoming(req(t, "ack-2xx.sip", tt.edits...)))
			msgs = f.tp.messages()
			if len(msgs) != 2 || topBranch(t, msgs[1].msg) != b {
				t.Errorf("retransmitted ACK not forwarded with the same branch %q", b)
			}
		})
	}
}

// TestStatelessBranch checks the branch a stateless forward carries
// (§16.11): the same for a retransmission, and — since the next hop
// matches a CANCEL and the ACK of a non-2xx to their INVITE by branch
// (§9.2, §17.2.3) — the same for those; different for a new transaction.
// (§16.11 recommends hashing the received branch, which a CANCEL and a
// non-2xx ACK share with their INVITE.)
func TestStatelessBranch(t *testing.T) {
	f := newFixture(t, statelessConfig())
	invite := f.p.statelessBranch(req(t, "invite.sip"))
	tests := []struct {
		name string
		m    func() *sip.Message
		same bool
	}{
		{"retransmission", func() *sip.Message { return req(t, "invite.sip") }, true},
		{"its CANCEL", func() *sip.Message { return req(t, "cancel.sip") }, true},
		{"its ACK for a non-2xx", func() *sip.Message { return req(t, "ack-non2xx.sip") }, true},
		{"a new INVITE", func() *sip.Message {
			return req(t, "invite.sip", "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKuac9", "CSeq: 2 INVITE")
		}, false},
		{"the 2xx ACK, a transaction of its own", func() *sip.Message { return req(t, "ack-2xx.sip") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := f.p.statelessBranch(tt.m())
			if !strings.HasPrefix(got, sip.MagicCookie) {
				t.Errorf("branch %q lacks the magic cookie", got)
			}
			if (got == invite) != tt.same {
				t.Errorf("branch %q, INVITE's %q: same = %v, want %v", got, invite, got == invite, tt.same)
			}
		})
	}
}
