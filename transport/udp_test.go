package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
)

func udpClient(t testing.TB, f family) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP(f.udp, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(f.host), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func udpConfig(f family) Config {
	return Config{Listeners: []ListenerConfig{{Proto: UDP, Host: f.host}}}
}

// A request goes in, the handler answers through Send and ResponseTarget,
// and the answer comes back to the client's socket.
func TestUDPRoundTrip(t *testing.T) {
	forFamilies(t, func(t *testing.T, f family) {
		m, _ := startAnswering(t, udpConfig(f))
		srv := m.Listeners()[0]
		if srv.Bound.Port() == 0 || srv.Host != formatHost(netip.MustParseAddr(f.host)) || srv.Port != int(srv.Bound.Port()) {
			t.Fatalf("listener info %+v", srv)
		}
		c := udpClient(t, f)
		local := addrPort(c.LocalAddr())
		if _, err := c.WriteToUDPAddrPort(request(UDP, hostPort(local), "", "rport"), srv.Bound); err != nil {
			t.Fatal(err)
		}
		resp := readDatagram(t, c)
		if resp.StatusCode() != 200 {
			t.Fatalf("status %d", resp.StatusCode())
		}
		v, _ := resp.TopVia()
		if port, _ := v.RPort(); port != int(local.Port()) {
			t.Errorf("response Via %s: rport not stamped with %d", v.String(), local.Port())
		}
		eventually(t, "counters", func() bool { s := m.Stats(); return s.Received == 1 && s.Sent == 1 })
	})
}

// §18.2.1 / RFC 3581: received when the sent-by host is not the source,
// rport filled when asked for, nothing touched otherwise; IPv6 received
// values carry no brackets.
func TestUDPReceivedRPort(t *testing.T) {
	forFamilies(t, func(t *testing.T, f family) {
		col := newCollector()
		m := start(t, udpConfig(f), col)
		c := udpClient(t, f)
		src := addrPort(c.LocalAddr())
		ip := src.Addr().String()
		cases := []struct {
			sentBy, param string
			want          string // substring of the stamped Via; "" = unchanged
		}{
			{"192.0.2.1:5060", "rport", fmt.Sprintf(";received=%s;rport=%d", ip, src.Port())},
			{"192.0.2.1:5060", "", ";received=" + ip},
			{hostPort(src), "rport", fmt.Sprintf(";received=%s;rport=%d", ip, src.Port())},
			{hostPort(src), "", ""},
		}
		for _, tc := range cases {
			var params []string
			if tc.param != "" {
				params = append(params, tc.param)
			}
			c.WriteToUDPAddrPort(request(UDP, tc.sentBy, "", params...), m.Listeners()[0].Bound)
			in := col.next(t)
			v, err := in.Msg.TopVia()
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == "" && in.Msg.Edited():
				t.Errorf("%s %s: Via changed to %s", tc.sentBy, tc.param, v.String())
			case tc.want != "" && !strings.HasSuffix(v.String(), tc.want):
				t.Errorf("%s %s: Via %s, want suffix %s", tc.sentBy, tc.param, v.String(), tc.want)
			}
			if strings.Contains(v.Received(), "[") {
				t.Errorf("received %q has brackets", v.Received())
			}
			if in.Source != src || in.Proto != UDP || in.Listener != m.Listeners()[0] || in.Conn != 0 {
				t.Errorf("incoming %+v", in)
			}
		}
	})
}

// Responses are delivered as read: no stamping.
func TestUDPResponseNotStamped(t *testing.T) {
	col := newCollector()
	m := start(t, udpConfig(families[0]), col)
	c := udpClient(t, families[0])
	req, _ := sip.Parse(request(UDP, "192.0.2.1:5060", "", "rport"))
	c.WriteToUDPAddrPort(sip.NewResponse(req, 180, "", "x").Bytes(), m.Listeners()[0].Bound)
	in := col.next(t)
	if in.Msg.IsRequest() || in.Msg.Edited() {
		t.Fatalf("response changed: %s", in.Msg.Bytes())
	}
}

