package b2bua

// Fakes for the B2BUA's unit tests: a transport that records what is
// sent outside transactions (ACKs), a transaction layer whose client
// transactions the test answers by hand, a server transaction for the A
// leg, and a fixture wiring them to a B2BUA on a fake clock. No socket,
// no DNS: every URI names an IP address.

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

var listener = &transport.ListenerInfo{Proto: transport.UDP, Bound: netip.MustParseAddrPort("192.0.2.1:5060"), Host: "192.0.2.1", Port: 5060}

var aliceAddr = netip.MustParseAddrPort("198.51.100.7:5060")

// fakeTransport is the outbound service's transport and the B2BUA's
// Sender: it records the ACKs.
type fakeTransport struct {
	mu   sync.Mutex
	acks []*sip.Message
	dsts []transport.Target
}

func (f *fakeTransport) ListenerFor(transport.Proto, netip.Addr) *transport.ListenerInfo {
	return listener
}
func (f *fakeTransport) ChooseProto(dst transport.Target, _ int) transport.Proto { return dst.Proto }

func (f *fakeTransport) Send(dst transport.Target, b []byte) error {
	m, err := sip.Parse(slices.Clone(b))
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks, f.dsts = append(f.acks, m), append(f.dsts, dst)
	return nil
}

func (f *fakeTransport) sent() []*sip.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.acks)
}

// clientTx is a request the B2BUA sent in a client transaction.
type clientTx struct {
	req        *sip.Message
	dst        transport.Target
	onResponse func(*sip.Message)
}

func (c *clientTx) Terminate() {}

// answer makes the response a UAS would send, with its tag and Contact,
// and feeds it to the B2BUA.
func (c *clientTx) answer(code int, tag string, extra ...string) *sip.Message {
	if code > 100 && code < 300 && tag != "" {
		extra = append(extra, "Contact", "<sip:bob@"+c.dst.Addr.String()+">")
	}
	resp := sip.NewResponse(c.req, code, "", tag, extra...)
	c.onResponse(resp)
	return resp
}

type fakeTxs struct {
	mu   sync.Mutex
	txs  []*clientTx
	fail map[netip.Addr]bool // refused at once, as a transport error is
}

func (f *fakeTxs) Request(req *sip.Message, dst transport.Target, onResponse func(*sip.Message)) (outbound.ClientTx, error) {
	if f.fail[dst.Addr.Addr()] {
		return nil, errors.New("fake: connection refused")
	}
	m, err := sip.Parse(slices.Clone(req.Bytes()))
	if err != nil {
		return nil, err
	}
	c := &clientTx{req: m, dst: dst, onResponse: onResponse}
	f.mu.Lock()
	f.txs = append(f.txs, c)
	f.mu.Unlock()
	return c, nil
}

// all returns the client transactions of method, oldest first.
func (f *fakeTxs) all(method string) []*clientTx {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*clientTx
	for _, c := range f.txs {
		if c.req.Method() == method {
			out = append(out, c)
		}
	}
	return out
}

// serverTx records the responses sent on a server transaction.
type serverTx struct {
	mu    sync.Mutex
	resps []*sip.Message
}

func (s *serverTx) Respond(resp *sip.Message) error {
	m, err := sip.Parse(slices.Clone(resp.Bytes()))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.resps = append(s.resps, m)
	s.mu.Unlock()
	return nil
}

func (s *serverTx) codes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for _, r := range s.resps {
		out = append(out, r.StatusCode())
	}
	return out
}

func (s *serverTx) last() *sip.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.resps) == 0 {
		return nil
	}
	return s.resps[len(s.resps)-1]
}

// fixture is a B2BUA on fakes.
type fixture struct {
	t       *testing.T
	b       *B2BUA
	tp      *fakeTransport
	txs     *fakeTxs
	clk     *clock.Fake
	records []cdr.Record
	ended   []*Call
}

func newFixture(t *testing.T, mod ...func(*Config)) *fixture {
	f := &fixture{t: t, tp: &fakeTransport{}, txs: &fakeTxs{}, clk: clock.NewFake(time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC))}
	out := outbound.New(outbound.Config{Transport: f.tp, Transactions: f.txs})
	cfg := Config{Outbound: out, Sender: f.tp, Clock: f.clk, PassXHeaders: true,
		Record: func(r cdr.Record) { f.records = append(f.records, r) },
		OnEnd:  func(c *Call) { f.ended = append(f.ended, c) }}
	for _, m := range mod {
		m(&cfg)
	}
	f.b = New(cfg)
	return f
}

func golden(t *testing.T, name string) *sip.Message {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := sip.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// call starts a call from alice's golden INVITE to targets (IP URIs), in
// one parallel group, or one by one when plan has destinations.
func (f *fixture) call(plan Plan, uris ...string) (*serverTx, *transport.Incoming) {
	tx := &serverTx{}
	in := &transport.Incoming{Msg: golden(f.t, "invite.sip"), Proto: transport.UDP, Source: aliceAddr, Listener: listener}
	var ts []target
	for _, u := range uris {
		ts = append(ts, target{uri: u})
	}
	f.b.takeCall(context.Background(), tx, in, plan, ts)
	return tx, in
}

// aRequest makes an in-dialog request of alice on the A leg, to the
// B2BUA's Contact with the tag of its last response.
func aRequest(t *testing.T, aTx *serverTx, method string, seq int, extra ...string) *sip.Message {
	t.Helper()
	resp := aTx.last()
	b := sip.NewRequestBuilder(method, "sip:192.0.2.1:5060").
		Header("Via", "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-a-"+method+strconv.Itoa(seq)).
		Header("Max-Forwards", "70").
		Header("From", resp.Header("From")).Header("To", resp.Header("To")).
		Header("Call-ID", resp.Header("Call-ID")).
		Header("CSeq", strconv.Itoa(seq)+" "+method).
		Header("Contact", "<sip:alice@198.51.100.7:5060>")
	for i := 0; i+1 < len(extra); i += 2 {
		b.Header(extra[i], extra[i+1])
	}
	m, err := b.Message("", nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// bRequest makes an in-dialog request of bob on the B leg whose INVITE
// was inv and whose answer carried bob's tag.
func bRequest(t *testing.T, inv *sip.Message, tag, method string, seq int) *sip.Message {
	t.Helper()
	to := inv.Header("From")
	from := inv.Header("To") + ";tag=" + tag
	m, err := sip.NewRequestBuilder(method, inv.Header("Contact")[1:len(inv.Header("Contact"))-1]).
		Header("Via", "SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK-b-"+method+strconv.Itoa(seq)).
		Header("Max-Forwards", "70").
		Header("From", from).Header("To", to).
		Header("Call-ID", inv.Header("Call-ID")).
		Header("CSeq", strconv.Itoa(seq)+" "+method).
		Header("Contact", "<sip:bob@203.0.113.9:5060>").
		Message("", nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// deliver hands an in-dialog request to the B2BUA as its stage would.
func (f *fixture) deliver(req *sip.Message) *serverTx {
	f.t.Helper()
	tx := &serverTx{}
	l := f.b.leg(req)
	if l == nil {
		f.t.Fatalf("no leg for %s %s", req.Method(), req.Header("Call-ID"))
	}
	var stx *serverTx
	if req.Method() != "ACK" {
		stx = tx
	}
	l.call.Post(func() {
		if stx == nil {
			l.call.inDialog(l, nil, req)
			return
		}
		l.call.inDialog(l, stx, req)
	})
	return tx
}
