package transport

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// §18.1.1: over 1300 bytes a UDP request goes by TCP, if a TCP listener
// of the family exists and UDP was not asked for explicitly.
func TestChooseProto(t *testing.T) {
	both := build(t, Config{Listeners: []ListenerConfig{
		{Proto: UDP, Host: "127.0.0.1"}, {Proto: TCP, Host: "127.0.0.1"},
	}}, newCollector())
	if err := both.Start(); err != nil {
		t.Fatal(err)
	}
	udpOnly := start(t, udpConfig(families[0]), newCollector())
	v4 := netip.MustParseAddrPort("127.0.0.1:5060")
	v6 := netip.MustParseAddrPort("[::1]:5060")
	cases := []struct {
		name string
		m    *Manager
		dst  Target
		size int
		want Proto
	}{
		{"small udp", both, Target{Proto: UDP, Addr: v4}, 1300, UDP},
		{"large udp", both, Target{Proto: UDP, Addr: v4}, 1301, TCP},
		{"large udp pinned", both, Target{Proto: UDP, Addr: v4, PinnedUDP: true}, 5000, UDP},
		{"large tcp", both, Target{Proto: TCP, Addr: v4}, 5000, TCP},
		{"large tls", both, Target{Proto: TLS, Addr: v4}, 5000, TLS},
		{"large udp, no tcp listener", udpOnly, Target{Proto: UDP, Addr: v4}, 5000, UDP},
		{"large udp, no tcp listener of the family", both, Target{Proto: UDP, Addr: v6}, 5000, UDP},
	}
	for _, c := range cases {
		if got := c.m.ChooseProto(c.dst, c.size); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// ListenerFor picks by protocol and family, preferring a listener that
// can reach the destination.
func TestListenerFor(t *testing.T) {
	ls := []*listener{
		{info: &ListenerInfo{Proto: UDP, Bound: netip.MustParseAddrPort("127.0.0.1:5060")}},
		{info: &ListenerInfo{Proto: UDP, Bound: netip.MustParseAddrPort("0.0.0.0:5060")}},
		{info: &ListenerInfo{Proto: TCP, Bound: netip.MustParseAddrPort("[::]:5060")}},
		{info: &ListenerInfo{Proto: TLS, Bound: netip.MustParseAddrPort("192.0.2.1:5061")}},
	}
	m := &Manager{}
	m.listeners.Store(&ls)
	cases := []struct {
		p    Proto
		dst  string
		want int // index, -1 for none
	}{
		{UDP, "127.0.0.1", 0},
		{UDP, "198.51.100.1", 1},
		{UDP, "::1", -1},
		{TCP, "2001:db8::1", 2},
		{TCP, "::ffff:192.0.2.9", -1}, // an IPv4-mapped destination is IPv4
		{TCP, "", 2},
		{TLS, "127.0.0.1", 3}, // cannot reach, but the only one of the family
	}
	for _, c := range cases {
		var dst netip.Addr
		if c.dst != "" {
			dst = netip.MustParseAddr(c.dst)
		}
		got := m.ListenerFor(c.p, dst)
		var want *ListenerInfo
		if c.want >= 0 {
			want = ls[c.want].info
		}
		if got != want {
			t.Errorf("%s to %q: %+v, want %+v", c.p, c.dst, got, want)
		}
	}
}

// What a listener advertises: the advertise setting, else the bound
// address, else for a wildcard bind an address of the machine.
func TestListenerInfoHost(t *testing.T) {
	ap := netip.MustParseAddrPort
	cases := []struct {
		lc    ListenerConfig
		bound netip.AddrPort
		host  string
		port  int
	}{
		{ListenerConfig{Proto: UDP}, ap("192.0.2.1:5060"), "192.0.2.1", 5060},
		{ListenerConfig{Proto: UDP}, ap("[2001:db8::1]:5060"), "[2001:db8::1]", 5060},
		{ListenerConfig{Proto: UDP, Advertise: "203.0.113.5"}, ap("0.0.0.0:5060"), "203.0.113.5", 5060},
		{ListenerConfig{Proto: TLS, Advertise: "sip.example.com:443"}, ap("0.0.0.0:5061"), "sip.example.com", 443},
		{ListenerConfig{Proto: TCP, Advertise: "[2001:db8::9]:5070"}, ap("[::]:5060"), "[2001:db8::9]", 5070},
		{ListenerConfig{Proto: TCP, Advertise: "2001:db8::9"}, ap("[::]:5060"), "[2001:db8::9]", 5060},
		{ListenerConfig{Proto: UDP}, ap("0.0.0.0:5060"), formatHost(machineAddr(true)), 5060},
		{ListenerConfig{Proto: UDP}, ap("[::]:5060"), formatHost(machineAddr(false)), 5060},
	}
	for _, c := range cases {
		info := newInfo(c.lc, c.bound)
		if info.Host != c.host || info.Port != c.port || info.Bound != c.bound || info.Proto != c.lc.Proto {
			t.Errorf("%+v on %s: %+v, want %s %d", c.lc, c.bound, info, c.host, c.port)
		}
	}
	if a := machineAddr(true); !a.Is4() || a.IsUnspecified() {
		t.Errorf("machine IPv4 address %s", a)
	}
}

func TestSplitAdvertise(t *testing.T) {
	cases := []struct {
		in   string
		host string
		port int
		err  bool
	}{
		{"203.0.113.5", "203.0.113.5", 7, false},
		{"203.0.113.5:5080", "203.0.113.5", 5080, false},
		{"sip.example.com", "sip.example.com", 7, false},
		{"[2001:db8::1]", "[2001:db8::1]", 7, false},
		{"[2001:db8::1]:5080", "[2001:db8::1]", 5080, false},
		{"2001:db8::1", "[2001:db8::1]", 7, false},
		{"host:0", "", 0, true},
		{"host:99999", "", 0, true},
		{"[2001:db8::1", "", 0, true},
		{"[nonsense]:5060", "", 0, true},
		{":5060", "", 0, true},
	}
	for _, c := range cases {
		host, port, err := splitAdvertise(c.in, 7)
		if (err != nil) != c.err || (!c.err && (host != c.host || port != c.port)) {
			t.Errorf("%q: %q %d %v", c.in, host, port, err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []Config{
		{},
		{Listeners: []ListenerConfig{{Proto: "sctp"}}},
		{Listeners: []ListenerConfig{{Proto: UDP, Port: 70000}}},
		{Listeners: []ListenerConfig{{Proto: UDP, Advertise: "host:x"}}},
		{Listeners: []ListenerConfig{{Proto: UDP}}, ClientAuth: "optional"},
		{Listeners: []ListenerConfig{{Proto: UDP}}, TLSCertFile: "c.pem"},
	}
	for i, cfg := range bad {
		cfg.Logger = testLogger()
		if _, err := New(cfg, newCollector()); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
	if _, err := New(udpConfig(families[0]), nil); err == nil {
		t.Error("nil handler accepted")
	}
	d := Config{}.withDefaults()
	if d.MaxBuffer != DefaultMaxBuffer || d.UDPSockets < 1 || d.Limits.MaxSize == 0 || d.ClientAuth != ClientAuthNone {
		t.Errorf("defaults %+v", d)
	}
}

// Shutdown closes every listener and connection, accepted and dialed,
// and returns; Send then fails and the ports are free again.
func TestShutdown(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), Listeners: []ListenerConfig{
		{Proto: UDP, Host: "127.0.0.1"}, {Proto: TCP, Host: "127.0.0.1"}, {Proto: TLS, Host: "127.0.0.1"},
	}}
	col := newCollector()
	m := start(t, cfg, col)
	ls := m.Listeners()
	in := dialTCP(t, "tcp4", ls[1].Bound)
	peer := newPeerServer(t, "tcp4", "127.0.0.1")
	if err := m.Send(Target{Proto: TCP, Addr: peer.addr()}, []byte("x")); err != nil {
		t.Fatal(err)
	}
	out := peer.accept(t)
	eventually(t, "two connections", func() bool { return m.Stats().Open == 2 })

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, in, wait)
	expectClosed(t, out, wait)
	if err := m.Send(Target{Proto: UDP, Addr: ls[0].Bound}, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("send after shutdown: %v", err)
	}
	if m.Stats().Open != 0 {
		t.Errorf("%d connections open", m.Stats().Open)
	}
	u, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ls[0].Bound))
	if err != nil {
		t.Fatalf("udp port still bound: %v", err)
	}
	u.Close()
	for _, l := range ls[1:] {
		tl, err := net.Listen("tcp4", l.Bound.String())
		if err != nil {
			t.Fatalf("%s port still bound: %v", l.Proto, err)
		}
		tl.Close()
	}
	if err := m.Start(); !errors.Is(err, ErrClosed) {
		t.Errorf("start after shutdown: %v", err)
	}
}

// A handler that does not return holds Shutdown only until its context
// ends.
func TestShutdownDeadline(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	m := start(t, udpConfig(families[0]), HandlerFunc(func(*Incoming) {
		entered <- struct{}{}
		<-release
	}))
	c := udpClient(t, families[0])
	c.WriteToUDPAddrPort(request(UDP, "192.0.2.1", ""), m.Listeners()[0].Bound)
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := m.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("shutdown with a stuck handler: %v", err)
	}
	close(release)
	if err := m.Close(); err != nil {
		t.Error(err)
	}
}