// Garbage is dropped and counted; keep-alives are dropped silently; the
// listener keeps working after both.
func TestUDPDropsJunk(t *testing.T) {
	col := newCollector()
	cfg := udpConfig(families[0])
	cfg.Limits = sip.Limits{MaxSize: 2048, MaxHeaders: 64, MaxLineLength: 1024}
	m := start(t, cfg, col)
	c := udpClient(t, families[0])
	dst := m.Listeners()[0].Bound
	noVia := "OPTIONS sip:x@example.com SIP/2.0\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	tooBig := request(UDP, "192.0.2.1", strings.Repeat("x", 3000))
	for _, d := range [][]byte{[]byte("hello\r\n\r\n"), []byte(noVia), []byte("\r\n\r\n"), {0, 1, 0, 0}, tooBig} {
		c.WriteToUDPAddrPort(d, dst)
	}
	c.WriteToUDPAddrPort(request(UDP, "192.0.2.1", ""), dst)
	if in := col.next(t); !in.Msg.IsRequest() {
		t.Fatal("expected the good request")
	}
	// Two goroutines read each socket, so the good request may be
	// delivered while the other still counts the junk read before it.
	s := m.Stats()
	for deadline := time.Now().Add(2 * time.Second); (s.Malformed != 3 || s.Received != 1) && time.Now().Before(deadline); s = m.Stats() {
		time.Sleep(5 * time.Millisecond)
	}
	if s.Malformed != 3 || s.Received != 1 {
		t.Errorf("stats %+v, want 3 malformed (junk, no Via, too big) and 1 received", s)
	}
	col.none(t, 50*time.Millisecond)
}

// Several SO_REUSEPORT sockets share the port; every one reads and every
// peer is served.
func TestUDPSeveralSockets(t *testing.T) {
	m, _ := startAnswering(t, Config{
		Listeners:  []ListenerConfig{{Proto: UDP, Host: "127.0.0.1"}},
		UDPSockets: 4,
	})
	l := m.all()[0]
	if len(l.socks) != 4 {
		t.Fatalf("%d sockets", len(l.socks))
	}
	for i := range 20 {
		c := udpClient(t, families[0])
		c.WriteToUDPAddrPort(request(UDP, "192.0.2.1", "", "rport"), l.info.Bound)
		if r := readDatagram(t, c); r.StatusCode() != 200 {
			t.Fatalf("client %d: status %d", i, r.StatusCode())
		}
	}
}

// blockingHandler holds the first message it gets until release is
// closed and passes the rest on at once.
type blockingHandler struct {
	started atomic.Bool
	held    chan struct{} // closed when the first message is in the handler
	release chan struct{}
	rest    chan *Incoming
}

func (h *blockingHandler) HandleMessage(in *Incoming) {
	if h.started.CompareAndSwap(false, true) {
		close(h.held)
		<-h.release
		return
	}
	h.rest <- in
}

// One peer reaches one socket; while a reader is busy with its message,
// another reader of the same socket handles the peer's next one.
func TestUDPSecondReaderServesBusyPeer(t *testing.T) {
	for _, readers := range []int{1, 2} {
		t.Run(fmt.Sprintf("readers=%d", readers), func(t *testing.T) {
			h := &blockingHandler{held: make(chan struct{}), release: make(chan struct{}), rest: make(chan *Incoming, 1)}
			m := start(t, Config{
				Listeners:  []ListenerConfig{{Proto: UDP, Host: "127.0.0.1"}},
				UDPSockets: 1,
				UDPReaders: readers,
			}, h)
			defer close(h.release)
			c := udpClient(t, families[0])
			dst := m.Listeners()[0].Bound
			c.WriteToUDPAddrPort(request(UDP, "192.0.2.1", ""), dst)
			<-h.held
			c.WriteToUDPAddrPort(request(UDP, "192.0.2.1", ""), dst)
			select {
			case <-h.rest:
				if readers == 1 {
					t.Fatal("one reader handled a second message while busy with the first")
				}
			case <-time.After(300 * time.Millisecond):
				if readers > 1 {
					t.Fatal("the second message waited for the first to be handled")
				}
			}
		})
	}
}

