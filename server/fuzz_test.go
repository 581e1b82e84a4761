package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/transport"
)

// The fuzz targets here feed the whole server, not only the parser: each
// input goes through a real loopback socket into the transport (the
// guard's Admit hook, framing, parsing, Via stamping), the transaction
// layer, the proxy's stages, the registrar and the in-memory location
// store, and whatever the server sends in answer goes out through the
// transport again. One server lives for a whole fuzzing worker, so state
// one input leaves behind (bindings, transactions, connections, bans) is
// fuzzed by the next. After every input the server must still answer a
// valid OPTIONS with 200; a panic in any of its goroutines kills the
// worker, which the fuzzer reports with the input.
//
//	go test -run '^$' -fuzz FuzzServerDatagram -fuzztime 5m ./server/
//	go test -run '^$' -fuzz FuzzServerStream -fuzztime 5m ./server/
//
// Seeds are in testdata/fuzz/; crashers found are kept there too, and run
// as regression tests with every go test.

// fuzzWait bounds every step: a server that needs longer to answer an
// OPTIONS has hung.
const fuzzWait = 10 * time.Second

// fuzzTarget is a running server and the sockets that feed and probe it.
type fuzzTarget struct {
	s        *Server
	udp, tcp netip.AddrPort
	feeder   *net.UDPConn // sends the fuzz datagrams, from 127.0.0.2
	probe    *net.UDPConn // checks the server answers, from 127.0.0.1
	seq      int
	buf      []byte
}

// fuzzConfig is the server under fuzz: UDP and TCP on loopback, the
// memory store, no admin listener, and rate limits high enough that the
// guard runs on every input but never bans the fuzzer.
func fuzzConfig(t testing.TB) *config.Config {
	cfg := config.Default()
	cfg.Listen = []config.Listener{
		{Proto: config.ProtoUDP, Host: "127.0.0.1", Port: 0},
		{Proto: config.ProtoTCP, Host: "127.0.0.1", Port: 0},
	}
	cfg.Domains = []string{"example.com"}
	cfg.DataDir = t.TempDir()
	cfg.Storage.Engine = config.EngineMemory
	cfg.Admin.Listen = ""
	cfg.Security.Rate, cfg.Security.Burst = 1_000_000, 1_000_000
	cfg.TCP.MaxConnectionsPerIP = 10_000
	return cfg
}

func newFuzzTarget(f *testing.F) *fuzzTarget {
	f.Helper()
	s, err := New(fuzzConfig(f), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		f.Fatal(err)
	}
	if err := s.Start(); err != nil {
		f.Fatal(err)
	}
	ft := &fuzzTarget{s: s, buf: make([]byte, 1<<16)}
	for _, l := range s.Listeners() {
		if l.Proto == transport.UDP {
			ft.udp = l.Bound
		} else {
			ft.tcp = l.Bound
		}
	}
	ft.feeder = listenUDP(f, "127.0.0.2")
	ft.probe = listenUDP(f, "127.0.0.1")
	f.Cleanup(func() {
		// Forwarded INVITEs nobody answers stay in flight for Timer B;
		// there is nothing to wait for.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		s.Shutdown(ctx)
	})
	return ft
}

func listenUDP(tb testing.TB, host string) *net.UDPConn {
	tb.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(host), 0)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// optionsRequest is a valid OPTIONS to the server itself.
func optionsRequest(server netip.AddrPort, proto, local, callID string) []byte {
	return []byte("OPTIONS sip:" + server.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/" + proto + " " + local + ";branch=z9hG4bK-" + callID + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:probe@example.com>;tag=probe\r\nTo: <sip:" + server.String() + ">\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
}

// checkAlive sends an OPTIONS over UDP and waits for its 200, skipping
// whatever else arrives (responses and requests the fuzz input caused).
func (ft *fuzzTarget) checkAlive(t *testing.T) {
	t.Helper()
	ft.seq++
	callID := "alive-" + strconv.Itoa(ft.seq)
	if _, err := ft.probe.WriteToUDPAddrPort(optionsRequest(ft.udp, "UDP", ft.probe.LocalAddr().String(), callID), ft.udp); err != nil {
		t.Fatal(err)
	}
	ft.probe.SetReadDeadline(time.Now().Add(fuzzWait))
	for {
		n, _, err := ft.probe.ReadFromUDPAddrPort(ft.buf)
		if err != nil {
			t.Fatalf("no 200 to OPTIONS within %v after the input: %v", fuzzWait, err)
		}
		msg := ft.buf[:n]
		if bytes.Contains(msg, []byte("Call-ID: "+callID+"\r\n")) && bytes.HasPrefix(msg, []byte("SIP/2.0 ")) {
			if !bytes.HasPrefix(msg, []byte("SIP/2.0 200 ")) {
				t.Fatalf("OPTIONS answered %q", bytes.SplitN(msg, []byte("\r\n"), 2)[0])
			}
			return
		}
	}
}

// sendStream writes data on a new TCP connection from 127.0.0.2, closes
// its sending side and reads whatever comes back until the server closes
// too: by then the server has handled every message the bytes held. A
// reset (the server closing with our bytes unread, after a framing error)
// is fine too.
func (ft *fuzzTarget) sendStream(t *testing.T, data []byte) {
	t.Helper()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.2:0")), Timeout: fuzzWait}
	c, err := d.Dial("tcp4", ft.tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(fuzzWait))
	if _, err := c.Write(data); err != nil {
		return // the server cut us off (framing error, over the buffer): fine
	}
	c.(*net.TCPConn).CloseWrite()
	if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the server did not close the connection within %v of our close: %v", fuzzWait, err)
	}
}

// FuzzServerDatagram feeds each input to the server as one UDP datagram.
func FuzzServerDatagram(f *testing.F) {
	ft := newFuzzTarget(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 65000 {
			data = data[:65000] // the largest datagram loopback carries
		}
		if _, err := ft.feeder.WriteToUDPAddrPort(data, ft.udp); err != nil {
			t.Fatal(err)
		}
		ft.checkAlive(t)
	})
}

// FuzzServerStream feeds each input to the server as the bytes of one
// TCP connection: pipelined messages, pings, partial messages, garbage.
func FuzzServerStream(f *testing.F) {
	ft := newFuzzTarget(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		ft.sendStream(t, data)
		ft.checkAlive(t)
	})
}
