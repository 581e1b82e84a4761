package server

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/transport"
)

// TestServed: configured domains are exactly what is served; without
// any, the server's own names and addresses are, and nobody else's.
func TestServed(t *testing.T) {
	host, _ := os.Hostname()
	listen := func(specs ...string) []config.Listener {
		var out []config.Listener
		for _, s := range specs {
			l, err := config.ParseListener(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, l)
		}
		return out
	}
	advertised := listen("udp:10.0.0.2:5060")
	advertised[0].Advertise = "203.0.113.5:5060"
	tests := []struct {
		name    string
		domains []string
		aliases []string
		listen  []config.Listener
		yes, no []string
	}{
		{name: "configured domains", domains: []string{"Example.com"}, listen: listen("udp:127.0.0.1:5060"),
			yes: []string{"example.com", "EXAMPLE.COM"},
			no:  []string{"127.0.0.1", "localhost", "evil.example", strings.ToLower(host)}},
		{name: "own names", listen: listen("udp:127.0.0.1:5060", "tcp:[::1]:5060"),
			yes: []string{"127.0.0.1", "[::1]", "::1", "localhost", strings.ToLower(host), strings.ToUpper(host)},
			no:  []string{"127.0.0.2", "evil.example", "203.0.113.9", "0.0.0.0", ""}},
		{name: "aliases", aliases: []string{"PBX.example.net", "198.51.100.9"}, listen: listen("udp:127.0.0.1:5060"),
			yes: []string{"pbx.example.net", "198.51.100.9", "127.0.0.1"}, no: []string{"example.net"}},
		{name: "aliases beside domains are not domains", domains: []string{"example.com"}, aliases: []string{"pbx.example.net"},
			listen: listen("udp:127.0.0.1:5060"), yes: []string{"example.com"}, no: []string{"pbx.example.net"}},
		{name: "advertised address", listen: advertised,
			yes: []string{"10.0.0.2", "203.0.113.5"}, no: []string{"203.0.113.6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Domains, cfg.Aliases, cfg.Listen = tt.domains, tt.aliases, tt.listen
			s := newServed(cfg)
			for _, h := range tt.yes {
				if !s.has(h) {
					t.Errorf("%q not served; served: %v", h, s.list())
				}
			}
			for _, h := range tt.no {
				if s.has(h) {
					t.Errorf("%q served; served: %v", h, s.list())
				}
			}
		})
	}
	t.Run("wildcard listener: the machine's addresses", func(t *testing.T) {
		cfg := config.Default()
		cfg.Domains = nil
		s := newServed(cfg)
		for _, a := range transport.MachineAddrs() {
			if !s.has(a.String()) {
				t.Errorf("machine address %s not served", a)
			}
		}
	})
}

// TestReloadRenewsCertificate: a reload that adds a domain gives the
// self-signed certificate that name at once; one that only removes a
// domain keeps the certificate, and its fingerprint.
func TestReloadRenewsCertificate(t *testing.T) {
	cfg := config.Default()
	cfg.Listen = []config.Listener{{Proto: config.ProtoTLS, Host: "127.0.0.1", Port: freePort(t)}}
	cfg.Domains = []string{"example.com"}
	cfg.DataDir = t.TempDir()
	cfg.Storage.Engine = config.EngineMemory
	cfg.Admin.Listen = ""
	s, err := New(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	first, _ := s.tp.Certificate()
	steps := []struct {
		domains []string
		renewed bool
	}{
		{[]string{"example.com", "example.net"}, true},
		{[]string{"example.net"}, false},
	}
	prev := first
	for _, st := range steps {
		next := *cfg
		next.Domains = st.domains
		if err := s.Reload(&next); err != nil {
			t.Fatal(err)
		}
		got, _ := s.tp.Certificate()
		if renewed := got.SHA256 != prev.SHA256; renewed != st.renewed {
			t.Errorf("domains %v: renewed %v, want %v", st.domains, renewed, st.renewed)
		}
		for _, d := range st.domains {
			if !slices.Contains(got.Names, d) {
				t.Errorf("domains %v: certificate names %v lack %s", st.domains, got.Names, d)
			}
		}
		prev = got
	}
}

// TestReloadRelayPolicy: proxy.relay and security.trusted take effect at
// the reload. A stranger's MESSAGE to a foreign address is refused; after
// a reload that trusts its source, and after one that opens the relay,
// it reaches that address.
func TestReloadRelayPolicy(t *testing.T) {
	s, srv := guardServer(t, func(*config.SecurityConfig) {})
	far := listenUDP(t, "127.0.0.2")
	client := listenUDP(t, "127.0.0.1")
	steps := []struct {
		name      string
		edit      func(*config.Config)
		forwarded bool
	}{
		{"default", func(*config.Config) {}, false},
		{"source trusted", func(c *config.Config) { c.Security.Trusted = []string{"127.0.0.1"} }, true},
		{"relay open", func(c *config.Config) { c.Proxy.Relay = config.RelayOpen }, true},
		{"closed again", func(*config.Config) {}, false},
	}
	for i, st := range steps {
		next := *s.settings.Load().cfg
		next.Security.Trusted, next.Proxy.Relay = nil, config.RelayDomains
		st.edit(&next)
		if err := s.Reload(&next); err != nil {
			t.Fatal(err)
		}
		id := "relay-" + strconv.Itoa(i)
		msg := "MESSAGE sip:eve@" + far.LocalAddr().String() + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + client.LocalAddr().String() + ";branch=z9hG4bK-" + id + ";rport\r\n" +
			"Max-Forwards: 70\r\nFrom: <sip:mallory@evil.example>;tag=m\r\nTo: <sip:eve@" + far.LocalAddr().String() + ">\r\n" +
			"Call-ID: " + id + "\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
		client.WriteToUDPAddrPort([]byte(msg), srv)
		buf := make([]byte, 65536)
		far.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, _, err := far.ReadFromUDPAddrPort(buf)
		arrived := err == nil && bytes.Contains(buf[:n], []byte("Call-ID: "+id))
		if arrived != st.forwarded {
			t.Errorf("%s: forwarded %v, want %v", st.name, arrived, st.forwarded)
		}
	}
}
