package transaction

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

var (
	uacAddr   = netip.MustParseAddrPort("192.0.2.1:5060")
	proxyAddr = netip.MustParseAddrPort("192.0.2.10:5060")
	uasAddr   = netip.MustParseAddrPort("192.0.2.20:5060")
)

// sentMsg is one message handed to the fake sender.
type sentMsg struct {
	at      time.Duration // since epoch
	dst     transport.Target
	msg     *sip.Message
	dropped bool
}

// fakeSender records what is sent. It can fail every send, and drop a
// share of UDP datagrams with a seeded generator; deliver, when set,
// receives what is not dropped.
type fakeSender struct {
	mu      sync.Mutex
	clk     *clock.Fake
	sent    []sentMsg
	err     error
	loss    float64
	rng     *rand.Rand
	deliver func(dst transport.Target, b []byte)
}

func newFakeSender(clk *clock.Fake) *fakeSender { return &fakeSender{clk: clk} }

// lossy makes the sender drop share of UDP datagrams, deterministically.
func (s *fakeSender) lossy(share float64, seed uint64) {
	s.loss = share
	s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

func (s *fakeSender) Send(dst transport.Target, b []byte) error {
	m, err := sip.Parse(bytes.Clone(b))
	if err != nil {
		panic(fmt.Sprintf("sent unparsable message: %v\n%s", err, b))
	}
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return s.err
	}
	drop := s.loss > 0 && !dst.Proto.Reliable() && s.rng.Float64() < s.loss
	s.sent = append(s.sent, sentMsg{at: s.clk.Now().Sub(epoch), dst: dst, msg: m, dropped: drop})
	deliver := s.deliver
	s.mu.Unlock()
	if deliver != nil && !drop {
		deliver(dst, bytes.Clone(b))
	}
	return nil
}

func (s *fakeSender) failWith(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// all returns what was sent so far.
func (s *fakeSender) all() []sentMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sentMsg(nil), s.sent...)
}

// times returns when messages matching f were sent.
func (s *fakeSender) times(f func(*sip.Message) bool) []time.Duration {
	var out []time.Duration
	for _, m := range s.all() {
		if f(m.msg) {
			out = append(out, m.at)
		}
	}
	return out
}

func (s *fakeSender) count(f func(*sip.Message) bool) int { return len(s.times(f)) }

func (s *fakeSender) last() *sip.Message {
	all := s.all()
	if len(all) == 0 {
		return nil
	}
	return all[len(all)-1].msg
}

func status(code int) func(*sip.Message) bool {
	return func(m *sip.Message) bool { return !m.IsRequest() && m.StatusCode() == code }
}

func method(name string) func(*sip.Message) bool {
	return func(m *sip.Message) bool { return m.IsRequest() && m.Method() == name }
}

// fakeCore records what the layer hands up; onRequest answers requests.
type fakeCore struct {
	mu        sync.Mutex
	requests  []*ServerTx
	acks      []*transport.Incoming
	strays    []*transport.Incoming
	onRequest func(tx *ServerTx, in *transport.Incoming)
	onACK     func(in *transport.Incoming)
}

// served remembers each transaction's request for the tests, since a
// transaction lets go of it with its final response.
var served sync.Map // *ServerTx → *sip.Message

// reqOf returns the request of tx, also after its final response.
func reqOf(tx *ServerTx) *sip.Message {
	if m, ok := served.Load(tx); ok {
		return m.(*sip.Message)
	}
	return tx.Request()
}

func (c *fakeCore) ServeRequest(tx *ServerTx, in *transport.Incoming) {
	served.Store(tx, in.Msg)
	c.mu.Lock()
	c.requests = append(c.requests, tx)
	f := c.onRequest
	c.mu.Unlock()
	if f != nil {
		f(tx, in)
	}
}

func (c *fakeCore) ServeACK(in *transport.Incoming) {
	c.mu.Lock()
	c.acks = append(c.acks, in)
	f := c.onACK
	c.mu.Unlock()
	if f != nil {
		f(in)
	}
}

func (c *fakeCore) ServeStrayResponse(in *transport.Incoming) {
	c.mu.Lock()
	c.strays = append(c.strays, in)
	c.mu.Unlock()
}

func (c *fakeCore) counts() (requests, acks, strays int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.requests), len(c.acks), len(c.strays)
}

func (c *fakeCore) tx(i int) *ServerTx {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests[i]
}

// harness is one layer with a fake clock, sender and core.
type harness struct {
	t    testing.TB
	clk  *clock.Fake
	snd  *fakeSender
	core *fakeCore
	l    *Layer
}

