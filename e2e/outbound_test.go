package e2e

// SIP Outbound (RFC 5626) and GRUU (RFC 5627) against the real binary,
// with a small SIP phone written here: it registers flows over TCP (or
// UDP), answers the INVITEs that reach it, and closes flows on purpose.

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v3"

	"github.com/parley-sip/parley/sip"
)

// flowPhone is one flow of a phone: a TCP connection to parley on which
// it registers and takes requests, which it answers with 200.
type flowPhone struct {
	t         *testing.T
	name      string
	conn      net.Conn
	responses chan *sip.Message
	requests  chan *sip.Message
	mu        sync.Mutex
	closed    bool
}

func dialFlow(t *testing.T, p *parley, name string) *flowPhone {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	f := &flowPhone{t: t, name: name, conn: c, responses: make(chan *sip.Message, 16), requests: make(chan *sip.Message, 16)}
	t.Cleanup(f.close)
	go f.read()
	return f
}

func (f *flowPhone) read() {
	var fr sip.Framer
	buf := make([]byte, 65535)
	for {
		n, err := f.conn.Read(buf)
		if err != nil {
			return
		}
		fr.Write(buf[:n])
		for {
			frame, ok, err := fr.Next()
			if err != nil || !ok {
				break
			}
			if frame.Ping {
				continue
			}
			m, err := sip.Parse(frame.Message)
			if err != nil {
				continue
			}
			if m.IsRequest() {
				f.answer(m)
				f.requests <- m
			} else {
				f.responses <- m
			}
		}
	}
}

// answer says 200 to an INVITE (or any request) that reached this flow.
func (f *flowPhone) answer(req *sip.Message) {
	if req.Method() == "ACK" {
		return
	}
	resp := sip.NewResponse(req, 200, "OK", "ph-"+f.name, "Contact", "<sip:bob@"+f.conn.LocalAddr().String()+";transport=tcp;ob>")
	f.conn.Write(resp.Bytes())
}

func (f *flowPhone) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		f.conn.Close()
	}
}

// register sends a REGISTER for bob with an instance and reg-id and
// returns the final response.
func (f *flowPhone) register(instance string, regID int, callID string, cseq int, expires int) *sip.Message {
	f.t.Helper()
	local := f.conn.LocalAddr().String()
	params := fmt.Sprintf(`+sip.instance="<%s>"`, instance)
	if regID > 0 {
		params += fmt.Sprintf(";reg-id=%d", regID)
	}
	req := "REGISTER sip:example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP " + local + ";branch=z9hG4bK" + randomToken() + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:bob@example.com>;tag=" + randomToken() + "\r\n" +
		"To: <sip:bob@example.com>\r\n" +
		"Call-ID: " + callID + "\r\n" +
		fmt.Sprintf("CSeq: %d REGISTER\r\n", cseq) +
		"Supported: outbound, gruu, path\r\n" +
		"Contact: <sip:bob@" + local + ";transport=tcp;ob>;" + params + "\r\n" +
		fmt.Sprintf("Expires: %d\r\n", expires) +
		"Content-Length: 0\r\n\r\n"
	if _, err := f.conn.Write([]byte(req)); err != nil {
		f.t.Fatal(err)
	}
	select {
	case m := <-f.responses:
		return m
	case <-time.After(5 * time.Second):
		f.t.Fatalf("%s: no answer to REGISTER", f.name)
		return nil
	}
}

// expectRequest waits for a request on this flow.
func (f *flowPhone) expectRequest(within time.Duration) *sip.Message {
	f.t.Helper()
	select {
	case m := <-f.requests:
		return m
	case <-time.After(within):
		f.t.Fatalf("%s: no request arrived", f.name)
		return nil
	}
}

// expectNothing checks that no request reaches this flow for a while.
func (f *flowPhone) expectNothing(d time.Duration) {
	f.t.Helper()
	select {
	case m := <-f.requests:
		f.t.Fatalf("%s: unexpected %s %s", f.name, m.Method(), m.RequestURI())
	case <-time.After(d):
	}
}

func randomToken() string { return fmt.Sprintf("%x", time.Now().UnixNano()) }

