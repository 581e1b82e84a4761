package proxy

import (
	"strings"
	"testing"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// uacVia is the Via of the golden INVITE.
const uacVia = "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKuac1"

// onlyBranch returns the single client transaction the proxy started.
func onlyBranch(t *testing.T, f *fixture) *clientTx {
	t.Helper()
	txs := f.txs.all("")
	if len(txs) != 1 {
		t.Fatalf("proxy started %d client transactions, want 1", len(txs))
	}
	return txs[0]
}

// forwardedOnce serves in, which the proxy must forward rather than
// answer, on one branch, to dst with Request-URI ruri; it returns that branch.
func forwardedOnce(t *testing.T, f *fixture, in *sip.Message, dst transport.Target, ruri string) *clientTx {
	t.Helper()
	tx := f.serve(in)
	if got := tx.statuses(); len(got) != 0 {
		t.Fatalf("proxy answered %q, want the request forwarded", got)
	}
	c := onlyBranch(t, f)
	if !sameDst(c.dst, dst) {
		t.Errorf("sent to %+v, want %+v", c.dst, dst)
	}
	if got := c.req.RequestURI(); got != ruri {
		t.Errorf("Request-URI = %q, want %q", got, ruri)
	}
	return c
}

// TestForwardToBinding is §16.5/§16.6 for a user of our domain: the
// Request-URI becomes the contact (step 2), Max-Forwards is decremented or
// set to 70 (step 3), we record-route (step 4), our Via goes on top with
// an RFC 3261 branch (step 8), and the request goes to the flow the phone
// registered from (NAT) or along its Path (RFC 3327).
func TestForwardToBinding(t *testing.T) {
	tests := []struct {
		name    string
		edits   []string
		binding location.Binding
		dst     transport.Target
		mf      string
		route   []string
		rr      []string
		viaName string
		viaAt   string // our Via's sent-by; empty: 192.0.2.1:5060
	}{
		{
			name:    "binding without Path goes to its source address",
			binding: location.Binding{Contact: "sip:bob@10.0.0.5:5062", Source: ap("198.51.100.20:40000")},
			dst:     target(transport.UDP, "198.51.100.20:40000"),
			mf:      "69", rr: []string{"<sip:192.0.2.1:5060;lr>"}, viaName: "UDP",
		},
		{
			name:    "no Max-Forwards: 70 is added",
			edits:   []string{"-Max-Forwards"},
			binding: location.Binding{Contact: "sip:bob@10.0.0.5:5062", Source: ap("198.51.100.20:40000")},
			dst:     target(transport.UDP, "198.51.100.20:40000"),
			mf:      "70", rr: []string{"<sip:192.0.2.1:5060;lr>"}, viaName: "UDP",
		},
		{
			name:    "Max-Forwards 1 leaves with 0",
			edits:   []string{"Max-Forwards: 1"},
			binding: location.Binding{Contact: "sip:bob@10.0.0.5:5062", Source: ap("198.51.100.20:40000")},
			dst:     target(transport.UDP, "198.51.100.20:40000"),
			mf:      "0", rr: []string{"<sip:192.0.2.1:5060;lr>"}, viaName: "UDP",
		},
		{
			name: "binding with Path is reached through its Path",
			binding: location.Binding{Contact: "sip:bob@10.0.0.5:5062", Source: ap("203.0.113.77:5070"),
				Path: []string{"<sip:203.0.113.77:5070;lr>", "<sip:203.0.113.78;lr>"}},
			dst:   target(transport.UDP, "203.0.113.77:5070"),
			route: []string{"<sip:203.0.113.77:5070;lr>", "<sip:203.0.113.78;lr>"},
			mf:    "69", rr: []string{"<sip:192.0.2.1:5060;lr>"}, viaName: "UDP",
		},
		{
			// A cluster node reaches a phone another node holds through
			// that node (the Path it stored, registrar.NodePath).
			name: "binding held by another node goes through it",
			binding: location.Binding{Contact: "sip:bob@10.0.0.5:5062;transport=tcp", Source: ap("198.51.100.20:50000"),
				Transport: "tcp", Path: []string{"<sip:ft.AAAA@192.0.2.2:5060;lr;ob;node=n2>"}},
			dst:   target(transport.UDP, "192.0.2.2:5060"),
			route: []string{"<sip:ft.AAAA@192.0.2.2:5060;lr;ob;node=n2>"},
			mf:    "69", rr: []string{"<sip:192.0.2.1:5060;lr>"}, viaName: "UDP",
		},
		{
			// ... and the node that holds the flow sends over it, not to
			// itself through its own Path.
			name: "binding held by this node goes over its flow",
			binding: location.Binding{Contact: "sip:bob@10.0.0.5:5062", Source: ap("198.51.100.20:40000"),
				Path: []string{"<sip:ft.AAAA@192.0.2.1:5060;lr;ob;node=n1>"}},
			dst: target(transport.UDP, "198.51.100.20:40000"),
			mf:  "69", rr: []string{"<sip:192.0.2.1:5060;lr>"}, viaName: "UDP",
		},
		{
			// RFC 5658: in on UDP, out on TCP: two Record-Route entries, the
			// outgoing interface's on top, each marked r2=on.
			name: "binding on TCP is double record-routed",
			binding: location.Binding{Contact: "sip:bob@10.0.0.5:5062;transport=tcp", Source: ap("198.51.100.20:50000"),
				Transport: "tcp", ConnID: 42},
			dst:     transport.Target{Proto: transport.TCP, Addr: ap("198.51.100.20:50000"), Conn: 42},
			mf:      "69",
			rr:      []string{"<sip:192.0.2.1:5060;transport=tcp;r2=on;lr>", "<sip:192.0.2.1:5060;r2=on;lr>"},
			viaName: "TCP",
		},
		{
			// RFC 7118: a web phone on its WSS connection; the URI
			// transport parameter of WS and WSS alike is "ws" (§5.2).
			name: "web phone on WSS is double record-routed with transport=ws",
			binding: location.Binding{Contact: "sip:k3@df7jal23ls0d.invalid;transport=ws", Source: ap("198.51.100.20:52100"),
				Transport: "wss", ConnID: 43, Local: ap("192.0.2.1:8443")},
			dst:     transport.Target{Proto: transport.WSS, Addr: ap("198.51.100.20:52100"), Conn: 43},
			mf:      "69",
			rr:      []string{"<sip:192.0.2.1:8443;transport=ws;r2=on;lr>", "<sip:192.0.2.1:5060;r2=on;lr>"},
			viaName: "WSS", viaAt: "192.0.2.1:8443",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, defaultConfig())
			f.tp.listeners = append(f.tp.listeners,
				&transport.ListenerInfo{Proto: transport.WSS, Bound: ap("192.0.2.1:8443"), Host: "192.0.2.1", Port: 8443})
			f.bind("sip:bob@example.com", tt.binding)
			in := req(t, "invite.sip", tt.edits...)
			tx := f.serve(in)
			if got := tx.statuses(); len(got) != 0 {
				t.Fatalf("proxy answered %q, want the request forwarded", got)
			}
			c := onlyBranch(t, f)
			if !sameDst(c.dst, tt.dst) {
				t.Errorf("sent to %+v, want %+v", c.dst, tt.dst)
			}
			out := c.req
			if out.Method() != "INVITE" || out.RequestURI() != tt.binding.Contact {
				t.Errorf("request line = %s %s, want INVITE %s", out.Method(), out.RequestURI(), tt.binding.Contact)
			}
			viaAt := tt.viaAt
			if viaAt == "" {
				viaAt = "192.0.2.1:5060"
			}
			ourVia(t, "forwarded INVITE", out, tt.viaName, viaAt)
			checkHeaders(t, "forwarded INVITE", out, map[string][]string{
				"Via":          {lines(out, "Via")[0], uacVia},
				"Max-Forwards": {tt.mf},
				"Route":        tt.route,
				"Record-Route": tt.rr,
				"From":         {"Alice <sip:alice@example.com>;tag=a1"},
				"To":           {"Bob <sip:bob@example.com>"},
				"Call-ID":      {"c1@198.51.100.7"},
				"CSeq":         {"1 INVITE"},
				"Contact":      {"<sip:alice@198.51.100.7:5060>"},
			})
		})
	}
}

