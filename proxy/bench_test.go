package proxy

import (
	"testing"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// The proxy's hot paths on the fakes, for allocs/op before and after a
// change (docs/PERFORMANCE.md): each iteration parses the golden request
// as the transport would and runs it through the whole stage chain.

// benchServe runs the golden file through the proxy b.N times; respond,
// when set, answers what the proxy forwarded so that the response context
// finishes.
func benchServe(b *testing.B, f *fixture, file string, respond bool, edits ...string) {
	raw := []byte(load(&testing.T{}, file, edits...))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := sip.Parse(append([]byte(nil), raw...))
		if err != nil {
			b.Fatal(err)
		}
		f.serve(m)
		if respond {
			c := f.txs.txs[len(f.txs.txs)-1]
			c.onResponse(sip.NewResponse(c.req, 200, "OK", "t1"))
		}
		f.txs.txs = f.txs.txs[:0]
		f.tp.sent = f.tp.sent[:0]
	}
}

func benchFixture(b *testing.B, cfg Config) *fixture {
	t := &testing.T{}
	f := newFixture(t, cfg)
	b.Cleanup(func() { f.store.Close() })
	f.bind("sip:bob@example.com", location.Binding{Contact: phoneContact(0), Source: ap(phoneAddr(0))})
	return f
}

// BenchmarkInviteStateful is an INVITE to a registered phone, forwarded in
// a response context and answered 200.
func BenchmarkInviteStateful(b *testing.B) {
	benchServe(b, benchFixture(b, defaultConfig()), "invite.sip", true)
}

// BenchmarkInviteStateless is the same INVITE forwarded statelessly.
func BenchmarkInviteStateless(b *testing.B) {
	cfg := defaultConfig()
	cfg.Stateless = true
	benchServe(b, benchFixture(b, cfg), "invite.sip", false)
}

// BenchmarkOptionsLocal is an OPTIONS the server answers itself.
func BenchmarkOptionsLocal(b *testing.B) {
	benchServe(b, benchFixture(b, defaultConfig()), "options.sip", false)
}

// BenchmarkMessageOtherDomain is a MESSAGE relayed to an IP address of
// another domain: route, location skipped, relay.
func BenchmarkMessageOtherDomain(b *testing.B) {
	benchServe(b, benchFixture(b, defaultConfig()), "message.sip", true, "RURI sip:carol@203.0.113.9")
}

// The paths that release the message they received
// (transport.Incoming.Release), "pooled" through the transport's receive
// path (transport.Inject: the message parsed into memory reused once
// released) and "allocated" as before pooling (a new copy, Message and
// Incoming per message). One op is one message received and forwarded.
func BenchmarkReleased(b *testing.B) {
	const stray = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKPabc.def\r\n" +
		"Via: " + uacVia + "\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>;tag=b1\r\n" +
		"Call-ID: c1@198.51.100.7\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	t := &testing.T{}
	for _, c := range []struct {
		name      string
		stateless bool
		text      string
		serve     func(f *fixture) func(in *transport.Incoming)
	}{
		{"ACK-2xx", false, load(t, "ack-2xx.sip"), ack},
		{"InviteStateless", true, load(t, "invite.sip"), request},
		{"StrayResponse", false, stray, strayResponse},
	} {
		for _, pooled := range []bool{false, true} {
			name := c.name + "/allocated"
			if pooled {
				name = c.name + "/pooled"
			}
			b.Run(name, func(b *testing.B) {
				cfg := defaultConfig()
				cfg.Stateless = c.stateless
				f := benchFixture(b, cfg)
				serve := transport.HandlerFunc(c.serve(f))
				data, in := []byte(c.text), *incoming(nil)
				b.ReportAllocs()
				for b.Loop() {
					if pooled {
						if err := transport.Inject(serve, sip.DefaultLimits, data, in); err != nil {
							b.Fatal(err)
						}
					} else {
						m, err := sip.Parse(append([]byte(nil), data...))
						if err != nil {
							b.Fatal(err)
						}
						in := in
						in.Msg = m
						serve(&in)
					}
					f.tp.sent = f.tp.sent[:0]
				}
			})
		}
	}
}
