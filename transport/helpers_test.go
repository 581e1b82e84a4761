package transport

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
)

// wait bounds every blocking step of a test.
const wait = 5 * time.Second

// testLogger discards logs unless PARLEY_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("PARLEY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// hasIPv6 reports whether ::1 can be bound here.
func hasIPv6() bool {
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// family is a loopback address family to run a test on.
type family struct {
	name, host, udp, tcp string
}

var families = []family{
	{"ipv4", "127.0.0.1", "udp4", "tcp4"},
	{"ipv6", "::1", "udp6", "tcp6"},
}

func (f family) run(t *testing.T, fn func(t *testing.T, f family)) {
	t.Run(f.name, func(t *testing.T) {
		if f.name == "ipv6" && !hasIPv6() {
			t.Skip("::1 unavailable")
		}
		fn(t, f)
	})
}

func forFamilies(t *testing.T, fn func(t *testing.T, f family)) {
	for _, f := range families {
		f.run(t, fn)
	}
}

// start builds and starts a manager, closed when the test ends.
func start(t testing.TB, cfg Config, h Handler) *Manager {
	t.Helper()
	m := build(t, cfg, h)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	return m
}

// build makes a manager with test defaults, closed when the test ends.
func build(t testing.TB, cfg Config, h Handler) *Manager {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	if cfg.UDPSockets == 0 {
		cfg.UDPSockets = 2
	}
	m, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// collector is a Handler that queues what it receives.
type collector struct{ ch chan *Incoming }

func newCollector() *collector { return &collector{ch: make(chan *Incoming, 64)} }

func (c *collector) HandleMessage(in *Incoming) { c.ch <- in }

func (c *collector) next(t testing.TB) *Incoming {
	t.Helper()
	select {
	case in := <-c.ch:
		return in
	case <-time.After(wait):
		t.Fatal("no message received")
		return nil
	}
}

func (c *collector) none(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case in := <-c.ch:
		t.Fatalf("unexpected message: %s", in.Msg.Bytes())
	case <-time.After(d):
	}
}

// answerer is a Handler that answers every request 200 where
// ResponseTarget says, and queues responses it receives.
type answerer struct {
	m         *Manager
	responses chan *Incoming
	errs      chan error
}

func newAnswerer() *answerer {
	return &answerer{responses: make(chan *Incoming, 64), errs: make(chan error, 64)}
}

func (a *answerer) HandleMessage(in *Incoming) {
	if !in.Msg.IsRequest() {
		a.responses <- in
		return
	}
	resp := sip.NewResponse(in.Msg, 200, "", "srv")
	if err := a.m.Send(ResponseTarget(in), resp.Bytes()); err != nil {
		a.errs <- err
	}
}

// startAnswering starts a manager whose handler answers requests.
func startAnswering(t testing.TB, cfg Config) (*Manager, *answerer) {
	t.Helper()
	a := newAnswerer()
	a.m = build(t, cfg, a)
	if err := a.m.Start(); err != nil {
		t.Fatal(err)
	}
	return a.m, a
}

// request returns an OPTIONS request whose top Via names sentBy; params
// are appended to the Via (e.g. "rport").
func request(proto Proto, sentBy, body string, params ...string) []byte {
	var b strings.Builder
	via := "SIP/2.0/" + proto.ViaName() + " " + sentBy + ";branch=z9hG4bK" + randToken()
	for _, p := range params {
		via += ";" + p
	}
	fmt.Fprintf(&b, "OPTIONS sip:parley@example.com SIP/2.0\r\n")
	fmt.Fprintf(&b, "Via: %s\r\n", via)
	b.WriteString("Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:parley@example.com>\r\n")
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: 1 OPTIONS\r\n", randToken())
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return []byte(b.String())
}

var (
	tokenMu sync.Mutex
	tokenN  int
)

func randToken() string {
	tokenMu.Lock()
	defer tokenMu.Unlock()
	tokenN++
	return fmt.Sprintf("t%d", tokenN)
}

// hostPort writes an address as a Via sent-by.
func hostPort(ap netip.AddrPort) string {
	return fmt.Sprintf("%s:%d", formatHost(ap.Addr()), ap.Port())
}

// framers keeps each test connection's framer between readMessage calls,
// since one read may carry several messages.
var framers sync.Map // net.Conn → *sip.Framer

// readMessage reads one framed SIP message from a stream.
func readMessage(t testing.TB, c net.Conn) *sip.Message {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	v, _ := framers.LoadOrStore(c, new(sip.Framer))
	fr := v.(*sip.Framer)
	buf := make([]byte, 4096)
	for {
		if f, ok, err := fr.Next(); err != nil {
			t.Fatal(err)
		} else if ok && !f.Ping {
			m, err := sip.Parse(f.Message)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("reading a message: %v", err)
		}
		fr.Write(buf[:n])
	}
}

// readDatagram reads one datagram and parses it.
func readDatagram(t testing.TB, c *net.UDPConn) *sip.Message {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	m, err := sip.Parse(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// expectClosed waits for the peer to close c. A reset counts: a peer
// that closes while bytes it has not read are waiting (a client still
// trickling) sends RST instead of FIN.
func expectClosed(t testing.TB, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("connection not closed within %v: %v", within, err)
	}
}

// eventually polls cond until it holds or the wait runs out.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// peerServer is a bare TCP server standing for another SIP element: it
// records each accepted connection.
type peerServer struct {
	ln    net.Listener
	conns chan net.Conn
}

func newPeerServer(t testing.TB, network, host string) *peerServer {
	t.Helper()
	ln, err := net.Listen(network, net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	p := &peerServer{ln: ln, conns: make(chan net.Conn, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-p.conns:
				c.Close()
			default:
				return
			}
		}
	})
	return p
}

func (p *peerServer) addr() netip.AddrPort { return addrPort(p.ln.Addr()) }

func (p *peerServer) accept(t testing.TB) net.Conn {
	t.Helper()
	select {
	case c := <-p.conns:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(wait):
		t.Fatal("peer accepted no connection")
		return nil
	}
}