// call sends an INVITE to ruri over UDP from a caller and returns its
// final response's start line.
func call(t *testing.T, p *parley, ruri string) string {
	t.Helper()
	final := finalAnswer(t, p.Addr, func(local string) string {
		return "INVITE " + ruri + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + randomToken() + ";rport\r\n" +
			"Max-Forwards: 70\r\n" +
			"From: <sip:alice@example.com>;tag=caller\r\n" +
			"To: <" + ruri + ">\r\n" +
			"Call-ID: call-" + randomToken() + "\r\n" +
			"CSeq: 1 INVITE\r\n" +
			"Contact: <sip:alice@" + local + ">\r\n" +
			"Content-Length: 0\r\n\r\n"
	})
	line, _, _ := strings.Cut(final, "\r\n")
	return line
}

func okWithOutbound(t *testing.T, resp *sip.Message) {
	t.Helper()
	if resp.StatusCode() != 200 || !resp.HasToken("Require", "outbound") || resp.Header("Flow-Timer") != "120" {
		t.Fatalf("REGISTER answered %d %s, Require %q, Flow-Timer %q", resp.StatusCode(), resp.Reason(), resp.Header("Require"), resp.Header("Flow-Timer"))
	}
}

// A phone with two TCP flows survives losing one: the call reaches it
// over the other; once both are gone, 430 Flow Failed.
func TestOutboundTwoFlowsFailover(t *testing.T) {
	p := startParley(t)
	const inst = "urn:uuid:6c5e1d8a-1f4b-4c2e-9a57-0d3b1e2f4a01"
	a, b := dialFlow(t, p, "flow1"), dialFlow(t, p, "flow2")
	okWithOutbound(t, a.register(inst, 1, "reg-flow1", 1, 600))
	okWithOutbound(t, b.register(inst, 2, "reg-flow2", 1, 600))

	if got := call(t, p, "sip:bob@example.com"); got != "SIP/2.0 200 OK" {
		t.Fatalf("call with both flows: %s", got)
	}
	b.expectRequest(time.Second) // the newer flow carries it…
	a.expectNothing(300 * time.Millisecond)

	b.close()
	time.Sleep(200 * time.Millisecond) // parley sees the connection close
	if got := call(t, p, "sip:bob@example.com"); got != "SIP/2.0 200 OK" {
		t.Fatalf("call after losing flow2: %s", got)
	}
	a.expectRequest(time.Second)

	a.close()
	time.Sleep(200 * time.Millisecond)
	if got := call(t, p, "sip:bob@example.com"); got != "SIP/2.0 430 Flow Failed" {
		t.Fatalf("call with every flow gone: %s, want 430 Flow Failed", got)
	}
}

// A GRUU reaches its instance only, never the AOR's other phone; once
// that instance deregisters, its GRUU gets 480.
func TestGRUURoutesToOneInstance(t *testing.T) {
	p := startParley(t)
	const inst1 = "urn:uuid:6c5e1d8a-1f4b-4c2e-9a57-0d3b1e2f4a11"
	const inst2 = "urn:uuid:6c5e1d8a-1f4b-4c2e-9a57-0d3b1e2f4a22"
	ph1, ph2 := dialFlow(t, p, "phone1"), dialFlow(t, p, "phone2")
	r1 := ph1.register(inst1, 1, "reg-phone1", 1, 600)
	okWithOutbound(t, r1)
	r2 := ph2.register(inst2, 1, "reg-phone2", 1, 600)
	okWithOutbound(t, r2)
	pub1 := gruuOf(t, r1, inst1, "pub-gruu")
	temp2 := gruuOf(t, r2, inst2, "temp-gruu")
	if want := "sip:bob@example.com;gr=" + inst1; pub1 != want {
		t.Fatalf("pub-gruu %q, want %q", pub1, want)
	}

	if got := call(t, p, pub1); got != "SIP/2.0 200 OK" {
		t.Fatalf("call to phone1's public GRUU: %s", got)
	}
	ph1.expectRequest(time.Second)
	ph2.expectNothing(300 * time.Millisecond)

	if got := call(t, p, temp2); got != "SIP/2.0 200 OK" {
		t.Fatalf("call to phone2's temporary GRUU: %s", got)
	}
	ph2.expectRequest(time.Second)
	ph1.expectNothing(300 * time.Millisecond)

	if r := ph1.register(inst1, 1, "reg-phone1", 2, 0); r.StatusCode() != 200 {
		t.Fatalf("deregistering phone1: %d", r.StatusCode())
	}
	if got := call(t, p, pub1); got != "SIP/2.0 480 Temporarily Unavailable" {
		t.Fatalf("call to a deregistered instance's GRUU: %s, want 480", got)
	}
	if got := call(t, p, "sip:bob@example.com"); got != "SIP/2.0 200 OK" {
		t.Fatalf("call to the AOR: %s", got)
	}
	ph2.expectRequest(time.Second)
}

