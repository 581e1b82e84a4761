package b2bua

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// The harness drives the B2BUA without sockets: a fake transaction layer
// keeps every request Parley sends (and lets a test answer it), a fake
// sender keeps the ACKs, a fake server transaction the caller's
// responses, and a fake clock moves time.

var (
	epoch       = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctlListener = &transport.ListenerInfo{Proto: transport.UDP, Bound: netip.MustParseAddrPort("127.0.0.1:5060"), Host: "127.0.0.1", Port: 5060}
	callerAt    = netip.MustParseAddrPort("127.0.0.1:6001")
	calleeAt    = netip.MustParseAddrPort("127.0.0.1:6002")
)

type sent struct {
	req     *sip.Message
	dst     transport.Target
	respond func(*sip.Message)
}

type fakeNet struct {
	mu      sync.Mutex
	reqs    []*sent
	acks    []*sip.Message
	ackDsts []transport.Target
}

func (n *fakeNet) ListenerFor(transport.Proto, netip.Addr) *transport.ListenerInfo {
	return ctlListener
}
func (n *fakeNet) ChooseProto(dst transport.Target, _ int) transport.Proto { return dst.Proto }

type nopTx struct{}

func (nopTx) Terminate() {}

func (n *fakeNet) Request(req *sip.Message, dst transport.Target, on func(*sip.Message)) (outbound.ClientTx, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.reqs = append(n.reqs, &sent{req: req, dst: dst, respond: on})
	return nopTx{}, nil
}

func (n *fakeNet) Send(dst transport.Target, msg []byte) error {
	m, err := sip.Parse(append([]byte(nil), msg...))
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.acks = append(n.acks, m)
	n.ackDsts = append(n.ackDsts, dst)
	n.mu.Unlock()
	return nil
}

// requests returns the requests sent so far with method to addr.
func (n *fakeNet) requests(method string, to netip.AddrPort) []*sent {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*sent
	for _, s := range n.reqs {
		if s.req.Method() == method && s.dst.Addr == to {
			out = append(out, s)
		}
	}
	return out
}

type fakeTx struct {
	mu    sync.Mutex
	resps []*sip.Message
}

func (t *fakeTx) Respond(resp *sip.Message) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.resps = append(t.resps, resp)
	return nil
}

func (t *fakeTx) last() *sip.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.resps) == 0 {
		return nil
	}
	return t.resps[len(t.resps)-1]
}

type harness struct {
	t *testing.T
	// viaStage: calls and the callee's requests (fromB) go through the
	// stages, which ask Config.Vouched and Config.Accountable.
	viaStage bool
	b        *B2BUA
	net      *fakeNet
	clk      *clock.Fake
	mu       sync.Mutex
	records  []cdr.Record
	// noFlow dials the callee by its URI alone, with no flow to reach it.
	noFlow bool
	// arrival stamps the caller's INVITE and in-dialog requests, as the
	// transport does with their receive time.
	arrival sip.Arrival
}

func newHarness(t *testing.T, ct Control, cfg Config) *harness {
	h := &harness{t: t, net: &fakeNet{}, clk: clock.NewFake(epoch)}
	cfg.Outbound = outbound.New(outbound.Config{Transport: h.net, Transactions: h.net})
	cfg.Sender = h.net
	if cfg.Clock == nil {
		cfg.Clock = h.clk
	}
	cfg.Control = ct
	cfg.Record = func(r cdr.Record) {
		h.mu.Lock()
		h.records = append(h.records, r)
		h.mu.Unlock()
	}
	h.b = New(cfg)
	return h
}

func (h *harness) record() (cdr.Record, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.records) == 0 {
		return cdr.Record{}, false
	}
	return h.records[len(h.records)-1], true
}

// parse builds a message from lines joined with CRLF.
func parse(t *testing.T, lines ...string) *sip.Message {
	t.Helper()
	m, err := sip.Parse([]byte(strings.Join(lines, "\r\n") + "\r\n\r\n"))
	if err != nil {
		t.Fatalf("test message: %v", err)
	}
	return m
}

// call is one call driven through the harness.
type call struct {
	h      *harness
	c      *Call
	aTx    *fakeTx
	invite *sip.Message
	aSeq   int
	bOK    *sip.Message
	src    netip.AddrPort // where the caller is
	dst    netip.AddrPort // where the callee is
}

// dial sends the caller's INVITE with extra header lines; the call's B
// leg goes to the callee at calleeAt.
func (h *harness) dial(from string, plan Plan, extra ...string) *call {
	h.t.Helper()
	return h.dialAt(from, callerAt, calleeAt, plan, extra...)
}

