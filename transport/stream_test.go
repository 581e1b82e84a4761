package transport

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func tcpConfig(f family) Config {
	return Config{Listeners: []ListenerConfig{{Proto: TCP, Host: f.host}}}
}

func dialTCP(t testing.TB, network string, dst netip.AddrPort) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(network, dst.String(), wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialFrom opens a connection from a chosen loopback source address.
func dialFrom(t testing.TB, src string, dst netip.AddrPort) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: wait, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp4", dst.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func bodyOf(raw []byte) string {
	s := string(raw)
	return s[strings.Index(s, "\r\n\r\n")+4:]
}

// Messages split over several writes, and several messages in one
// write, come out whole and in order, stamped, with the connection's
// identity.
func TestTCPFraming(t *testing.T) {
	forFamilies(t, func(t *testing.T, f family) {
		col := newCollector()
		m := start(t, tcpConfig(f), col)
		c := dialTCP(t, f.tcp, m.Listeners()[0].Bound)
		src := addrPort(c.LocalAddr())
		one := request(TCP, hostPort(src), "v=0\r\n")
		for _, part := range [][]byte{one[:10], one[10:60], one[60 : len(one)-2], one[len(one)-2:]} {
			if _, err := c.Write(part); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond) // separate segments
		}
		two := request(TCP, "192.0.2.9:5060", "")
		three := request(TCP, "192.0.2.9:5060", strings.Repeat("b", 5000)) // longer than one read
		c.Write(append(append(append([]byte("\r\n"), two...), three...), "\r\n"...))
		var conn ConnID
		for i, want := range [][]byte{one, two, three} {
			in := col.next(t)
			if in.Proto != TCP || in.Source != src || in.Conn == 0 || in.Listener != m.Listeners()[0] || in.Local != addrPort(c.RemoteAddr()) {
				t.Fatalf("message %d: incoming %+v", i, in)
			}
			if conn != 0 && in.Conn != conn {
				t.Errorf("message %d on conn %d, want %d", i, in.Conn, conn)
			}
			conn = in.Conn
			if string(in.Msg.Body()) != bodyOf(want) {
				t.Errorf("message %d: body %q, want %q", i, in.Msg.Body(), bodyOf(want))
			}
			v, _ := in.Msg.TopVia()
			if wantRecv := i > 0; (v.Received() == src.Addr().String()) != wantRecv {
				t.Errorf("message %d: Via %s", i, v.String())
			}
		}
	})
}

// A request's response goes back on the connection it came on.
func TestTCPResponseOnRequestConnection(t *testing.T) {
	forFamilies(t, func(t *testing.T, f family) {
		m, _ := startAnswering(t, tcpConfig(f))
		c := dialTCP(t, f.tcp, m.Listeners()[0].Bound)
		c.Write(request(TCP, "192.0.2.9:5060", ""))
		if r := readMessage(t, c); r.StatusCode() != 200 {
			t.Fatalf("status %d", r.StatusCode())
		}
		if s := m.Stats(); s.Dialed != 0 || s.Accepted != 1 {
			t.Errorf("stats %+v", s)
		}
	})
}

