package proxy

import (
	"testing"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// Which URIs are ours (§16.4): a URI without a port means its transport's
// default one, and sips a secure transport whatever its parameter says.
// (What a URI asks of the outbound service is outbound's TestURIProto.)
func TestURITransport(t *testing.T) {
	cases := []struct {
		uri     string
		ours    transport.Proto // uriTransport
		ourPort int
	}{
		{"sip:a@192.0.2.1", transport.UDP, 5060},
		{"sip:a@192.0.2.1;transport=udp", transport.UDP, 5060},
		{"sip:a@192.0.2.1;transport=TCP", transport.TCP, 5060},
		{"sip:a@192.0.2.1;transport=tls", transport.TLS, 5061},
		{"sip:a@192.0.2.1:5080;transport=tls", transport.TLS, 5061},
		{"sip:a@192.0.2.1;transport=sctp", transport.UDP, 5060},
		{"sips:a@192.0.2.1", transport.TLS, 5061},
		{"sips:a@192.0.2.1;transport=tcp", transport.TLS, 5061},
		{"sips:a@192.0.2.1;transport=sctp", transport.TLS, 5061},
		{"sip:a@192.0.2.1;transport=ws", transport.WS, 80},
		{"sips:a@192.0.2.1;transport=ws", transport.WSS, 443}, // RFC 7118 §5.2
		{"sips:a@192.0.2.1;transport=WS", transport.WSS, 443},
		{"sips:a@192.0.2.1;transport=wss", transport.WSS, 443},
		{"sips:a@192.0.2.1;transport=udp", transport.TLS, 5061},
	}
	for _, c := range cases {
		t.Run(c.uri, func(t *testing.T) {
			u, err := sip.ParseURI(c.uri)
			if err != nil {
				t.Fatal(err)
			}
			if ours := uriTransport(&u); ours != c.ours || ours.DefaultPort() != c.ourPort {
				t.Errorf("uriTransport = %s (port %d), want %s (port %d)", ours, ours.DefaultPort(), c.ours, c.ourPort)
			}
		})
	}
}