func newHarness(t testing.TB, cfg Config) *harness {
	clk := clock.NewFake(epoch)
	h := &harness{t: t, clk: clk, snd: newFakeSender(clk), core: &fakeCore{}}
	cfg.Clock = clk
	h.l = New(cfg, h.snd, h.core)
	return h
}

// advanceTo moves the clock to d after epoch.
func (h *harness) advanceTo(d time.Duration) { h.clk.Advance(epoch.Add(d).Sub(h.clk.Now())) }

// rq describes a test request; zero fields take defaults.
type rq struct {
	method     string
	branch     string // "" means z9hG4bK-test
	noBranch   bool   // a Via without a branch (RFC 2543)
	sentBy     string // "" means 192.0.2.1:5060
	transport  string // Via transport; "" means UDP
	toTag      string
	cseq       int
	cseqMethod string
	callID     string
	uri        string
	route      string
	extra      string // header lines, each ending in CRLF
}

func (r rq) bytes() []byte {
	if r.branch == "" {
		r.branch = "z9hG4bK-test"
	}
	if r.sentBy == "" {
		r.sentBy = "192.0.2.1:5060"
	}
	if r.transport == "" {
		r.transport = "UDP"
	}
	if r.cseq == 0 {
		r.cseq = 1
	}
	if r.cseqMethod == "" {
		r.cseqMethod = r.method
	}
	if r.callID == "" {
		r.callID = "call-1@192.0.2.1"
	}
	if r.uri == "" {
		r.uri = "sip:bob@example.com"
	}
	to := "<sip:bob@example.com>"
	if r.toTag != "" {
		to += ";tag=" + r.toTag
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", r.method, r.uri)
	if r.noBranch {
		fmt.Fprintf(&b, "Via: SIP/2.0/%s %s\r\n", r.transport, r.sentBy)
	} else {
		fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=%s\r\n", r.transport, r.sentBy, r.branch)
	}
	if r.route != "" {
		fmt.Fprintf(&b, "Route: %s\r\n", r.route)
	}
	fmt.Fprintf(&b, "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=from1\r\nTo: %s\r\n", to)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\n%sContent-Length: 0\r\n\r\n", r.callID, r.cseq, r.cseqMethod, r.extra)
	return b.Bytes()
}

func (r rq) msg(t testing.TB) *sip.Message {
	t.Helper()
	m, err := sip.Parse(r.bytes())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// in wraps the request as received by UDP (or proto) from the UAC.
func (r rq) in(t testing.TB, proto ...transport.Proto) *transport.Incoming {
	t.Helper()
	p := transport.UDP
	if len(proto) > 0 {
		p = proto[0]
		if r.transport == "" {
			r.transport = p.ViaName()
		}
	}
	return &transport.Incoming{Msg: r.msg(t), Proto: p, Source: uacAddr, Local: proxyAddr, Conn: connFor(p)}
}

func connFor(p transport.Proto) transport.ConnID {
	if p.Reliable() {
		return 7
	}
	return 0
}

// respIn wraps a response as received from the UAS.
func respIn(m *sip.Message, proto transport.Proto) *transport.Incoming {
	return &transport.Incoming{Msg: m, Proto: proto, Source: uasAddr, Local: proxyAddr, Conn: connFor(proto)}
}

// reparse returns a fresh copy of m, as a second arrival of the same bytes.
func reparse(t testing.TB, m *sip.Message) *sip.Message {
	t.Helper()
	c, err := sip.Parse(bytes.Clone(m.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func respond(t testing.TB, tx *ServerTx, code int, toTag string) {
	t.Helper()
	if err := tx.Respond(sip.NewResponse(reqOf(tx), code, "", toTag)); err != nil {
		t.Fatalf("Respond(%d): %v", code, err)
	}
}

func secs(f ...float64) []time.Duration {
	out := make([]time.Duration, len(f))
	for i, s := range f {
		out[i] = time.Duration(s * float64(time.Second))
	}
	return out
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// clientReq builds a request for the client side with a fresh branch.
func clientReq(t testing.TB, method string) *sip.Message {
	return rq{method: method, branch: NewBranch(), sentBy: "192.0.2.10:5060"}.msg(t)
}

// recorder collects what a client transaction hands its TU.
type recorder struct {
	mu    sync.Mutex
	clk   *clock.Fake
	codes []int
	errs  []error
	at    []time.Duration
}

func (r *recorder) fn(resp *sip.Message, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.codes = append(r.codes, resp.StatusCode())
	r.errs = append(r.errs, err)
	r.at = append(r.at, r.clk.Now().Sub(epoch))
}

func (r *recorder) got() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.codes...)
}

var udpTarget = transport.Target{Proto: transport.UDP, Addr: uasAddr}
var tcpTarget = transport.Target{Proto: transport.TCP, Addr: uasAddr}