// TestForwardFromTheRegisteredFlowsListener: a phone behind NAT is reached
// only from the address and port it registered to (RFC 3581 §4, RFC 5626
// §5.3: a flow is both ends' addresses). With two UDP listeners, a
// binding that came in on 192.0.2.1:5080 must be sent to from that socket,
// with our Via and Record-Route naming it.
func TestForwardFromTheRegisteredFlowsListener(t *testing.T) {
	f := newFixture(t, defaultConfig())
	l5080 := &transport.ListenerInfo{Proto: transport.UDP, Bound: ap("192.0.2.1:5080"), Host: "192.0.2.1", Port: 5080}
	f.tp.listeners = append(f.tp.listeners, l5080)
	f.bind("sip:bob@example.com", location.Binding{Contact: "sip:bob@10.0.0.5:5062", Source: ap("198.51.100.20:40000"),
		Local: ap("192.0.2.1:5080")})
	f.serve(req(t, "invite.sip"))
	c := onlyBranch(t, f)
	if c.dst.Listener == nil || c.dst.Listener.Bound != l5080.Bound {
		t.Errorf("sent from listener %+v, want the one the binding registered on (192.0.2.1:5080)", c.dst.Listener)
	}
	ourVia(t, "forwarded INVITE", c.req, "UDP", "192.0.2.1:5080")
	checkHeaders(t, "forwarded INVITE", c.req, map[string][]string{
		"Record-Route": {"<sip:192.0.2.1:5080;r2=on;lr>", "<sip:192.0.2.1:5060;r2=on;lr>"},
	})
}