// When the request's connection has closed, the response opens a new
// one to the source IP at the Via's sent-by port (§18.2.2).
func TestTCPResponseReconnects(t *testing.T) {
	col := newCollector()
	m := start(t, tcpConfig(families[0]), col)
	peer := newPeerServer(t, "tcp4", "127.0.0.1")
	c := dialTCP(t, "tcp4", m.Listeners()[0].Bound)
	c.Write(request(TCP, hostPort(peer.addr()), ""))
	in := col.next(t)
	c.Close()
	eventually(t, "connection gone", func() bool { return m.Stats().Open == 0 })
	resp := []byte("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
	if err := m.Send(ResponseTarget(in), resp); err != nil {
		t.Fatal(err)
	}
	pc := peer.accept(t)
	if r := readMessage(t, pc); r.StatusCode() != 200 {
		t.Fatalf("status %d", r.StatusCode())
	}
}

// Requests to one peer share one connection; the peer's answers come
// back on it to the handler, and sending by its ConnID uses it too.
func TestTCPConnectionReuse(t *testing.T) {
	forFamilies(t, func(t *testing.T, f family) {
		col := newCollector()
		m := start(t, tcpConfig(f), col)
		peer := newPeerServer(t, f.tcp, f.host)
		dst := Target{Proto: TCP, Addr: peer.addr()}
		for range 2 {
			if err := m.Send(dst, request(TCP, "x.invalid", "")); err != nil {
				t.Fatal(err)
			}
		}
		pc := peer.accept(t)
		req1, req2 := readMessage(t, pc), readMessage(t, pc)
		pc.Write([]byte("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"))
		in := col.next(t)
		if in.Msg.StatusCode() != 200 || in.Conn == 0 || in.Source != peer.addr() {
			t.Fatalf("incoming %+v", in)
		}
		if err := m.Send(Target{Proto: TCP, Conn: in.Conn}, req1.Bytes()); err != nil {
			t.Fatal(err)
		}
		readMessage(t, pc)
		_ = req2
		select {
		case <-peer.conns:
			t.Fatal("a second connection was opened")
		case <-time.After(20 * time.Millisecond):
		}
		if s := m.Stats(); s.Dialed != 1 || s.Open != 1 || s.Sent != 3 { // Send returned before the reads
			t.Errorf("stats %+v", s)
		}
	})
}

// A connection the peer opened is reused to reach the peer's address.
func TestTCPReuseAcceptedConnection(t *testing.T) {
	col := newCollector()
	m := start(t, tcpConfig(families[0]), col)
	c := dialTCP(t, "tcp4", m.Listeners()[0].Bound)
	eventually(t, "accept", func() bool { return m.Stats().Open == 1 })
	if err := m.Send(Target{Proto: TCP, Addr: addrPort(c.LocalAddr())}, request(TCP, "x.invalid", "")); err != nil {
		t.Fatal(err)
	}
	readMessage(t, c)
	if s := m.Stats(); s.Dialed != 0 {
		t.Errorf("dialed %d", s.Dialed)
	}
}

// Concurrent first sends to one peer open a single connection.
func TestTCPConcurrentDialShared(t *testing.T) {
	m := start(t, tcpConfig(families[0]), newCollector())
	peer := newPeerServer(t, "tcp4", "127.0.0.1")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := m.Send(Target{Proto: TCP, Addr: peer.addr()}, request(TCP, "x.invalid", "")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	pc := peer.accept(t)
	for range 8 {
		readMessage(t, pc)
	}
	if s := m.Stats(); s.Dialed != 1 {
		t.Errorf("dialed %d connections", s.Dialed)
	}
}

// A refused connection is a Send error; so is a stream target with
// neither a connection nor an address.
func TestTCPSendErrors(t *testing.T) {
	m := start(t, tcpConfig(families[0]), newCollector())
	closed := newPeerServer(t, "tcp4", "127.0.0.1")
	addr := closed.addr()
	closed.ln.Close()
	if err := m.Send(Target{Proto: TCP, Addr: addr}, []byte("x")); err == nil {
		t.Error("send to a closed port succeeded")
	}
	if err := m.Send(Target{Proto: TCP, Conn: 999}, []byte("x")); !errors.Is(err, ErrNoConnection) {
		t.Errorf("send to a gone connection without address: %v", err)
	}
	if err := m.Send(Target{Proto: "sctp"}, []byte("x")); err == nil {
		t.Error("unknown protocol accepted")
	}
	if s := m.Stats(); s.SendErrors != 3 {
		t.Errorf("send errors %d", s.SendErrors)
	}
}

// CRLFCRLF is answered with CRLF (RFC 5626 §3.5.1); pings keep an idle
// connection open and single CRLFs do not count as a slow message.
func TestTCPPingPong(t *testing.T) {
	col := newCollector()
	cfg := tcpConfig(families[0])
	cfg.TCPIdleTimeout = 300 * time.Millisecond
	cfg.TCPMessageTimeout = 150 * time.Millisecond
	m := start(t, cfg, col)
	c := dialTCP(t, "tcp4", m.Listeners()[0].Bound)
	buf := make([]byte, 8)
	for range 5 {
		c.Write([]byte("\r\n\r\n"))
		c.SetReadDeadline(time.Now().Add(wait))
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "\r\n" {
			t.Fatalf("pong %q %v", buf[:n], err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.Write([]byte("\r\n")) // a lone keep-alive CRLF, past the message timeout
	time.Sleep(200 * time.Millisecond)
	c.Write(request(TCP, "192.0.2.9", ""))
	col.next(t)
	if s := m.Stats(); s.Pings != 5 || s.IdleClosed != 0 || s.Overflows != 0 {
		t.Errorf("stats %+v", s)
	}
}

// A connection that carries nothing for the idle timeout is closed.
func TestTCPIdleTimeout(t *testing.T) {
	cfg := tcpConfig(families[0])
	cfg.TCPIdleTimeout = 100 * time.Millisecond
	m := start(t, cfg, newCollector())
	c := dialTCP(t, "tcp4", m.Listeners()[0].Bound)
	t0 := time.Now()
	expectClosed(t, c, wait)
	if d := time.Since(t0); d < 90*time.Millisecond {
		t.Errorf("closed after %v", d)
	}
	eventually(t, "idle count", func() bool { return m.Stats().IdleClosed == 1 && m.Stats().Open == 0 })
}

// Connections past MaxConnectionsPerIP from one address are closed at
// once; other addresses and freed slots are still served.
func TestTCPMaxConnectionsPerIP(t *testing.T) {
	cfg := tcpConfig(families[0])
	cfg.MaxConnectionsPerIP = 2
	m, _ := startAnswering(t, cfg)
	dst := m.Listeners()[0].Bound
	a := dialFrom(t, "127.0.0.1", dst)
	dialFrom(t, "127.0.0.1", dst)
	eventually(t, "two accepted", func() bool { return m.Stats().Accepted == 2 })
	third := dialFrom(t, "127.0.0.1", dst)
	expectClosed(t, third, wait)
	other := dialFrom(t, "127.0.0.2", dst)
	other.Write(request(TCP, "192.0.2.9", ""))
	readMessage(t, other)
	a.Close()
	eventually(t, "slot freed", func() bool { return m.Stats().Open == 2 })
	again := dialFrom(t, "127.0.0.1", dst)
	again.Write(request(TCP, "192.0.2.9", ""))
	readMessage(t, again)
	if s := m.Stats(); s.Refused != 1 {
		t.Errorf("refused %d", s.Refused)
	}
}

// Past MaxConnections in total, new connections are closed at once and
// Send cannot open more.
func TestTCPMaxConnections(t *testing.T) {
	cfg := tcpConfig(families[0])
	cfg.MaxConnections = 2
	m, _ := startAnswering(t, cfg)
	dst := m.Listeners()[0].Bound
	dialFrom(t, "127.0.0.1", dst)
	dialFrom(t, "127.0.0.2", dst)
	eventually(t, "two accepted", func() bool { return m.Stats().Open == 2 })
	expectClosed(t, dialFrom(t, "127.0.0.3", dst), wait)
	peer := newPeerServer(t, "tcp4", "127.0.0.1")
	if err := m.Send(Target{Proto: TCP, Addr: peer.addr()}, []byte("x")); !errors.Is(err, ErrTooManyConnections) {
		t.Errorf("dial past the limit: %v", err)
	}
}

// A header that never ends is cut off once it exceeds MaxBuffer.
func TestTCPSlowTrickleMaxBuffer(t *testing.T) {
	cfg := tcpConfig(families[0])
	cfg.MaxBuffer = 1024
	col := newCollector()
	m := start(t, cfg, col)
	c := dialTCP(t, "tcp4", m.Listeners()[0].Bound)
	c.Write([]byte("OPTIONS sip:x@example.com SIP/2.0\r\n"))
	line := []byte("X-Junk: " + strings.Repeat("a", 90) + "\r\n")
	sent := 0
	for i := 0; i < 100; i++ {
		if _, err := c.Write(line); err != nil {
			break
		}
		sent += len(line)
		if m.Stats().Overflows == 1 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	expectClosed(t, c, wait)
	if s := m.Stats(); s.Overflows != 1 || sent < 900 || sent > 4096 {
		t.Errorf("overflows %d after %d bytes", s.Overflows, sent)
	}
	col.none(t, 10*time.Millisecond)
}

// A message that trickles in slower than TCPMessageTimeout is cut off
// even below MaxBuffer, however often bytes arrive.
func TestTCPSlowTrickleMessageTimeout(t *testing.T) {
	cfg := tcpConfig(families[0])
	cfg.TCPMessageTimeout = 200 * time.Millisecond
	m := start(t, cfg, newCollector())
	c := dialTCP(t, "tcp4", m.Listeners()[0].Bound)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, b := range []byte("OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\r\n") {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	t0 := time.Now()
	expectClosed(t, c, wait)
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("cut off after %v", d)
	}
	<-done
	eventually(t, "overflow count", func() bool { return m.Stats().Overflows == 1 })
}

// A stream message without Content-Length cannot be framed: the
// connection is closed.
func TestTCPFramingErrorCloses(t *testing.T) {
	col := newCollector()
	m := start(t, tcpConfig(families[0]), col)
	c := dialTCP(t, "tcp4", m.Listeners()[0].Bound)
	c.Write([]byte("OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\r\n\r\n"))
	expectClosed(t, c, wait)
	if s := m.Stats(); s.FramingErrors != 1 {
		t.Errorf("framing errors %d", s.FramingErrors)
	}
	col.none(t, 10*time.Millisecond)
}