// gruuOf finds the GRUU parameter of the response's Contact for instance.
func gruuOf(t *testing.T, resp *sip.Message, instance, param string) string {
	t.Helper()
	cs, err := resp.Contacts()
	if err != nil {
		t.Fatal(err)
	}
	for i := range cs {
		if v, _ := cs[i].Params.Get("+sip.instance"); strings.Contains(v, instance) {
			g, ok := cs[i].Params.Get(param)
			if !ok {
				t.Fatalf("no %s in %v", param, resp.HeaderValues("Contact"))
			}
			return strings.Trim(g, `"`)
		}
	}
	t.Fatalf("no Contact of %s in %v", instance, resp.HeaderValues("Contact"))
	return ""
}

// Keep-alives (RFC 5626 §4.4): a STUN binding request to the UDP SIP
// port is answered with the address it came from; a double CRLF over
// TCP is answered with one CRLF.
func TestOutboundKeepalives(t *testing.T) {
	p := startParley(t)
	u, err := net.Dial("udp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for range 3 {
		req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		u.Write(req.Raw)
		u.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 1500)
		n, err := u.Read(buf)
		if err != nil {
			t.Fatalf("no STUN answer: %v", err)
		}
		var resp stun.Message
		if err := stun.Decode(buf[:n], &resp); err != nil || resp.Type != stun.BindingSuccess || resp.TransactionID != req.TransactionID {
			t.Fatalf("STUN answer %v (%v)", resp.Type, err)
		}
		var xa stun.XORMappedAddress
		if err := xa.GetFrom(&resp); err != nil {
			t.Fatal(err)
		}
		ip, _ := netip.AddrFromSlice(xa.IP)
		if got, want := netip.AddrPortFrom(ip.Unmap(), uint16(xa.Port)).String(), u.LocalAddr().String(); got != want {
			t.Fatalf("XOR-MAPPED-ADDRESS %s, want %s", got, want)
		}
	}

	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		c.Write([]byte("\r\n\r\n"))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 16)
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], []byte("\r\n")) {
			t.Fatalf("pong %q, %v", buf[:n], err)
		}
	}
}

// udpPhone is a phone on a UDP socket that the test drives message by
// message.
type udpPhone struct {
	t    *testing.T
	conn *net.UDPConn
	srv  *net.UDPAddr
}

func newUDPPhone(t *testing.T, p *parley) *udpPhone {
	t.Helper()
	srv, _ := net.ResolveUDPAddr("udp", p.Addr)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpPhone{t: t, conn: c, srv: srv}
}

func (u *udpPhone) local() string { return u.conn.LocalAddr().String() }

func (u *udpPhone) send(m string) {
	if _, err := u.conn.WriteToUDP([]byte(m), u.srv); err != nil {
		u.t.Fatal(err)
	}
}

// next reads messages until one satisfies want.
func (u *udpPhone) next(what string, want func(*sip.Message) bool) *sip.Message {
	u.t.Helper()
	buf := make([]byte, 65535)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		u.conn.SetReadDeadline(deadline)
		n, _, err := u.conn.ReadFromUDP(buf)
		if err != nil {
			break
		}
		if m, err := sip.Parse(append([]byte(nil), buf[:n]...)); err == nil && want(m) {
			return m
		}
	}
	u.t.Fatalf("no %s arrived", what)
	return nil
}