// TestRouteProcessing is §16.4 and §16.6 steps 6-7: our own Route entries
// are removed, a strict router's rewrite undone, and the request goes to
// the next Route, or to the Request-URI when no Route is left.
func TestRouteProcessing(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		edits []string
		ruri  string
		route []string
		dst   transport.Target
		via   string // transport of our Via
		rr    []string
	}{
		{
			name:  "our Route is removed and the request sent to the next",
			file:  "invite.sip",
			edits: []string{"RURI sip:carol@203.0.113.50", "Route: <sip:192.0.2.1;lr>", "+Route: <sip:203.0.113.9:5080;lr>"},
			ruri:  "sip:carol@203.0.113.50",
			route: []string{"<sip:203.0.113.9:5080;lr>"},
			dst:   target(transport.UDP, "203.0.113.9:5080"),
			via:   "UDP", rr: []string{"<sip:192.0.2.1:5060;lr>"},
		},
		{
			name:  "our Route on one line with the next",
			file:  "invite.sip",
			edits: []string{"RURI sip:carol@203.0.113.50", "Route: <sip:192.0.2.1:5060;lr>, <sip:203.0.113.9:5080;lr>"},
			ruri:  "sip:carol@203.0.113.50",
			route: []string{"<sip:203.0.113.9:5080;lr>"},
			dst:   target(transport.UDP, "203.0.113.9:5080"),
			via:   "UDP", rr: []string{"<sip:192.0.2.1:5060;lr>"},
		},
		{
			name:  "our Route naming our TCP listener",
			file:  "invite.sip",
			edits: []string{"RURI sip:carol@203.0.113.50", "Route: <sip:192.0.2.1:5060;transport=tcp;lr>", "+Route: <sip:203.0.113.9:5080;lr>"},
			ruri:  "sip:carol@203.0.113.50",
			route: []string{"<sip:203.0.113.9:5080;lr>"},
			dst:   target(transport.UDP, "203.0.113.9:5080"),
			via:   "UDP", rr: []string{"<sip:192.0.2.1:5060;lr>"},
		},
		{
			name:  "a Route that is not ours is followed",
			file:  "invite.sip",
			edits: []string{"Route: <sip:203.0.113.9:5080;lr>"},
			ruri:  "sip:bob@example.com",
			route: []string{"<sip:203.0.113.9:5080;lr>"},
			dst:   target(transport.UDP, "203.0.113.9:5080"),
			via:   "UDP", rr: []string{"<sip:192.0.2.1:5060;lr>"},
		},
		{
			name: "in-dialog BYE: our Route removed, sent to the Request-URI",
			file: "bye.sip",
			ruri: "sip:bob@198.51.100.20:5062",
			dst:  target(transport.UDP, "198.51.100.20:5062"),
			via:  "UDP",
		},
		{
			name: "in-dialog BYE through our double Record-Route",
			file: "bye.sip",
			edits: []string{"RURI sip:bob@198.51.100.20:50000;transport=tcp",
				"Route: <sip:192.0.2.1:5060;r2=on;lr>", "+Route: <sip:192.0.2.1:5060;transport=tcp;r2=on;lr>"},
			ruri: "sip:bob@198.51.100.20:50000;transport=tcp",
			dst:  target(transport.TCP, "198.51.100.20:50000"),
			via:  "TCP",
		},
		{
			// §16.4: the previous hop was a strict router: the Request-URI is
			// the URI we record-routed with, the real one is the last Route.
			name:  "strict router: last Route becomes the Request-URI",
			file:  "bye.sip",
			edits: []string{"RURI sip:192.0.2.1:5060;lr", "Route: <sip:bob@198.51.100.20:5062>"},
			ruri:  "sip:bob@198.51.100.20:5062",
			dst:   target(transport.UDP, "198.51.100.20:5062"),
			via:   "UDP",
		},
		{
			name:  "strict router with a further Route",
			file:  "bye.sip",
			edits: []string{"RURI sip:192.0.2.1:5060;lr", "Route: <sip:203.0.113.9:5080;lr>", "+Route: <sip:bob@198.51.100.20:5062>"},
			ruri:  "sip:bob@198.51.100.20:5062",
			route: []string{"<sip:203.0.113.9:5080;lr>"},
			dst:   target(transport.UDP, "203.0.113.9:5080"),
			via:   "UDP",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, defaultConfig())
			f.bind("sip:bob@example.com", location.Binding{Contact: "sip:bob@10.0.0.5:5062", Source: ap("198.51.100.20:40000")})
			in := req(t, tt.file, tt.edits...)
			uac := lines(in, "Via")
			c := forwardedOnce(t, f, in, tt.dst, tt.ruri)
			ourVia(t, "forwarded", c.req, tt.via, "192.0.2.1:5060")
			checkHeaders(t, "forwarded", c.req, map[string][]string{
				"Via":          append([]string{lines(c.req, "Via")[0]}, uac...),
				"Route":        tt.route,
				"Record-Route": tt.rr,
				"Max-Forwards": {"69"},
			})
		})
	}
}

