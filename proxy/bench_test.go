package proxy

import (
	"testing"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
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
