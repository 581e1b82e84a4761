package proxy

// Fakes and helpers for the proxy's unit tests: a transport, a
// transaction layer and server transactions that record what the proxy
// does, a fixture that wires them to a Proxy with a memory location store
// and a registrar, and helpers that build SIP messages from the golden
// files under testdata/. No test opens a socket or asks DNS.

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/registrar"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// t0 is the fixture's clock: every binding lives an hour from it.
var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// The fixture's listeners: UDP and TCP on 192.0.2.1:5060.
func udpListener() *transport.ListenerInfo {
	return &transport.ListenerInfo{Proto: transport.UDP, Bound: netip.MustParseAddrPort("192.0.2.1:5060"), Host: "192.0.2.1", Port: 5060}
}

func tcpListener() *transport.ListenerInfo {
	return &transport.ListenerInfo{Proto: transport.TCP, Bound: netip.MustParseAddrPort("192.0.2.1:5060"), Host: "192.0.2.1", Port: 5060}
}

// uacAddr is where the requests of the golden files come from.
var uacAddr = netip.MustParseAddrPort("198.51.100.7:5060")

// ---- transport -------------------------------------------------------------

// sent is one message handed to the fake transport, parsed back from the
// bytes the proxy wrote.
type sent struct {
	dst transport.Target
	msg *sip.Message
}

// fakeTransport implements Transport: Send records, ListenerFor picks the
// first listener of the protocol and address family, ChooseProto moves
// UDP requests above tcpAbove bytes to TCP (§18.1.1) when tcpAbove > 0.
type fakeTransport struct {
	mu        sync.Mutex
	sent      []sent
	listeners []*transport.ListenerInfo
	tcpAbove  int
	changed   int // messages whose bytes changed while Send read them
}

func (f *fakeTransport) Send(dst transport.Target, msg []byte) error {
	own := append([]byte(nil), msg...)
	m, err := sip.Parse(own)
	if err != nil {
		return err
	}
	// A buffer given back to a pool while Send still reads it would be
	// rewritten by another goroutine's send meanwhile: the yield gives
	// that a chance, the comparison sees it, the race detector reports it.
	runtime.Gosched()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !bytes.Equal(own, msg) {
		f.changed++
	}
	f.sent = append(f.sent, sent{dst: dst, msg: m})
	return nil
}

func (f *fakeTransport) ListenerFor(p transport.Proto, dst netip.Addr) *transport.ListenerInfo {
	for _, l := range f.listeners {
		if l.Proto == p && l.Bound.Addr().Is4() == dst.Unmap().Is4() {
			return l
		}
	}
	return nil
}

func (f *fakeTransport) Listeners() []*transport.ListenerInfo { return f.listeners }

func (f *fakeTransport) ChooseProto(dst transport.Target, size int) transport.Proto {
	if dst.Proto == transport.UDP && !dst.PinnedUDP && f.tcpAbove > 0 && size > f.tcpAbove {
		return transport.TCP
	}
	return dst.Proto
}

func (f *fakeTransport) messages() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// ---- transactions ----------------------------------------------------------

// clientTx is one client transaction the proxy started: the request as it
// would go on the wire, where to, and the callback that delivers responses.
type clientTx struct {
	req        *sip.Message
	dst        transport.Target
	onResponse func(*sip.Message)
	terminated atomic.Bool
}

func (c *clientTx) Terminate() { c.terminated.Store(true) }

// fakeTxs implements Transactions. Requests to an address in fail, or
// over a transport in failProto, are refused, as a transaction layer does
// on a transport error (a connection refused, say).
type fakeTxs struct {
	mu        sync.Mutex
	txs       []*clientTx
	fail      map[netip.AddrPort]bool
	failProto map[transport.Proto]bool
}

func (f *fakeTxs) Request(req *sip.Message, dst transport.Target, onResponse func(*sip.Message)) (ClientTx, error) {
	if f.fail[dst.Addr] || f.failProto[dst.Proto] {
		return nil, errors.New("fake: destination unreachable")
	}
	m, err := sip.Parse(append([]byte(nil), req.Bytes()...))
	if err != nil {
		return nil, err
	}
	c := &clientTx{req: m, dst: dst, onResponse: onResponse}
	f.mu.Lock()
	f.txs = append(f.txs, c)
	f.mu.Unlock()
	return c, nil
}

