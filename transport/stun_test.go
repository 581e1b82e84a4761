package transport

import (
	"bytes"
	"crypto/tls"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v3"

	"github.com/parley-sip/parley/clock"
)

func bindingRequest(t testing.TB, fingerprint bool) *stun.Message {
	t.Helper()
	setters := []stun.Setter{stun.TransactionID, stun.BindingRequest}
	if fingerprint {
		setters = append(setters, stun.Fingerprint)
	}
	m, err := stun.Build(setters...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkReply decodes a reply and checks it answers req from src.
func checkReply(t testing.TB, reply []byte, req *stun.Message, src netip.AddrPort) {
	t.Helper()
	var resp stun.Message
	if err := stun.Decode(reply, &resp); err != nil {
		t.Fatalf("reply does not decode: %v", err)
	}
	if resp.Type != stun.BindingSuccess || resp.TransactionID != req.TransactionID {
		t.Fatalf("reply %s, transaction %x; want binding success for %x", resp.Type, resp.TransactionID, req.TransactionID)
	}
	var xa stun.XORMappedAddress
	if err := xa.GetFrom(&resp); err != nil {
		t.Fatalf("no XOR-MAPPED-ADDRESS: %v", err)
	}
	got, _ := netip.AddrFromSlice(xa.IP)
	if netip.AddrPortFrom(got.Unmap(), uint16(xa.Port)) != src {
		t.Fatalf("XOR-MAPPED-ADDRESS %s:%d, want %s", xa.IP, xa.Port, src)
	}
	if req.Contains(stun.AttrFingerprint) {
		if err := stun.Fingerprint.Check(&resp); err != nil {
			t.Fatalf("fingerprint: %v", err)
		}
	} else if resp.Contains(stun.AttrFingerprint) {
		t.Fatal("FINGERPRINT in the reply to a request without one")
	}
}

func TestSTUNReply(t *testing.T) {
	indication, _ := stun.Build(stun.TransactionID, stun.NewType(stun.MethodBinding, stun.ClassIndication))
	success, _ := stun.Build(stun.TransactionID, stun.BindingSuccess)
	truncated := bindingRequest(t, true).Raw
	truncated = truncated[:len(truncated)-4]
	src4 := netip.MustParseAddrPort("198.51.100.7:40000")
	src6 := netip.MustParseAddrPort("[2001:db8::7]:40000")
	tests := []struct {
		name  string
		b     []byte
		src   netip.AddrPort
		stun  bool
		reply bool
	}{
		{"binding request", bindingRequest(t, false).Raw, src4, true, true},
		{"binding request with fingerprint", bindingRequest(t, true).Raw, src4, true, true},
		{"binding request over IPv6", bindingRequest(t, false).Raw, src6, true, true},
		{"indication: no answer", indication.Raw, src4, true, false},
		{"a response: no answer", success.Raw, src4, true, false},
		{"truncated", truncated, src4, true, false},
		{"SIP", []byte("OPTIONS sip:x SIP/2.0\r\n\r\n"), src4, false, false},
		{"CRLF keep-alive", []byte("\r\n\r\n"), src4, false, false},
		{"zero bytes without the cookie", make([]byte, 20), src4, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isSTUN(tt.b); got != tt.stun {
				t.Fatalf("isSTUN = %v, want %v", got, tt.stun)
			}
			reply, ok := stunReply(tt.b, tt.src)
			if ok != tt.reply {
				t.Fatalf("stunReply ok = %v, want %v", ok, tt.reply)
			}
			if ok {
				var req stun.Message
				if err := stun.Decode(tt.b, &req); err != nil {
					t.Fatal(err)
				}
				checkReply(t, reply, &req, tt.src)
			}
		})
	}
}

// A STUN binding request to the SIP port gets its answer from that port
// (RFC 5626 §8), and never reaches the SIP handler.
func TestUDPAnswersSTUN(t *testing.T) {
	forFamilies(t, func(t *testing.T, f family) {
		col := newCollector()
		m := start(t, udpConfig(f), col)
		c := udpClient(t, f)
		srv := m.Listeners()[0].Bound
		for i := range 3 {
			req := bindingRequest(t, i == 1)
			if _, err := c.WriteToUDPAddrPort(req.Raw, srv); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1500)
			c.SetReadDeadline(time.Now().Add(wait))
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("no STUN answer: %v", err)
			}
			if unmap(from) != srv {
				t.Errorf("answered from %s, want the SIP port %s", from, srv)
			}
			checkReply(t, buf[:n], req, addrPort(c.LocalAddr()))
		}
		col.none(t, 50*time.Millisecond)
		if s := m.Stats(); s.STUNPings != 3 || s.Malformed != 0 || s.Received != 0 {
			t.Errorf("stats %+v", s)
		}
	})
}