// Send picks the UDP listener of the destination's family, honours
// Target.Listener, and refuses a family with no listener.
func TestUDPSendChoosesListener(t *testing.T) {
	if !hasIPv6() {
		t.Skip("::1 unavailable")
	}
	m := start(t, Config{Listeners: []ListenerConfig{
		{Proto: UDP, Host: "127.0.0.1"}, {Proto: UDP, Host: "127.0.0.1"}, {Proto: UDP, Host: "::1"},
	}}, newCollector())
	ls := m.Listeners()
	c4 := udpClient(t, families[0])
	c6 := udpClient(t, families[1])
	from := func(c *net.UDPConn, dst Target) netip.AddrPort {
		t.Helper()
		if err := m.Send(dst, []byte("x")); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(wait))
		_, src, err := c.ReadFromUDPAddrPort(make([]byte, 10))
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	if got := from(c4, Target{Proto: UDP, Addr: addrPort(c4.LocalAddr())}); got != ls[0].Bound {
		t.Errorf("v4 sent from %s, want first v4 listener %s", got, ls[0].Bound)
	}
	if got := from(c4, Target{Proto: UDP, Addr: addrPort(c4.LocalAddr()), Listener: ls[1]}); got != ls[1].Bound {
		t.Errorf("sent from %s, want the pinned listener %s", got, ls[1].Bound)
	}
	if got := from(c6, Target{Proto: UDP, Addr: addrPort(c6.LocalAddr()), Listener: ls[0]}); got != ls[2].Bound {
		t.Errorf("v6 sent from %s, want the v6 listener %s (pinned one is v4)", got, ls[2].Bound)
	}
	m4 := start(t, udpConfig(families[0]), newCollector())
	if err := m4.Send(Target{Proto: UDP, Addr: addrPort(c6.LocalAddr())}, []byte("x")); !errors.Is(err, ErrNoListener) {
		t.Errorf("send to v6 without a v6 listener: %v", err)
	}
}

// A port held by another socket fails Start with the operator's wording
// and leaves nothing bound.
func TestStartAddressInUse(t *testing.T) {
	for _, p := range []Proto{UDP, TCP} {
		t.Run(string(p), func(t *testing.T) {
			var port int
			if p == UDP {
				hold, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					t.Fatal(err)
				}
				defer hold.Close()
				port = hold.LocalAddr().(*net.UDPAddr).Port
			} else {
				hold, err := net.Listen("tcp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer hold.Close()
				port = hold.Addr().(*net.TCPAddr).Port
			}
			free := freePort(t)
			m, err := New(Config{Logger: testLogger(), UDPSockets: 2, Listeners: []ListenerConfig{
				{Proto: UDP, Host: "127.0.0.1", Port: free},
				{Proto: p, Host: "127.0.0.1", Port: port},
			}}, newCollector())
			if err != nil {
				t.Fatal(err)
			}
			err = m.Start()
			want := fmt.Sprintf("listen %s 127.0.0.1:%d: address already in use", p, port)
			if err == nil || err.Error() != want || !errors.Is(err, syscall.EADDRINUSE) {
				t.Fatalf("Start: %v, want %q", err, want)
			}
			if len(m.Listeners()) != 0 {
				t.Error("listeners reported after a failed start")
			}
			again, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: free})
			if err != nil {
				t.Fatalf("first listener left bound: %v", err)
			}
			again.Close()
			m.Close()
		})
	}
}

// freePort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Two managers cannot share a UDP port through SO_REUSEPORT: the second
// is told the port is in use instead of silently taking half the traffic.
func TestStartReusePortNotShared(t *testing.T) {
	first := start(t, Config{UDPSockets: 2, Listeners: []ListenerConfig{{Proto: UDP, Host: "127.0.0.1"}}}, newCollector())
	port := int(first.Listeners()[0].Bound.Port())
	second := build(t, Config{UDPSockets: 2, Listeners: []ListenerConfig{{Proto: UDP, Host: "127.0.0.1", Port: port}}}, newCollector())
	if err := second.Start(); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second manager on port %d: %v", port, err)
	}
}

// TestUDPAnswersBrokenRequests: a request that fails to parse but holds
// what a response must copy is answered with the defect, not dropped.
func TestUDPAnswersBrokenRequests(t *testing.T) {
	col := newCollector()
	m := start(t, udpConfig(families[0]), col)
	c := udpClient(t, families[0])
	dst := m.Listeners()[0].Bound
	sentBy := hostPort(c.LocalAddr().(*net.UDPAddr).AddrPort())
	tests := []struct {
		name, from, to string
		code           int
		reason         string
	}{
		{"other SIP version", "OPTIONS sip:parley@example.com SIP/2.0", "OPTIONS sip:parley@example.com SIP/3.0", 505, "Version Not Supported"},
		{"Content-Length past the end", "Content-Length: 0", "Content-Length: 40", 400, "Content-Length Exceeds Message"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := strings.Replace(string(request(UDP, sentBy, "")), tc.from, tc.to, 1)
			c.WriteToUDPAddrPort([]byte(req), dst)
			resp := readDatagram(t, c)
			if resp.StatusCode() != tc.code || resp.Reason() != tc.reason {
				t.Errorf("answer %d %s, want %d %s", resp.StatusCode(), resp.Reason(), tc.code, tc.reason)
			}
		})
	}
	col.none(t, 50*time.Millisecond)
}