// all returns the client transactions of method ("" for any) in the order
// they were started.
func (f *fakeTxs) all(method string) []*clientTx {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*clientTx
	for _, c := range f.txs {
		if method == "" || c.req.Method() == method {
			out = append(out, c)
		}
	}
	return out
}

// to returns the client transactions of method sent to addr.
func (f *fakeTxs) to(method, addr string) []*clientTx {
	a := netip.MustParseAddrPort(addr)
	var out []*clientTx
	for _, c := range f.all(method) {
		if c.dst.Addr == a {
			out = append(out, c)
		}
	}
	return out
}

// ---- server transaction ----------------------------------------------------

// fakeServerTx implements ServerTx and records every response, parsed back
// from the bytes that would be sent.
type fakeServerTx struct {
	mu    sync.Mutex
	resps []*sip.Message
}

func (s *fakeServerTx) Respond(resp *sip.Message) error {
	m, err := sip.Parse(append([]byte(nil), resp.Bytes()...))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.resps = append(s.resps, m)
	s.mu.Unlock()
	return nil
}

func (s *fakeServerTx) responses() []*sip.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.resps)
}

// statuses lists the responses as "code reason".
func (s *fakeServerTx) statuses() []string {
	var out []string
	for _, r := range s.responses() {
		out = append(out, status(r))
	}
	return out
}

func status(m *sip.Message) string { return strconv.Itoa(m.StatusCode()) + " " + m.Reason() }

// ---- fixture ---------------------------------------------------------------

type fixture struct {
	t     *testing.T
	p     *Proxy
	tp    *fakeTransport
	txs   *fakeTxs
	store *location.Memory
	reg   *registrar.Registrar
	seq   int // orders bindings: a later binding is Updated later
	clock *clock.Fake
}

// defaultConfig serves example.com and record-routes.
func defaultConfig() Config {
	return Config{
		Domains:     func(d string) bool { return d == "example.com" },
		RecordRoute: true,
		Secret:      "s3cret",
		// With passwords off a From of ours is only a claim: the callers
		// of these tests sit on a network the operator trusts, as an
		// office without passwords must (see stage_relaycheck.go).
		RelayTrusted: func(src netip.Addr) bool { return src == uacAddr.Addr() },
	}
}

// newFixture builds a proxy on the fakes. In stateless mode it gets no
// Transactions, as the server wires it.
func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := &fixture{
		t:     t,
		tp:    &fakeTransport{listeners: []*transport.ListenerInfo{udpListener(), tcpListener()}},
		txs:   &fakeTxs{fail: map[netip.AddrPort]bool{}},
		store: location.NewMemory(),
	}
	t.Cleanup(func() { f.store.Close() })
	f.clock = clock.NewFake(t0)
	f.reg = &registrar.Registrar{
		Store:  f.store,
		Serves: func(d string) bool { return d == "example.com" },
		Now:    f.clock.Now,
	}
	if cfg.Clock == nil {
		cfg.Clock = f.clock
	}
	var txs Transactions = f.txs
	if cfg.Stateless {
		txs = nil
	}
	f.p = New(cfg, f.tp, txs, f.store, f.reg, slog.New(slog.DiscardHandler))
	f.reg.ForUs = f.p.IsUs // as the server wires it
	f.p.now = f.clock.Now
	f.useResolver(noDNS{outbound.NewDNS()})
	return f
}

// useResolver gives the proxy an outbound service with res.
func (f *fixture) useResolver(res outbound.Resolver) {
	var txs outbound.Transactions = f.txs
	if f.p.config().Stateless {
		txs = nil
	}
	f.p.out = outbound.New(outbound.Config{Transport: f.tp, Transactions: txs, Resolver: res, Log: f.p.log})
}

// noDNS resolves IP addresses as the real resolver does (no DNS needed)
// and fails every name: DNS is not for unit tests.
type noDNS struct{ *outbound.DNS }

func (n noDNS) Resolve(ctx context.Context, u *sip.URI) ([]transport.Target, error) {
	host := u.Host
	if maddr, ok := u.Params.Get("maddr"); ok && maddr != "" {
		host = maddr
	}
	if _, err := netip.ParseAddr(sip.TrimBrackets(host)); err != nil {
		return nil, errors.New("no DNS in unit tests")
	}
	return n.DNS.Resolve(ctx, u)
}