// Each STUN keepalive of a UDP flow is remembered with the time it came,
// by the manager's clock, for its source alone; an hour's silence
// forgets it.
func TestUDPKeepAliveTimes(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	fake := clock.NewFake(t0)
	cfg := udpConfig(families[0])
	cfg.Clock = fake
	m := start(t, cfg, newCollector())
	srv := m.Listeners()[0].Bound
	ping := func(c *net.UDPConn) {
		t.Helper()
		if _, err := c.WriteToUDPAddrPort(bindingRequest(t, false).Raw, srv); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(wait))
		if _, _, err := c.ReadFromUDPAddrPort(make([]byte, 1500)); err != nil {
			t.Fatalf("no STUN answer: %v", err)
		}
	}
	phone, other := udpClient(t, families[0]), udpClient(t, families[0])
	src := addrPort(phone.LocalAddr())
	if _, ok := m.LastKeepAlive(src); ok {
		t.Fatal("a keepalive before any was sent")
	}
	ping(phone)
	if last, ok := m.LastKeepAlive(src); !ok || !last.Equal(t0) {
		t.Fatalf("LastKeepAlive = %v, %v; want %v", last, ok, t0)
	}
	fake.Advance(20 * time.Second)
	ping(phone)
	if last, _ := m.LastKeepAlive(src); !last.Equal(t0.Add(20 * time.Second)) {
		t.Errorf("after the second keepalive: %v", last)
	}
	if _, ok := m.LastKeepAlive(addrPort(other.LocalAddr())); ok {
		t.Error("a keepalive from a source that sent none")
	}
	fake.Advance(keepAliveForget)
	ping(other) // sweeps
	if _, ok := m.LastKeepAlive(src); ok {
		t.Error("a keepalive an hour old is still remembered")
	}
	if last, ok := m.LastKeepAlive(addrPort(other.LocalAddr())); !ok || !last.Equal(fake.Now()) {
		t.Errorf("the other source's keepalive: %v, %v", last, ok)
	}
}

// A connection is open until the peer closes it; then its flow is dead.
func TestConnOpen(t *testing.T) {
	col := newCollector()
	m := start(t, tcpConfig(families[0]), col)
	c := dialTCP(t, "tcp4", m.Listeners()[0].Bound)
	c.Write(request(TCP, "192.0.2.9", ""))
	in := col.next(t)
	if in.Conn == 0 || !m.ConnOpen(in.Conn) {
		t.Fatalf("ConnOpen(%d) false for an open connection", in.Conn)
	}
	if m.ConnOpen(0) || m.ConnOpen(in.Conn+1000) {
		t.Error("ConnOpen true for no connection")
	}
	if local, peer, ok := m.ConnAddrs(in.Conn); !ok || local != addrPort(c.RemoteAddr()) || peer != addrPort(c.LocalAddr()) {
		t.Errorf("ConnAddrs: %s, %s, %v; want %s, %s", local, peer, ok, c.RemoteAddr(), c.LocalAddr())
	}
	c.Close()
	eventually(t, "the closed connection to be dead", func() bool { return !m.ConnOpen(in.Conn) })
	if _, _, ok := m.ConnAddrs(in.Conn); ok {
		t.Error("ConnAddrs ok for a closed connection")
	}
}

// FuzzSTUNDemux feeds datagrams to the demultiplexer: no input panics,
// nothing that starts like SIP is taken for STUN, and every reply is a
// binding success for the request's transaction.
func FuzzSTUNDemux(f *testing.F) {
	f.Add(bindingRequest(f, false).Raw)
	f.Add(bindingRequest(f, true).Raw)
	f.Add([]byte("REGISTER sip:example.com SIP/2.0\r\n"))
	f.Add([]byte("\r\n\r\n"))
	src := netip.MustParseAddrPort("192.0.2.7:5060")
	f.Fuzz(func(t *testing.T, b []byte) {
		if !isSTUN(b) {
			return
		}
		if b[0] >= 'A' {
			t.Fatalf("%q taken for STUN", b)
		}
		orig := bytes.Clone(b)
		reply, ok := stunReply(b, src)
		if !bytes.Equal(b, orig) {
			t.Fatal("stunReply changed its input")
		}
		if !ok {
			return
		}
		var req stun.Message
		if err := stun.Decode(b, &req); err != nil {
			t.Fatalf("answered a request that does not decode: %v", err)
		}
		checkReply(t, reply, &req, src)
	})
}

func BenchmarkSTUNReply(b *testing.B) {
	req := bindingRequest(b, true).Raw
	src := netip.MustParseAddrPort("198.51.100.7:40000")
	b.ReportAllocs()
	for b.Loop() {
		if !isSTUN(req) {
			b.Fatal("not STUN")
		}
		if _, ok := stunReply(req, src); !ok {
			b.Fatal("no reply")
		}
	}
}

// CRLFCRLF over TLS is answered with CRLF too (RFC 5626 §4.4.1): the
// stream keep-alive does not depend on the stream being plain TCP.
func TestTLSPingPong(t *testing.T) {
	m := start(t, tlsConfig(families[0], t.TempDir()), newCollector())
	c := dialTLS(t, families[0], m, &tls.Config{InsecureSkipVerify: true})
	buf := make([]byte, 8)
	for range 3 {
		c.Write([]byte("\r\n\r\n"))
		c.SetReadDeadline(time.Now().Add(wait))
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "\r\n" {
			t.Fatalf("pong %q %v", buf[:n], err)
		}
	}
	if s := m.Stats(); s.Pings != 3 {
		t.Errorf("pings %d, want 3", s.Pings)
	}
}
