package transport

import (
	"net/netip"
	"testing"

	"github.com/parley-sip/parley/sip"
)

func TestResponseTarget(t *testing.T) {
	src4 := netip.MustParseAddrPort("198.51.100.7:40000")
	src6 := netip.MustParseAddrPort("[2001:db8::7]:40000")
	li := &ListenerInfo{Proto: UDP}
	cases := []struct {
		name   string
		proto  Proto
		via    string
		source netip.AddrPort
		conn   ConnID
		want   Target
	}{
		{"udp rport: source address and port", UDP,
			"SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK1;rport", src4, 0,
			Target{Proto: UDP, Addr: src4}},
		{"udp received, no rport: source IP, sent-by port", UDP,
			"SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK1", src4, 0,
			Target{Proto: UDP, Addr: netip.MustParseAddrPort("198.51.100.7:5062")}},
		{"udp sent-by is the source: no received, its port", UDP,
			"SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bK1", src4, 0,
			Target{Proto: UDP, Addr: netip.MustParseAddrPort("198.51.100.7:5070")}},
		{"udp sent-by without port: 5060", UDP,
			"SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK1", src4, 0,
			Target{Proto: UDP, Addr: netip.MustParseAddrPort("198.51.100.7:5060")}},
		{"udp maddr wins", UDP,
			"SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK1;maddr=239.1.1.1", src4, 0,
			Target{Proto: UDP, Addr: netip.MustParseAddrPort("239.1.1.1:5062")}},
		{"udp ipv6 received without brackets", UDP,
			"SIP/2.0/UDP [2001:db8::2]:5062;branch=z9hG4bK1", src6, 0,
			Target{Proto: UDP, Addr: netip.MustParseAddrPort("[2001:db8::7]:5062")}},
		{"udp ipv6 rport", UDP,
			"SIP/2.0/UDP [2001:db8::2]:5062;branch=z9hG4bK1;rport", src6, 0,
			Target{Proto: UDP, Addr: src6}},
		{"tcp: the connection, else source IP at sent-by port", TCP,
			"SIP/2.0/TCP 10.0.0.2:5062;branch=z9hG4bK1;rport", src4, 42,
			Target{Proto: TCP, Conn: 42, Addr: netip.MustParseAddrPort("198.51.100.7:5062")}},
		{"tls default port 5061 and server name", TLS,
			"SIP/2.0/TLS phone.example.com;branch=z9hG4bK1", src4, 43,
			Target{Proto: TLS, Conn: 43, Addr: netip.MustParseAddrPort("198.51.100.7:5061"), ServerName: "phone.example.com"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg, err := sip.Parse([]byte("OPTIONS sip:x@example.com SIP/2.0\r\nVia: " + c.via +
				"\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@example.com>\r\nContent-Length: 0\r\n\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			if err := stamp(msg, c.source, false); err != nil {
				t.Fatal(err)
			}
			in := &Incoming{Msg: msg, Proto: c.proto, Source: c.source, Conn: c.conn, Listener: li}
			want := c.want
			want.Listener = li
			if got := ResponseTarget(in); got != want {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestProto(t *testing.T) {
	for _, c := range []struct {
		p        Proto
		reliable bool
		via      string
	}{{UDP, false, "UDP"}, {TCP, true, "TCP"}, {TLS, true, "TLS"}} {
		if c.p.Reliable() != c.reliable || c.p.ViaName() != c.via {
			t.Errorf("%s: Reliable %v ViaName %s", c.p, c.p.Reliable(), c.p.ViaName())
		}
	}
}
