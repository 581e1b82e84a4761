package cluster

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/parley-sip/parley/flowtoken"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

func signer(t testing.TB) *flowtoken.Signer {
	s, err := flowtoken.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPath: the Path is a loose route to the node's address with ob and
// the node's name, and its user part opens to the flow the REGISTER came
// on — with the key every node shares.
func TestPath(t *testing.T) {
	tests := []struct {
		name, node, address string
		in                  transport.Incoming
		host                string
		port                int
	}{
		{"tcp connection", "n1", "127.0.0.1:5060",
			transport.Incoming{Proto: transport.TCP, Source: netip.MustParseAddrPort("127.0.0.9:40000"), Local: netip.MustParseAddrPort("127.0.0.1:5060"), Conn: 7},
			"127.0.0.1", 5060},
		{"udp NAT binding", "edge-b", "sip2.example.com:5070",
			transport.Incoming{Proto: transport.UDP, Source: netip.MustParseAddrPort("198.51.100.7:4000"), Local: netip.MustParseAddrPort("10.0.0.2:5070")},
			"sip2.example.com", 5070},
		{"ipv6", "n3", "[2001:db8::3]:5060",
			transport.Incoming{Proto: transport.TLS, Source: netip.MustParseAddrPort("[2001:db8::99]:50000"), Local: netip.MustParseAddrPort("[2001:db8::3]:5061"), Conn: 1 << 40},
			"[2001:db8::3]", 5060},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := New(tt.node, tt.address, signer(t))
			v := n.Path(&tt.in)
			na, err := sip.ParseNameAddr(v)
			if err != nil {
				t.Fatalf("Path %q does not parse: %v", v, err)
			}
			u := na.URI
			if u.Host != tt.host || u.Port != tt.port || !u.Params.Has("lr") || !u.Params.Has("ob") {
				t.Errorf("Path %q: want a loose route with ob to %s:%d", v, tt.host, tt.port)
			}
			if got := NodeOf([]string{v}); got != tt.node {
				t.Errorf("NodeOf(%q) = %q, want %q", v, got, tt.node)
			}
			f, err := signer(t).Open(u.User)
			if err != nil {
				t.Fatalf("token %q: %v", u.User, err)
			}
			want := flowtoken.Flow{Proto: string(tt.in.Proto), Local: tt.in.Local, Remote: tt.in.Source, Conn: uint64(tt.in.Conn)}
			if f != want {
				t.Errorf("flow %+v, want %+v", f, want)
			}
		})
	}
}

// TestNodeOf reads the node from Paths Parley made and ignores others.
func TestNodeOf(t *testing.T) {
	tests := []struct {
		path []string
		want string
	}{
		{nil, ""},
		{[]string{"<sip:edge.example.net;lr>"}, ""},
		{[]string{"<sip:ft.x@127.0.0.2:5060;lr;ob;node=n2>"}, "n2"},
		{[]string{"<sip:ft.x@127.0.0.2:5060;lr;node=n2;ob>", "<sip:edge;lr>"}, "n2"},
		{[]string{"<sip:edge;lr>", "<sip:ft.x@127.0.0.2;lr;node=n2>"}, ""}, // only the first hop holds the flow
	}
	for _, tt := range tests {
		if got := NodeOf(tt.path); got != tt.want {
			t.Errorf("NodeOf(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// BenchmarkPath is the cost a node adds to each REGISTER.
func BenchmarkPath(b *testing.B) {
	n := New("n1", "127.0.0.1:5060", signer(b))
	in := transport.Incoming{Proto: transport.TCP, Source: netip.MustParseAddrPort("127.0.0.9:40000"), Local: netip.MustParseAddrPort("127.0.0.1:5060"), Conn: 7}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = n.Path(&in)
	}
}

// FuzzNodeOf: any Path value, however broken, gives a name or nothing,
// and never a name holding the characters that end it.
func FuzzNodeOf(f *testing.F) {
	for _, s := range []string{"<sip:ft.x@127.0.0.2:5060;lr;ob;node=n2>", "<sip:edge;lr>", ";node=", ";node=>", "node=a;b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if name := NodeOf([]string{path}); strings.ContainsAny(name, ";>") {
			t.Errorf("NodeOf(%q) = %q", path, name)
		}
	})
}
