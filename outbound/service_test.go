package outbound

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// ---- fakes -----------------------------------------------------------------

// fakeTransport has one UDP and one TCP listener on 192.0.2.1:5060 and
// keeps every protocol as the resolver gave it.
type fakeTransport struct{ listeners []*transport.ListenerInfo }

func newFakeTransport() *fakeTransport {
	l := func(p transport.Proto) *transport.ListenerInfo {
		return &transport.ListenerInfo{Proto: p, Bound: netip.MustParseAddrPort("192.0.2.1:5060"), Host: "192.0.2.1", Port: 5060}
	}
	return &fakeTransport{listeners: []*transport.ListenerInfo{l(transport.UDP), l(transport.TCP)}}
}

func (f *fakeTransport) ListenerFor(p transport.Proto, _ netip.Addr) *transport.ListenerInfo {
	for _, l := range f.listeners {
		if l.Proto == p {
			return l
		}
	}
	return nil
}

func (f *fakeTransport) ChooseProto(dst transport.Target, _ int) transport.Proto { return dst.Proto }

type clientTx struct {
	req        *sip.Message
	dst        transport.Target
	onResponse func(*sip.Message)
	terminated bool
}

func (c *clientTx) Terminate() { c.terminated = true }

// answer delivers a response of code to the request, as the transaction
// layer does.
func (c *clientTx) answer(code int) {
	c.onResponse(sip.NewResponse(c.req, code, "", "t"+strconv.Itoa(code)))
}

// fakeTxs records client transactions; requests to an address in fail
// are refused as on a transport error.
type fakeTxs struct {
	mu   sync.Mutex
	txs  []*clientTx
	fail map[netip.AddrPort]bool
}

func (f *fakeTxs) Request(req *sip.Message, dst transport.Target, onResponse func(*sip.Message)) (ClientTx, error) {
	if f.fail[dst.Addr] {
		return nil, errors.New("fake: unreachable")
	}
	c := &clientTx{req: req, dst: dst, onResponse: onResponse}
	f.mu.Lock()
	f.txs = append(f.txs, c)
	f.mu.Unlock()
	return c, nil
}

func (f *fakeTxs) sent() []*clientTx {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*clientTx(nil), f.txs...)
}

// fakeResolver answers every name with dsts, after release is closed
// when it is not nil.
type fakeResolver struct {
	dsts    []transport.Target
	release chan struct{}
	asked   chan string
}

func (f *fakeResolver) Resolve(ctx context.Context, u *sip.URI) ([]transport.Target, error) {
	if literal(u) {
		return NewDNS().Resolve(ctx, u)
	}
	if f.asked != nil {
		f.asked <- u.Host
	}
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if len(f.dsts) == 0 {
		return nil, errNoAddress
	}
	return append([]transport.Target(nil), f.dsts...), nil
}

func (f *fakeResolver) ResolveHost(context.Context, string) (netip.Addr, error) {
	return f.dsts[0].Addr.Addr(), nil
}

// recorder is an Owner that records what the flight hands it.
type recorder struct {
	Queue
	flight Flight
	mu     sync.Mutex
	got    []string // "code" per response, "error: …" per failure
}

func (r *recorder) Stamp(m *sip.Message, _ transport.Target, out *transport.ListenerInfo, last bool) (*sip.Message, error) {
	return stampVia(m, out, last), nil
}

func (r *recorder) Response(resp *sip.Message, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.got = append(r.got, "error: "+err.Error())
		return
	}
	r.got = append(r.got, strconv.Itoa(resp.StatusCode()))
}

