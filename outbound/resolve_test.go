package outbound

import (
	"testing"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// What a URI asks for decides the transport, its port and whether a big
// request may move to TCP (§18.1.1, RFC 3263 §4.1).
func TestURIProto(t *testing.T) {
	cases := []struct {
		uri    string
		proto  transport.Proto
		pinned bool
		port   int // uriPort
	}{
		{"sip:a@192.0.2.1", transport.UDP, false, 5060},
		{"sip:a@192.0.2.1;transport=udp", transport.UDP, true, 5060},
		{"sip:a@192.0.2.1;transport=TCP", transport.TCP, true, 5060},
		{"sip:a@192.0.2.1;transport=tls", transport.TLS, true, 5061},
		{"sip:a@192.0.2.1:5080;transport=tls", transport.TLS, true, 5080},
		{"sip:a@192.0.2.1;transport=sctp", transport.UDP, false, 5060},
		{"sips:a@192.0.2.1", transport.TLS, true, 5061},
		// A sips URI asks for the secure form of what it names: TLS for
		// tcp (RFC 5630 §3.1.3), WSS for ws (RFC 7118 §5.2).
		{"sips:a@192.0.2.1;transport=tcp", transport.TLS, true, 5061},
		{"sips:a@192.0.2.1;transport=sctp", transport.TLS, true, 5061},
		{"sips:a@192.0.2.1;transport=udp", transport.TLS, true, 5061},
		{"sip:a@192.0.2.1;transport=ws", transport.WS, true, 80},
		{"sips:a@192.0.2.1;transport=ws", transport.WSS, true, 443},
		{"sips:a@192.0.2.1:8443;transport=WS", transport.WSS, true, 8443},
	}
	for _, c := range cases {
		t.Run(c.uri, func(t *testing.T) {
			u, err := sip.ParseURI(c.uri)
			if err != nil {
				t.Fatal(err)
			}
			p, pinned := URIProto(&u)
			if p != c.proto || pinned != c.pinned {
				t.Errorf("URIProto = %s, %v; want %s, %v", p, pinned, c.proto, c.pinned)
			}
			if port := uriPort(&u, p); port != c.port {
				t.Errorf("uriPort = %d, want %d", port, c.port)
			}
		})
	}
}