// TestLargeRequestMovesToTCP: §18.1.1, a request above 1300 bytes whose
// URI does not pin UDP goes by TCP; our Via then names TCP and, since it
// arrived on UDP, we double record-route. ;transport=udp keeps it on UDP.
func TestLargeRequestMovesToTCP(t *testing.T) {
	body := "v=0\r\n" + strings.Repeat("a=x-padding:0123456789abcdef0123456789abcdef\r\n", 32)
	tests := []struct {
		name string
		ruri string
		dst  transport.Target
		via  string
		rr   []string
	}{
		{"large request to a URI without transport", "sip:carol@203.0.113.50",
			target(transport.TCP, "203.0.113.50:5060"), "TCP",
			[]string{"<sip:192.0.2.1:5060;transport=tcp;r2=on;lr>", "<sip:192.0.2.1:5060;r2=on;lr>"}},
		{"large request to a URI pinned to UDP", "sip:carol@203.0.113.50;transport=udp",
			target(transport.UDP, "203.0.113.50:5060"), "UDP",
			[]string{"<sip:192.0.2.1:5060;lr>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, defaultConfig())
			f.tp.tcpAbove = 1300
			f.serve(req(t, "invite.sip", "RURI "+tt.ruri, "Content-Type: application/sdp", "BODY "+body))
			c := onlyBranch(t, f)
			if !sameDst(c.dst, tt.dst) {
				t.Errorf("sent to %+v, want %+v", c.dst, tt.dst)
			}
			ourVia(t, "forwarded", c.req, tt.via, "192.0.2.1:5060")
			checkHeaders(t, "forwarded", c.req, map[string][]string{"Record-Route": tt.rr})
			if string(c.req.Body()) != body {
				t.Errorf("body changed in forwarding")
			}
		})
	}
}