func (r *recorder) results() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func options(t *testing.T, uri string) *sip.Message {
	t.Helper()
	m, err := sip.NewRequestBuilder("OPTIONS", uri).
		Header("Max-Forwards", "70").
		Header("From", "<sip:parley@192.0.2.1>;tag=f1").
		Header("To", "<"+uri+">").
		Header("Call-ID", "ping1@192.0.2.1").
		Header("CSeq", "1 OPTIONS").
		Message("", nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newService(txs *fakeTxs, res Resolver) *Service {
	return New(Config{Transport: newFakeTransport(), Transactions: txs, Resolver: res})
}

// start runs a flight for an OPTIONS to uri on the recorder's queue.
func start(t *testing.T, s *Service, req Request) *recorder {
	t.Helper()
	r := &recorder{}
	r.Post(func() { s.Start(context.Background(), &r.flight, req, r) })
	return r
}

// ---- tests -----------------------------------------------------------------

// TestFailover is RFC 3263 §4.3: a destination that answers 503, times
// out (408) or cannot be reached is left for the next one, and the owner
// sees only the outcome; one that sent a provisional response is not.
func TestFailover(t *testing.T) {
	a, b := target(transport.UDP, "203.0.113.1:5060"), target(transport.UDP, "203.0.113.2:5060")
	tests := []struct {
		name     string
		unreach  bool  // the first destination refuses the request
		first    []int // responses of the first destination
		wantSent int   // requests sent in all
		want     []string
	}{
		{name: "503", first: []int{503}, wantSent: 2, want: []string{"200"}},
		{name: "408", first: []int{408}, wantSent: 2, want: []string{"200"}},
		{name: "transport error", unreach: true, wantSent: 1, want: []string{"200"}},
		{name: "provisional then 503", first: []int{180, 503}, wantSent: 1, want: []string{"180", "503"}},
		{name: "486 ends it", first: []int{486}, wantSent: 1, want: []string{"486"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			txs := &fakeTxs{fail: map[netip.AddrPort]bool{a.Addr: tc.unreach}}
			s := newService(txs, &fakeResolver{dsts: []transport.Target{a, b}})
			r := start(t, s, Request{Msg: options(t, "sip:gw.example.net")})
			for !tc.unreach && len(txs.sent()) == 0 {
				time.Sleep(time.Millisecond) // the lookup runs off this goroutine
			}
			if !tc.unreach {
				for _, code := range tc.first {
					txs.sent()[0].answer(code)
				}
			} else {
				waitSent(t, txs, 1)
			}
			if sent := txs.sent(); len(sent) == tc.wantSent && sent[len(sent)-1].dst.Addr == b.Addr {
				sent[len(sent)-1].answer(200)
			}
			if got := txs.sent(); len(got) != tc.wantSent {
				t.Fatalf("%d requests sent, want %d", len(got), tc.wantSent)
			}
			if got := r.results(); !slices.Equal(got, tc.want) {
				t.Errorf("owner got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLateResponse: a response from a destination the flight has left
// is dropped; Timeout ends the current attempt like a 408.
func TestLateResponse(t *testing.T) {
	a, b := target(transport.UDP, "203.0.113.1:5060"), target(transport.UDP, "203.0.113.2:5060")
	txs := &fakeTxs{}
	s := newService(txs, &fakeResolver{dsts: []transport.Target{a, b}})
	r := start(t, s, Request{Msg: options(t, "sip:gw.example.net")})
	waitSent(t, txs, 1)
	first := txs.sent()[0]
	r.Post(func() { r.flight.Timeout(sip.NewResponse(first.req, 408, "Request Timeout", "")) })
	if !first.terminated {
		t.Error("Timeout left the first transaction running")
	}
	sent := txs.sent()
	if len(sent) != 2 || sent[1].dst.Addr != b.Addr {
		t.Fatalf("after the timeout: %d requests, want a second to %v", len(sent), b.Addr)
	}
	first.answer(200) // too late: the flight has left a
	sent[1].answer(200)
	if got := r.results(); !slices.Equal(got, []string{"200"}) {
		t.Errorf("owner got %q, want the second destination's 200 only", got)
	}
	if m, dst := r.flight.Sent(); m == nil || dst.Addr != b.Addr {
		t.Errorf("Sent() = %v, want the request sent to %v", dst.Addr, b.Addr)
	}
	r.flight.Release()
	if m, _ := r.flight.Sent(); m != nil {
		t.Error("Release kept the request")
	}
}

// TestUnreachable: a name without address, or no destination that takes
// the request, fails the flight with an error.
func TestUnreachable(t *testing.T) {
	a := target(transport.UDP, "203.0.113.1:5060")
	t.Run("no address", func(t *testing.T) {
		s := newService(&fakeTxs{}, &fakeResolver{})
		r := start(t, s, Request{Msg: options(t, "sip:nowhere.example.net")})
		waitResults(t, r, 1)
		if got := r.results(); !slices.Equal(got, []string{"error: " + errNoAddress.Error()}) {
			t.Errorf("owner got %q", got)
		}
	})
	for _, tc := range []struct {
		name  string
		quiet bool
		level string
	}{
		// At the default level, so that an operator learns why the caller got a 5xx…
		{"every destination refuses", false, "WARN"},
		// …unless the caller reports it itself (a gateway's health ping).
		{"every destination refuses, quiet", true, "DEBUG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := New(Config{Transport: newFakeTransport(), Transactions: &fakeTxs{fail: map[netip.AddrPort]bool{a.Addr: true}},
				Resolver: &fakeResolver{}, Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			r := start(t, s, Request{Msg: options(t, "sip:203.0.113.1"), Quiet: tc.quiet})
			if got := r.results(); !slices.Equal(got, []string{"error: " + ErrUnreachable.Error()}) {
				t.Errorf("owner got %q", got)
			}
			if !strings.Contains(logs.String(), `level=`+tc.level+` msg="outbound: destination unreachable" dst=203.0.113.1:5060`) {
				t.Errorf("refused send not logged at %s: %q", tc.level, logs.String())
			}
		})
	}
	t.Run("no listener for the protocol", func(t *testing.T) {
		s := newService(&fakeTxs{}, &fakeResolver{})
		r := start(t, s, Request{Msg: options(t, "sip:203.0.113.1;transport=tls")})
		if got := r.results(); !slices.Equal(got, []string{"error: " + ErrUnreachable.Error()}) {
			t.Errorf("owner got %q", got)
		}
	})
}

// TestRouteSet: a preloaded route set goes in front of the request's
// Route headers, and the request goes to its first entry.
func TestRouteSet(t *testing.T) {
	txs := &fakeTxs{}
	s := newService(txs, &fakeResolver{})
	start(t, s, Request{Msg: options(t, "sip:bob@example.net"), Route: []string{"<sip:198.51.100.9:5070;lr>", "<sip:198.51.100.10;lr>"}})
	sent := txs.sent()
	if len(sent) != 1 || sent[0].dst.Addr != netip.MustParseAddrPort("198.51.100.9:5070") {
		t.Fatalf("sent %d requests (%v), want one to the first Route", len(sent), sent)
	}
	if got := sent[0].req.HeaderValues("Route"); !slices.Equal(got, []string{"<sip:198.51.100.9:5070;lr>", "<sip:198.51.100.10;lr>"}) {
		t.Errorf("Route = %q", got)
	}
	if got := sent[0].req.RequestURI(); got != "sip:bob@example.net" {
		t.Errorf("Request-URI = %q, want it unchanged (loose routing)", got)
	}
}

// TestSlowDNSBlocksNoReader: Start returns while the name server has not
// answered, so a transport reader that forwards a request goes on
// reading; the request leaves once the answer comes.
func TestSlowDNSBlocksNoReader(t *testing.T) {
	a := target(transport.UDP, "203.0.113.1:5060")
	res := &fakeResolver{dsts: []transport.Target{a}, release: make(chan struct{}), asked: make(chan string, 1)}
	txs := &fakeTxs{}
	s := newService(txs, res)
	returned := make(chan *recorder)
	go func() { returned <- start(t, s, Request{Msg: options(t, "sip:slow.example.net")}) }()
	var r *recorder
	select {
	case r = <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Start blocked on the resolver")
	}
	if host := <-res.asked; host != "slow.example.net" {
		t.Errorf("resolver asked for %q", host)
	}
	if n := len(txs.sent()); n != 0 {
		t.Fatalf("%d requests sent before DNS answered", n)
	}
	close(res.release)
	waitSent(t, txs, 1)
	txs.sent()[0].answer(200)
	if got := r.results(); !slices.Equal(got, []string{"200"}) {
		t.Errorf("owner got %q", got)
	}
}

// TestMaxLookups: past MaxLookups lookups in progress a flight fails at
// once with ErrBusy instead of queueing behind a slow name server.
func TestMaxLookups(t *testing.T) {
	res := &fakeResolver{dsts: []transport.Target{target(transport.UDP, "203.0.113.1:5060")}, release: make(chan struct{})}
	defer close(res.release)
	s := New(Config{Transport: newFakeTransport(), Transactions: &fakeTxs{}, Resolver: res, MaxLookups: 1})
	start(t, s, Request{Msg: options(t, "sip:one.example.net")})
	r := start(t, s, Request{Msg: options(t, "sip:two.example.net")})
	if got := r.results(); !slices.Equal(got, []string{"error: " + ErrBusy.Error()}) {
		t.Errorf("second flight got %q, want ErrBusy", got)
	}
}

func waitSent(t *testing.T, txs *fakeTxs, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(txs.sent()) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests sent, want %d", len(txs.sent()), n)
		}
	}
}

func waitResults(t *testing.T, r *recorder, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(r.results()) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("owner got %q, want %d results", r.results(), n)
		}
	}
}
