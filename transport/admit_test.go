package transport

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// denyList is an Admit hook that refuses the listed addresses and
// records every address it was asked about.
type denyList struct {
	mu     sync.Mutex
	deny   map[netip.Addr]bool
	called []netip.Addr
}

func (d *denyList) admit(src netip.Addr) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.called = append(d.called, src)
	return !d.deny[src]
}

func (d *denyList) set(a string, denied bool) {
	d.mu.Lock()
	d.deny[netip.MustParseAddr(a)] = denied
	d.mu.Unlock()
}

func newDenyList(addrs ...string) *denyList {
	d := &denyList{deny: map[netip.Addr]bool{}}
	for _, a := range addrs {
		d.set(a, true)
	}
	return d
}

// TestAdmitUDP: a refused source's datagrams, junk and keep-alives
// included, are dropped before parsing and counted; others go through.
func TestAdmitUDP(t *testing.T) {
	d := newDenyList("127.0.0.2")
	cfg := udpConfig(families[0])
	cfg.Admit = d.admit
	m, _ := startAnswering(t, cfg)
	dst := m.Listeners()[0].Bound
	bad := udpClientFrom(t, "127.0.0.2")
	for _, b := range [][]byte{request(UDP, "127.0.0.2:9", ""), []byte("junk"), []byte("\r\n\r\n")} {
		bad.WriteToUDPAddrPort(b, dst)
	}
	good := udpClientFrom(t, "127.0.0.1")
	good.WriteToUDPAddrPort(request(UDP, hostPort(addrPort(good.LocalAddr())), ""), dst)
	if resp := readDatagram(t, good); resp.StatusCode() != 200 {
		t.Fatalf("admitted source: status %d", resp.StatusCode())
	}
	eventually(t, "three denied", func() bool { return m.Stats().Denied == 3 })
	if s := m.Stats(); s.Malformed != 0 || s.Received != 1 {
		t.Errorf("refused datagrams reached the parser: %+v", s)
	}
	bad.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _, err := bad.ReadFrom(make([]byte, 100)); err == nil {
		t.Errorf("a refused source got an answer of %d bytes", n)
	}
}

// TestAdmitTCP: a refused source's connection is closed at once, before
// any TLS or reading; a source refused later has its messages dropped
// while its connection stays.
func TestAdmitTCP(t *testing.T) {
	d := newDenyList("127.0.0.2")
	cfg := tcpConfig(families[0])
	cfg.Admit = d.admit
	m, _ := startAnswering(t, cfg)
	dst := m.Listeners()[0].Bound
	expectClosed(t, dialFrom(t, "127.0.0.2", dst), wait)
	eventually(t, "denied connection", func() bool { return m.Stats().DeniedConns == 1 })

	c := dialFrom(t, "127.0.0.3", dst)
	c.Write(request(TCP, "192.0.2.9", ""))
	readMessage(t, c)
	d.set("127.0.0.3", true)
	c.Write(request(TCP, "192.0.2.9", ""))
	eventually(t, "denied message", func() bool { return m.Stats().Denied == 1 })
	d.set("127.0.0.3", false)
	c.Write(request(TCP, "192.0.2.9", ""))
	if resp := readMessage(t, c); resp.StatusCode() != 200 {
		t.Fatalf("status %d after the source was admitted again", resp.StatusCode())
	}
	if s := m.Stats(); s.Accepted != 1 || s.Received != 2 || s.Refused != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestAdmitNil: without a hook nothing is denied (the zero Config).
func TestAdmitNil(t *testing.T) {
	m, _ := startAnswering(t, udpConfig(families[0]))
	c := udpClientFrom(t, "127.0.0.2")
	c.WriteToUDPAddrPort(request(UDP, hostPort(addrPort(c.LocalAddr())), ""), m.Listeners()[0].Bound)
	readDatagram(t, c)
	if s := m.Stats(); s.Denied != 0 || s.DeniedConns != 0 {
		t.Errorf("stats %+v", s)
	}
}

// udpClientFrom opens a UDP socket on a loopback address.
func udpClientFrom(t testing.TB, host string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(host), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