// TestLargeRequestFallsBackToUDP: §18.1.1, when the TCP connection a
// large request moved to is refused (a phone registered over UDP that does
// not listen on TCP), the request goes by UDP after all, with a UDP Via and
// a single Record-Route, instead of failing the call with 503.
func TestLargeRequestFallsBackToUDP(t *testing.T) {
	body := "v=0\r\n" + strings.Repeat("a=x-padding:0123456789abcdef0123456789abcdef\r\n", 32)
	f := newFixture(t, defaultConfig())
	f.tp.tcpAbove = 1300
	f.txs.failProto = map[transport.Proto]bool{transport.TCP: true}
	tx := f.serve(req(t, "invite.sip", "RURI sip:carol@203.0.113.50", "Content-Type: application/sdp", "BODY "+body))
	c := onlyBranch(t, f)
	if want := target(transport.UDP, "203.0.113.50:5060"); !sameDst(c.dst, want) {
		t.Errorf("sent to %+v, want %+v", c.dst, want)
	}
	ourVia(t, "forwarded", c.req, "UDP", "192.0.2.1:5060")
	checkHeaders(t, "forwarded", c.req, map[string][]string{"Record-Route": {"<sip:192.0.2.1:5060;lr>"}})
	for _, r := range tx.responses() {
		if r.StatusCode() >= 300 {
			t.Errorf("answered %q, want the request forwarded over UDP", status(r))
		}
	}
}