// dialAt is dial with the caller at src and the callee at dst.
func (h *harness) dialAt(from string, src, dst netip.AddrPort, plan Plan, extra ...string) *call {
	h.t.Helper()
	lines := append([]string{
		"INVITE sip:bob@example.com SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-" + newID(),
		"Max-Forwards: 70",
		"From: <sip:" + from + ">;tag=" + newID()[:8],
		"To: <sip:bob@example.com>",
		"Call-ID: " + newID() + "@caller",
		"CSeq: 1 INVITE",
		"Contact: <sip:alice@127.0.0.1:6001>",
		"Allow: INVITE, ACK, BYE, CANCEL, UPDATE",
		"Content-Type: application/sdp",
	}, extra...)
	lines = append(lines, "Content-Length: 3", "", "v=0")
	m, err := sip.Parse([]byte(strings.Join(lines, "\r\n")))
	if err != nil {
		h.t.Fatal(err)
	}
	m.SetArrival(h.arrival)
	tx := &fakeTx{}
	in := &transport.Incoming{Msg: m, Proto: transport.UDP, Source: src, Listener: ctlListener}
	dest := transport.Target{Proto: transport.UDP, Addr: dst}
	if h.noFlow {
		dest = transport.Target{} // found by the target's URI, as a phone's UDP binding is
	}
	ts := []target{{uri: "sip:bob@127.0.0.1:6002", dest: dest, trunk: plan.Trunk}}
	if h.viaStage {
		h.b.take(&proxy.Request{Tx: tx, In: in, Msg: m}, plan, ts)
	} else {
		h.b.takeCall(context.Background(), tx, in, plan, ts)
	}
	cl := &call{h: h, aTx: tx, invite: m, aSeq: 1, src: src, dst: dst}
	cid, _ := m.CallID()
	h.b.mu.Lock()
	for _, c := range h.b.calls {
		if c.aCallID == cid {
			cl.c = c
		}
	}
	h.b.mu.Unlock()
	return cl
}

// bInvite returns the latest INVITE sent to the callee.
func (cl *call) bInvite() *sent {
	cl.h.t.Helper()
	var rs []*sent
	for _, s := range cl.h.net.requests("INVITE", cl.dst) {
		if s.req.Header("Call-ID") == cl.c.bCallID {
			rs = append(rs, s)
		}
	}
	if len(rs) == 0 {
		cl.h.t.Fatal("no INVITE reached the callee")
	}
	return rs[len(rs)-1]
}

// answer makes the callee answer the B leg's INVITE with 200 and extra
// header name/value pairs (a Contact among them in place of the
// callee's usual one), and the caller ACK the 2xx.
func (cl *call) answer(extra ...string) {
	cl.h.t.Helper()
	s := cl.bInvite()
	if !slices.Contains(extra, "Contact") {
		extra = append([]string{"Contact", "<sip:bob@127.0.0.1:6002>"}, extra...)
	}
	ok := sip.NewResponse(s.req, 200, "OK", "callee-tag", extra...)
	ok.SetBody("application/sdp", []byte("v=0 callee"))
	ok = reparse(cl.h.t, ok)
	s.respond(ok)
	cl.bOK = ok
	if r := cl.aTx.last(); r == nil || r.StatusCode() != 200 {
		cl.h.t.Fatalf("caller got %v, want 200", r)
	}
	cl.fromA("ACK", 1)
}

// fromA sends an in-dialog request of the caller's; cseq 0 takes the
// next number. It returns the request's server transaction.
func (cl *call) fromA(method string, cseq int, extra ...string) *fakeTx {
	cl.h.t.Helper()
	if cseq == 0 {
		cl.aSeq++
		cseq = cl.aSeq
	}
	ok := cl.aTx.resps[len(cl.aTx.resps)-1]
	lines := append([]string{
		method + " sip:parley@127.0.0.1:5060 SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-" + newID(),
		"Max-Forwards: 70",
		"From: " + cl.invite.Header("From"),
		"To: " + ok.Header("To"),
		"Call-ID: " + cl.invite.Header("Call-ID"),
		"CSeq: " + itoa(cseq) + " " + method,
	}, extra...)
	lines = append(lines, "Content-Length: 0")
	req := parse(cl.h.t, lines...)
	req.SetArrival(cl.h.arrival)
	tx := &fakeTx{}
	l := cl.h.b.leg(req)
	if l == nil {
		cl.h.t.Fatalf("%s matches no leg", method)
	}
	var ptx *fakeTx
	if method != "ACK" {
		ptx = tx
	}
	cl.c.Post(func() {
		if ptx == nil {
			cl.c.inDialog(l, nil, req)
			return
		}
		cl.c.inDialog(l, ptx, req)
	})
	return tx
}

func reparse(t *testing.T, m *sip.Message) *sip.Message {
	t.Helper()
	out, err := sip.Parse(m.AppendTo(nil))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// respondAll answers every request of method to addr not yet answered.
func (h *harness) respondAll(method string, to netip.AddrPort, code int, seen map[*sent]bool) int {
	n := 0
	for _, s := range h.net.requests(method, to) {
		if seen[s] {
			continue
		}
		seen[s] = true
		s.respond(reparse(h.t, sip.NewResponse(s.req, code, sip.ReasonPhrase(code), "")))
		n++
	}
	return n
}