// A call the phone makes on its flow, with ;ob in its Contact, keeps the
// dialog on the flow: the callee's BYE reaches the phone over it though
// its Contact names an address nobody listens at, and once the flow has
// closed the callee's next request gets 430 Flow Failed.
func TestOutboundFlowTokenDialog(t *testing.T) {
	p := startParley(t)
	alice := newUDPPhone(t, p)
	alice.send("REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP " + alice.local() + ";branch=z9hG4bKa1;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:alice@example.com>\r\nCall-ID: reg-alice\r\n" +
		"CSeq: 1 REGISTER\r\nContact: <sip:alice@" + alice.local() + ">\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n")
	alice.next("200 to alice's REGISTER", func(m *sip.Message) bool { return m.StatusCode() == 200 })

	bob := dialFlow(t, p, "bob")
	okWithOutbound(t, bob.register("urn:uuid:6c5e1d8a-1f4b-4c2e-9a57-0d3b1e2f4a33", 1, "reg-bob", 1, 600))
	// A Contact at TEST-NET-1 port 9: only the flow token can bring a
	// request back to bob.
	bob.conn.Write([]byte("INVITE sip:alice@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP " + bob.conn.LocalAddr().String() + ";branch=z9hG4bKb1;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=b1\r\nTo: <sip:alice@example.com>\r\n" +
		"Call-ID: dialog-1\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@192.0.2.1:9;transport=tcp;ob>\r\nContent-Length: 0\r\n\r\n"))
	inv := alice.next("INVITE at alice", func(m *sip.Message) bool { return m.Method() == "INVITE" })
	rr := inv.HeaderValues("Record-Route")
	if !strings.Contains(strings.Join(rr, ","), "ft.") {
		t.Fatalf("Record-Route %v carries no flow token", rr)
	}
	ok := sip.NewResponse(inv, 200, "OK", "al", "Contact", "<sip:alice@"+alice.local()+">")
	alice.conn.WriteToUDP(ok.Bytes(), alice.srv)
	for final := false; !final; {
		select {
		case m := <-bob.responses:
			if code := m.StatusCode(); code >= 200 {
				if code != 200 {
					t.Fatalf("bob got %d", code)
				}
				final = true
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the 200 never reached bob")
		}
	}

	bye := func(cseq int) string {
		return "BYE sip:bob@192.0.2.1:9;transport=tcp;ob SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + alice.local() + ";branch=z9hG4bKbye" + strconv.Itoa(cseq) + ";rport\r\n" +
			"Max-Forwards: 70\r\nRoute: " + strings.Join(rr, ", ") + "\r\n" +
			"From: <sip:alice@example.com>;tag=al\r\nTo: <sip:bob@example.com>;tag=b1\r\n" +
			"Call-ID: dialog-1\r\nCSeq: " + strconv.Itoa(cseq) + " BYE\r\nContent-Length: 0\r\n\r\n"
	}
	alice.send(bye(2))
	if m := bob.expectRequest(5 * time.Second); m.Method() != "BYE" {
		t.Fatalf("bob got %s, want the BYE", m.Method())
	}
	alice.next("200 to the BYE", func(m *sip.Message) bool { return m.StatusCode() == 200 && m.Header("CSeq") == "2 BYE" })

	bob.close()
	time.Sleep(200 * time.Millisecond)
	alice.send(bye(3))
	resp := alice.next("answer to the BYE after the flow closed", func(m *sip.Message) bool { return m.StatusCode() >= 200 && m.Header("CSeq") == "3 BYE" })
	if resp.StatusCode() != 430 {
		t.Fatalf("after the flow closed: %d %s, want 430 Flow Failed", resp.StatusCode(), resp.Reason())
	}
}

// A phone on a UDP flow: its REGISTER gets Flow-Timer 25 (NATs forget
// quiet UDP mappings after about 30 s), its STUN keep-alives from the
// same socket are answered with the address Parley sees, and a call
// reaches it on that flow.
func TestOutboundUDPFlow(t *testing.T) {
	p := startParley(t)
	ph := registerUDPFlow(t, p, "25")
	for range 2 {
		ph.keepAlive()
	}
	if got := callUDPFlow(t, p, ph, "udp-flow-call"); got != 486 {
		t.Fatalf("caller got %d, want the phone's 486", got)
	}
}

// A UDP flow whose STUN keep-alives stop is failed once its Flow-Timer
// (1 s here) and the 10 s grace have passed (RFC 5626 §4.4.2): the call
// gets 430 Flow Failed instead of going into a NAT mapping that is gone.
func TestOutboundUDPFlowKeepAlivesStop(t *testing.T) {
	cfg := writeConfig(t, "registrar:\n  flow_timer: 1s\n")
	p := startParley(t, "--config", cfg)
	ph := registerUDPFlow(t, p, "1")
	ph.keepAlive()
	if got := callUDPFlow(t, p, ph, "udp-flow-alive"); got != 486 {
		t.Fatalf("while the keep-alives come: caller got %d, want the phone's 486", got)
	}
	time.Sleep(11*time.Second + 500*time.Millisecond)
	if got := callUDPFlow(t, p, nil, "udp-flow-dead"); got != 430 {
		t.Fatalf("after the keep-alives stopped: caller got %d, want 430", got)
	}
}

// registerUDPFlow registers carol's phone with SIP Outbound over UDP and
// checks the 200's Flow-Timer.
func registerUDPFlow(t *testing.T, p *parley, flowTimer string) *udpPhone {
	t.Helper()
	ph := newUDPPhone(t, p)
	ph.send("REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP " + ph.local() + ";branch=z9hG4bKu1;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:carol@example.com>;tag=u1\r\nTo: <sip:carol@example.com>\r\nCall-ID: reg-carol\r\n" +
		"CSeq: 1 REGISTER\r\nSupported: outbound, path\r\n" +
		`Contact: <sip:carol@` + ph.local() + `;ob>;+sip.instance="<urn:uuid:6c5e1d8a-1f4b-4c2e-9a57-0d3b1e2f4a44>";reg-id=1` + "\r\n" +
		"Expires: 600\r\nContent-Length: 0\r\n\r\n")
	ok := ph.next("200 to the REGISTER", func(m *sip.Message) bool { return m.StatusCode() >= 200 })
	if ok.StatusCode() != 200 || !ok.HasToken("Require", "outbound") || ok.Header("Flow-Timer") != flowTimer {
		t.Fatalf("REGISTER over UDP: %d, Require %q, Flow-Timer %q", ok.StatusCode(), ok.Header("Require"), ok.Header("Flow-Timer"))
	}
	return ph
}

// keepAlive sends a STUN binding request on the phone's flow and checks
// the answer names the phone's address.
func (u *udpPhone) keepAlive() {
	u.t.Helper()
	req, _ := stun.Build(stun.TransactionID, stun.BindingRequest)
	u.conn.WriteToUDP(req.Raw, u.srv)
	buf := make([]byte, 1500)
	u.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := u.conn.ReadFromUDP(buf)
	var resp stun.Message
	if err != nil || stun.Decode(buf[:n], &resp) != nil || resp.TransactionID != req.TransactionID {
		u.t.Fatalf("STUN keep-alive unanswered: %v", err)
	}
	var xa stun.XORMappedAddress
	if err := xa.GetFrom(&resp); err != nil || xa.Port != u.conn.LocalAddr().(*net.UDPAddr).Port {
		u.t.Fatalf("XOR-MAPPED-ADDRESS %v, %v", xa, err)
	}
}

// callUDPFlow has a new phone call carol and returns the final status it
// gets: the 486 carol's phone answers when ph, if given, sees the INVITE.
func callUDPFlow(t *testing.T, p *parley, ph *udpPhone, callID string) int {
	t.Helper()
	caller := newUDPPhone(t, p)
	caller.send("INVITE sip:carol@example.com SIP/2.0\r\nVia: SIP/2.0/UDP " + caller.local() + ";branch=z9hG4bK" + callID + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:dave@example.com>;tag=d1\r\nTo: <sip:carol@example.com>\r\nCall-ID: " + callID + "\r\n" +
		"CSeq: 1 INVITE\r\nContact: <sip:dave@" + caller.local() + ">\r\nContent-Length: 0\r\n\r\n")
	if ph != nil {
		inv := ph.next("INVITE on the UDP flow", func(m *sip.Message) bool { return m.Method() == "INVITE" })
		ph.conn.WriteToUDP(sip.NewResponse(inv, 486, "Busy Here", "c1").Bytes(), ph.srv)
	}
	return caller.next("the final answer", func(m *sip.Message) bool { return m.StatusCode() >= 200 }).StatusCode()
}