// TestRegister: a REGISTER for our domain is answered by the registrar
// (§10.3), also when it was sent through us as outbound proxy; the binding
// it makes is where a call then goes. A REGISTER for another domain is
// proxied like any request (§10.2: the registrar is the domain's).
func TestRegister(t *testing.T) {
	for _, edits := range [][]string{nil, {"Route: <sip:192.0.2.1;lr>"}} {
		name := "REGISTER for our domain"
		if edits != nil {
			name += " through us as outbound proxy"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, defaultConfig())
			m := req(t, "register.sip", edits...)
			tx := f.serve(m)
			resps := tx.responses()
			if len(resps) != 1 {
				t.Fatalf("responses = %q, want one 200", tx.statuses())
			}
			checkLocalResponse(t, f, m, resps[0], 200, "OK", map[string][]string{
				"Contact":   {"<sip:carol@198.51.100.7:5060>;expires=3600"},
				"Supported": {"path, outbound, gruu"},
				"Date":      {"Tue, 24 Nov 2026 12:00:00 GMT"},
			})
			if got := f.txs.all(""); len(got) != 0 {
				t.Fatalf("forwarded %d requests, want none", len(got))
			}
			// The call that follows reaches the phone where it registered from.
			f.serve(req(t, "invite.sip", "RURI sip:carol@example.com", "To: <sip:carol@example.com>"))
			c := onlyBranch(t, f)
			if c.req.RequestURI() != "sip:carol@198.51.100.7:5060" || !sameDst(c.dst, target(transport.UDP, "198.51.100.7:5060")) {
				t.Errorf("INVITE for carol went to %s via %+v, want sip:carol@198.51.100.7:5060 via udp 198.51.100.7:5060", c.req.RequestURI(), c.dst)
			}
		})
	}

	t.Run("REGISTER for a foreign domain is forwarded by an open relay", func(t *testing.T) {
		cfg := defaultConfig()
		cfg.OpenRelay = func() bool { return true }
		f := newFixture(t, cfg)
		m := req(t, "register.sip", "RURI sip:203.0.113.50", "From: <sip:carol@203.0.113.50>;tag=r1", "To: <sip:carol@203.0.113.50>")
		tx := f.serve(m)
		if got := tx.statuses(); len(got) != 0 {
			t.Fatalf("proxy answered %q, want the REGISTER forwarded", got)
		}
		c := onlyBranch(t, f)
		if !sameDst(c.dst, target(transport.UDP, "203.0.113.50:5060")) {
			t.Errorf("sent to %+v, want udp 203.0.113.50:5060", c.dst)
		}
		if c.req.Method() != "REGISTER" || c.req.RequestURI() != "sip:203.0.113.50" {
			t.Errorf("request line = %s %s, want REGISTER sip:203.0.113.50", c.req.Method(), c.req.RequestURI())
		}
		ourVia(t, "forwarded REGISTER", c.req, "UDP", "192.0.2.1:5060")
		checkHeaders(t, "forwarded REGISTER", c.req, map[string][]string{
			"Via":          {lines(c.req, "Via")[0], "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKreg1"},
			"Max-Forwards": {"69"},
			"Record-Route": nil, // REGISTER makes no dialog
			"Contact":      {"<sip:carol@198.51.100.7:5060>"},
			"Expires":      {"3600"},
		})
		c.deliver(t, 200, "reg-tag", "Contact", "<sip:carol@198.51.100.7:5060>;expires=1800")
		resps := tx.responses()
		if len(resps) != 1 || resps[0].StatusCode() != 200 {
			t.Fatalf("upstream = %q, want the registrar's 200", tx.statuses())
		}
		checkHeaders(t, "200 upstream", resps[0], map[string][]string{
			"Via":     {"SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKreg1"},
			"To":      {"<sip:carol@203.0.113.50>;tag=reg-tag"},
			"Contact": {"<sip:carol@198.51.100.7:5060>;expires=1800"},
		})
		if n, _ := f.store.Count(); n != 0 {
			t.Errorf("the foreign REGISTER left %d bindings here, want 0", n)
		}
	})
}