// waitTxs waits until n client transactions of method have started: a
// request for a name is sent once DNS answered, off the serving goroutine.
func (f *fixture) waitTxs(method string, n int) []*clientTx {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := f.txs.all(method)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(time.Millisecond)
	}
}

// bind registers a binding for aor directly in the store. Defaults: q 1.0,
// an hour to live, UDP, arrived on 192.0.2.1:5060. Each binding is Updated
// later than the one before, so Lookup returns it first among equal q.
func (f *fixture) bind(aor string, b location.Binding) {
	f.t.Helper()
	f.seq++
	if b.Q == 0 {
		b.Q = 1000
	}
	if b.Expires.IsZero() {
		b.Expires = t0.Add(time.Hour)
	}
	if b.Transport == "" {
		b.Transport = "udp"
	}
	if !b.Local.IsValid() {
		b.Local = netip.MustParseAddrPort("192.0.2.1:5060")
	}
	b.Updated = t0.Add(-time.Hour + time.Duration(f.seq)*time.Second)
	b.CallID, b.CSeq = "reg-"+strconv.Itoa(f.seq), 1
	_, err := f.store.Update(context.Background(), aor, t0, func(cur []location.Binding) ([]location.Binding, error) {
		return append(cur, b), nil
	})
	if err != nil {
		f.t.Fatalf("binding %s: %v", aor, err)
	}
}

// incoming wraps a request as the transport hands it on: UDP from the UAC
// to the UDP listener.
func incoming(m *sip.Message) *transport.Incoming {
	return &transport.Incoming{
		Msg:      m,
		Proto:    transport.UDP,
		Source:   uacAddr,
		Local:    netip.MustParseAddrPort("192.0.2.1:5060"),
		Listener: udpListener(),
	}
}

// serve runs a request through the proxy in a new server transaction (nil
// in stateless mode) and returns it.
func (f *fixture) serve(m *sip.Message) *fakeServerTx {
	return f.serveIn(incoming(m))
}

func (f *fixture) serveIn(in *transport.Incoming) *fakeServerTx {
	if f.p.config().Stateless {
		f.p.ServeRequest(nil, in)
		return nil
	}
	tx := &fakeServerTx{}
	f.p.ServeRequest(tx, in)
	return tx
}

// ---- messages --------------------------------------------------------------

// load reads testdata/name and applies edits, one per argument:
//
//	"Name: value"   replaces every line of header Name (added when absent)
//	"+Name: value"  adds a line of header Name after the others
//	"-Name"         removes every line of header Name
//	"RURI uri"      replaces the Request-URI
//	"BODY text"     replaces the body
//
// Lines end in CRLF and Content-Length is set to the body's length.
func load(t *testing.T, name string, edits ...string) string {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(data), "\n\n")
	body = strings.TrimSuffix(body, "\n")
	lines := strings.Split(head, "\n")
	for _, e := range edits {
		switch {
		case strings.HasPrefix(e, "RURI "):
			parts := strings.SplitN(lines[0], " ", 3)
			lines[0] = parts[0] + " " + strings.TrimPrefix(e, "RURI ") + " " + parts[2]
		case strings.HasPrefix(e, "BODY "):
			body = strings.TrimPrefix(e, "BODY ")
		case strings.HasPrefix(e, "-"):
			lines = removeLines(lines, e[1:])
		case strings.HasPrefix(e, "+"):
			name, _, _ := strings.Cut(e[1:], ":")
			lines = insertAfter(lines, name, e[1:])
		default:
			name, _, _ := strings.Cut(e, ":")
			i := indexLine(lines, name)
			lines = removeLines(lines, name)
			if i < 0 || i > len(lines) {
				i = len(lines)
			}
			lines = slices.Insert(lines, i, e)
		}
	}
	lines = removeLines(lines, "Content-Length")
	lines = append(lines, "Content-Length: "+strconv.Itoa(len(body)))
	return strings.Join(lines, "\r\n") + "\r\n\r\n" + body
}

func headerName(line string) string {
	n, _, _ := strings.Cut(line, ":")
	return strings.TrimSpace(n)
}

func indexLine(lines []string, name string) int {
	for i, l := range lines[1:] {
		if strings.EqualFold(headerName(l), name) {
			return i + 1
		}
	}
	return -1
}

