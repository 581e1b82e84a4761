package transport

import "testing"

// The registry is what the layers above know the protocols by: a wrong
// trait here changes timers, ports or DNS lookups everywhere.
func TestDriverTraits(t *testing.T) {
	cases := []struct {
		proto Proto
		want  Traits
	}{
		{UDP, Traits{Via: "UDP", DefaultPort: 5060, NAPTR: "SIP+D2U", SRVService: "sip", SRVProto: "udp"}},
		{TCP, Traits{Via: "TCP", DefaultPort: 5060, Reliable: true, Stream: true,
			NAPTR: "SIP+D2T", SRVService: "sip", SRVProto: "tcp"}},
		{TLS, Traits{Via: "TLS", DefaultPort: 5061, Reliable: true, Stream: true, Secure: true,
			NAPTR: "SIPS+D2T", SRVService: "sips", SRVProto: "tcp"}},
		{WS, Traits{Via: "WS", DefaultPort: 80, Reliable: true, Stream: true, URIParam: "ws"}},
		{WSS, Traits{Via: "WSS", DefaultPort: 443, Reliable: true, Stream: true, Secure: true, URIParam: "ws"}},
	}
	ds := Drivers()
	if len(ds) != len(cases) {
		t.Fatalf("%d drivers, want %d", len(ds), len(cases))
	}
	for i, c := range cases {
		t.Run(string(c.proto), func(t *testing.T) {
			if ds[i].Proto() != c.proto {
				t.Errorf("driver %d is %s: the order is RFC 3263's preference", i, ds[i].Proto())
			}
			d, ok := Lookup(c.proto)
			if !ok || d.Traits() != c.want {
				t.Fatalf("Lookup: %v %+v", ok, d)
			}
			p := c.proto
			if !p.Known() || p.Reliable() != c.want.Reliable || p.Stream() != c.want.Stream ||
				p.Secure() != c.want.Secure || p.DefaultPort() != c.want.DefaultPort || p.ViaName() != c.want.Via ||
				(p.URIParam() != c.want.URIParam && p.URIParam() != string(p)) {
				t.Errorf("Proto methods disagree with the traits %+v", c.want)
			}
		})
	}
}

func TestUnknownProto(t *testing.T) {
	p := Proto("sctp")
	if _, ok := Lookup(p); ok || p.Known() {
		t.Fatal("sctp is known")
	}
	if p.Reliable() || p.Stream() || p.Secure() || p.DefaultPort() != 0 || p.ViaName() != "" {
		t.Error("an unknown protocol has traits")
	}
}

func TestProtoOfVia(t *testing.T) {
	cases := []struct {
		token string
		want  Proto
		known bool
	}{
		{"UDP", UDP, true},
		{"udp", UDP, true},
		{"Tcp", TCP, true},
		{"TLS", TLS, true},
		{"WS", WS, true},
		{"wss", WSS, true},
		{"SCTP", "sctp", false},
		{"", "", false},
	}
	for _, c := range cases {
		if p, ok := ProtoOfVia(c.token); p != c.want || ok != c.known {
			t.Errorf("ProtoOfVia(%q) = %q, %v; want %q, %v", c.token, p, ok, c.want, c.known)
		}
	}
}

// A new driver with a Via token or name already taken would make
// lookups ambiguous.
func TestDriversAreDistinct(t *testing.T) {
	protos, vias := map[Proto]bool{}, map[string]bool{}
	for _, d := range Drivers() {
		tr := d.Traits()
		if protos[d.Proto()] || vias[tr.Via] {
			t.Errorf("%s: name or Via token %q taken twice", d.Proto(), tr.Via)
		}
		protos[d.Proto()], vias[tr.Via] = true, true
		if tr.DefaultPort < 1 || tr.DefaultPort > 65535 {
			t.Errorf("%s: default port %d", d.Proto(), tr.DefaultPort)
		}
		if (tr.SRVService == "") != (tr.SRVProto == "") {
			t.Errorf("%s: SRV service %q without protocol %q", d.Proto(), tr.SRVService, tr.SRVProto)
		}
	}
}

func BenchmarkProtoReliable(b *testing.B) {
	ps := []Proto{UDP, TCP, TLS}
	n := 0
	for i := range b.N {
		if ps[i%3].Reliable() {
			n++
		}
	}
	if n == 0 && b.N > 2 {
		b.Fatal("nothing reliable")
	}
}

// A URI's transport parameter, and what a sips URI makes of it: the
// secure form of the protocol it names, or nothing when there is none.
func TestProtoOfURI(t *testing.T) {
	cases := []struct {
		param string
		sips  bool
		want  Proto
		ok    bool
	}{
		{"udp", false, UDP, true},
		{"TCP", false, TCP, true},
		{"tls", false, TLS, true},
		{"ws", false, WS, true},
		{"wss", false, WSS, true},
		{"sctp", false, "sctp", false},
		{"tcp", true, TLS, true},
		{"tls", true, TLS, true},
		{"ws", true, WSS, true},
		{"Ws", true, WSS, true},
		{"wss", true, WSS, true},
		{"udp", true, "", false},
		{"sctp", true, "sctp", false},
	}
	for _, c := range cases {
		got, ok := ProtoOfURI(c.param, c.sips)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("ProtoOfURI(%q, sips %v) = %q, %v; want %q, %v", c.param, c.sips, got, ok, c.want, c.ok)
		}
	}
}