// TestLoopDetection is §16.3 step 4 with §16.6 step 8: a request that
// comes back with a Via of ours whose branch was made for this very
// request has looped (482); one that comes back changed is a spiral and is
// processed again.
func TestLoopDetection(t *testing.T) {
	// first forwards an INVITE for a foreign user and returns what we sent.
	first := func(t *testing.T, f *fixture) *sip.Message {
		t.Helper()
		f.serve(req(t, "invite.sip", "RURI sip:carol@203.0.113.50", "To: <sip:carol@203.0.113.50>"))
		return onlyBranch(t, f).req
	}
	// back is what the next hop (203.0.113.50) sends back to us: the same
	// request with its Via on top, Max-Forwards decremented, and edits.
	back := func(t *testing.T, out *sip.Message, ruri string) *transport.Incoming {
		t.Helper()
		m := parse(t, out.String())
		m.PrependHeader("Via", "SIP/2.0/UDP 203.0.113.50:5060;branch=z9hG4bKnexthop1")
		m.SetMaxForwards(68)
		if ruri != "" {
			m.SetRequestURI(ruri)
		}
		in := incoming(parse(t, m.String()))
		in.Source = ap("203.0.113.50:5060")
		return in
	}

	t.Run("Via with our branch for this request", func(t *testing.T) {
		f := newFixture(t, defaultConfig())
		m := req(t, "invite.sip", "RURI sip:carol@203.0.113.50", "To: <sip:carol@203.0.113.50>")
		hash := f.p.loopHash(m)
		m = req(t, "invite.sip", "RURI sip:carol@203.0.113.50", "To: <sip:carol@203.0.113.50>",
			"Via: SIP/2.0/UDP 203.0.113.50:5060;branch=z9hG4bKnexthop1",
			"+Via: SIP/2.0/UDP 192.0.2.1:5060;branch="+sip.MagicCookie+"P"+hash+".x1",
			"+Via: "+uacVia)
		tx := f.serve(m)
		resps := tx.responses()
		if len(resps) != 1 {
			t.Fatalf("responses = %q, want 482", tx.statuses())
		}
		checkLocalResponse(t, f, m, resps[0], 482, "Loop Detected", nil)
		if n := len(f.txs.all("")); n != 0 {
			t.Errorf("forwarded %d requests, want none", n)
		}
	})

	t.Run("request we forwarded comes back unchanged through another proxy", func(t *testing.T) {
		f := newFixture(t, defaultConfig())
		out := first(t, f)
		tx := f.serveIn(back(t, out, ""))
		if got := tx.statuses(); len(got) != 1 || got[0] != "482 Loop Detected" {
			t.Fatalf("responses = %q, want [482 Loop Detected]", got)
		}
		if n := len(f.txs.all("")); n != 1 {
			t.Errorf("%d requests forwarded in all, want only the first", n)
		}
	})

	t.Run("request we forwarded comes straight back to us", func(t *testing.T) {
		// The next hop resolved to ourselves: the looped request's top Via
		// is ours. §16.3 step 4 looks at every Via, the top one included.
		f := newFixture(t, defaultConfig())
		out := first(t, f)
		in := incoming(parse(t, out.String()))
		in.Source = ap("192.0.2.1:5060")
		tx := f.serveIn(in)
		if got := tx.statuses(); len(got) != 1 || got[0] != "482 Loop Detected" {
			t.Fatalf("responses = %q, want [482 Loop Detected]", got)
		}
		if n := len(f.txs.all("")); n != 1 {
			t.Errorf("%d requests forwarded in all, want only the first", n)
		}
	})

	t.Run("spiral: back with a new Request-URI", func(t *testing.T) {
		f := newFixture(t, defaultConfig())
		f.bind("sip:bob@example.com", location.Binding{Contact: "sip:bob@10.0.0.5:5062", Source: ap("198.51.100.20:40000")})
		out := first(t, f)
		firstBranch := topBranch(t, out)
		tx := f.serveIn(back(t, out, "sip:bob@example.com"))
		if got := tx.statuses(); len(got) != 0 {
			t.Fatalf("proxy answered the spiral with %q, want it forwarded", got)
		}
		txs := f.txs.all("INVITE")
		if len(txs) != 2 {
			t.Fatalf("%d INVITEs forwarded, want 2", len(txs))
		}
		c := txs[1]
		if c.req.RequestURI() != "sip:bob@10.0.0.5:5062" || !sameDst(c.dst, target(transport.UDP, "198.51.100.20:40000")) {
			t.Errorf("spiral forwarded to %s via %+v, want bob's binding", c.req.RequestURI(), c.dst)
		}
		b := ourVia(t, "spiralled INVITE", c.req, "UDP", "192.0.2.1:5060")
		if b == firstBranch {
			t.Errorf("spiral reused the first branch %q", b)
		}
		checkHeaders(t, "spiralled INVITE", c.req, map[string][]string{
			"Via": {"SIP/2.0/UDP 192.0.2.1:5060;branch=" + b, "SIP/2.0/UDP 203.0.113.50:5060;branch=z9hG4bKnexthop1",
				"SIP/2.0/UDP 192.0.2.1:5060;branch=" + firstBranch, uacVia},
			"Max-Forwards": {"67"},
			"Record-Route": {"<sip:192.0.2.1:5060;lr>", "<sip:192.0.2.1:5060;lr>"},
		})
	})
}