func removeLines(lines []string, name string) []string {
	out := lines[:1:1]
	for _, l := range lines[1:] {
		if !strings.EqualFold(headerName(l), name) {
			out = append(out, l)
		}
	}
	return out
}

func insertAfter(lines []string, name, line string) []string {
	at := len(lines)
	for i := len(lines) - 1; i > 0; i-- {
		if strings.EqualFold(headerName(lines[i]), name) {
			at = i + 1
			break
		}
	}
	return slices.Insert(lines, at, line)
}

// parse parses message text, failing the test when it does not parse.
func parse(t *testing.T, text string) *sip.Message {
	t.Helper()
	m, err := sip.Parse([]byte(text))
	if err != nil {
		t.Fatalf("parsing test message: %v\n%s", err, text)
	}
	return m
}

// req loads and parses a golden request with edits.
func req(t *testing.T, name string, edits ...string) *sip.Message {
	t.Helper()
	return parse(t, load(t, name, edits...))
}

// reply is the response a downstream element sends to a request the proxy
// forwarded: Via, From, To (with toTag added), Call-ID and CSeq copied,
// plus extra header lines, parsed back from its wire form.
func reply(t *testing.T, to *sip.Message, code int, toTag string, extra ...string) *sip.Message {
	t.Helper()
	r := sip.NewResponse(to, code, "", toTag, extra...)
	return parse(t, string(r.Bytes()))
}

// deliver hands a response to the client transaction's callback, as the
// transaction layer does.
func (c *clientTx) deliver(t *testing.T, code int, toTag string, extra ...string) {
	t.Helper()
	c.onResponse(reply(t, c.req, code, toTag, extra...))
}

// lines returns every line of header name as written (one entry per line,
// not split at commas), matching compact forms too.
func lines(m *sip.Message, name string) []string {
	id := sip.HeaderIDOf(name)
	var out []string
	m.EachHeader(func(n, v string) bool {
		if (id != sip.HUnknown && sip.HeaderIDOf(n) == id) || (id == sip.HUnknown && strings.EqualFold(n, name)) {
			out = append(out, v)
		}
		return true
	})
	return out
}

// checkHeaders compares header lines exactly: want maps a header name to
// its lines, in order; a nil or empty list means the header must be absent.
func checkHeaders(t *testing.T, what string, m *sip.Message, want map[string][]string) {
	t.Helper()
	for name, w := range want {
		if got := lines(m, name); !slices.Equal(got, w) {
			t.Errorf("%s: %s = %q, want %q", what, name, got, w)
		}
	}
}

// topBranch returns the branch of the message's top Via.
func topBranch(t *testing.T, m *sip.Message) string {
	t.Helper()
	v, err := m.TopVia()
	if err != nil {
		t.Fatalf("top Via: %v", err)
	}
	return v.Branch()
}

// ourVia checks that the top Via is exactly the proxy's
// "SIP/2.0/<viaName> <hostPort>;branch=z9hG4bK…" and returns the branch.
func ourVia(t *testing.T, what string, m *sip.Message, viaName, hostPort string) string {
	t.Helper()
	vias := lines(m, "Via")
	if len(vias) == 0 {
		t.Fatalf("%s: no Via", what)
	}
	prefix := "SIP/2.0/" + viaName + " " + hostPort + ";branch=" + sip.MagicCookie
	if !strings.HasPrefix(vias[0], prefix) {
		t.Fatalf("%s: top Via = %q, want %q…", what, vias[0], prefix)
	}
	b := topBranch(t, m)
	if want := "SIP/2.0/" + viaName + " " + hostPort + ";branch=" + b; vias[0] != want {
		t.Errorf("%s: top Via = %q, want exactly %q", what, vias[0], want)
	}
	if len(b) <= len(sip.MagicCookie) {
		t.Errorf("%s: branch %q has nothing after the magic cookie", what, b)
	}
	return b
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func target(proto transport.Proto, addr string) transport.Target {
	return transport.Target{Proto: proto, Addr: netip.MustParseAddrPort(addr)}
}

// sameDst compares where a message went: protocol, address, connection.
func sameDst(got, want transport.Target) bool {
	return got.Proto == want.Proto && got.Addr == want.Addr && got.Conn == want.Conn
}
