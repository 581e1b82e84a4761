package outbound

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// dnsZone is a tiny authoritative server on loopback for RFC 3263 tests.
func dnsZone(t *testing.T, records ...string) string {
	t.Helper()
	var rrs []dns.RR
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			t.Fatal(err)
		}
		rrs = append(rrs, rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		for _, rr := range rrs {
			h := rr.Header()
			if h.Name == q.Question[0].Name && h.Rrtype == q.Question[0].Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// zoneResolver is a Resolver that asks only the test's server.
func zoneResolver(server string) *DNS {
	return &DNS{
		timeout: 2 * time.Second,
		naptr:   &naptrClient{servers: []string{server}, client: new(dns.Client)},
		r: &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", server)
		}},
	}
}

func TestResolveNAPTR(t *testing.T) {
	server := dnsZone(t,
		`example.net. 60 IN NAPTR 20 10 "s" "SIP+D2U" "" _sip._udp.example.net.`,
		`example.net. 60 IN NAPTR 10 10 "s" "SIP+D2T" "" _sip._tcp.example.net.`,
		`example.net. 60 IN NAPTR 30 10 "s" "X-FOO" "" _foo.example.net.`,
		`_sip._tcp.example.net. 60 IN SRV 10 10 5070 sip1.example.net.`,
		`_sip._udp.example.net. 60 IN SRV 10 10 5080 sip2.example.net.`,
		`sip1.example.net. 60 IN A 192.0.2.11`,
		`sip2.example.net. 60 IN A 192.0.2.12`,
		`_sip._udp.srvonly.net. 60 IN SRV 10 10 5099 sip3.srvonly.net.`,
		`sip3.srvonly.net. 60 IN A 192.0.2.13`,
	)
	res := zoneResolver(server)
	tests := []struct {
		uri  string
		want []transport.Target
	}{
		// NAPTR order: TCP (order 10) before UDP (order 20); unknown services skipped.
		{"sip:bob@example.net", []transport.Target{target(transport.TCP, "192.0.2.11:5070"), target(transport.UDP, "192.0.2.12:5080")}},
		// A transport parameter skips NAPTR (RFC 3263 §4.1) and goes to its SRV.
		{"sip:bob@example.net;transport=udp", []transport.Target{target(transport.UDP, "192.0.2.12:5080")}},
		// No NAPTR: the SRV records.
		{"sip:bob@srvonly.net", []transport.Target{target(transport.UDP, "192.0.2.13:5099")}},
		// A port skips NAPTR and SRV (§4.2): A records at that port.
		{"sip:bob@sip1.example.net:5062", []transport.Target{target(transport.UDP, "192.0.2.11:5062")}},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			u, err := sip.ParseURI(tc.uri)
			if err != nil {
				t.Fatal(err)
			}
			got, err := res.Resolve(context.Background(), &u)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if !sameDst(got[i], tc.want[i]) {
					t.Errorf("destination %d = %v %v, want %v %v", i, got[i].Proto, got[i].Addr, tc.want[i].Proto, tc.want[i].Addr)
				}
			}
		})
	}
}
