package registrar

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// BenchmarkRegisterRefresh is what the harness's REGISTER series measures
// of the registrar: a refresh of one of 1 000 registered AORs on the
// memory store, parsed from the wire, handled, and its 200 written as the
// transport would send it. One op is one REGISTER.
func BenchmarkRegisterRefresh(b *testing.B) {
	const aors = 1000
	f := newFixture(DefaultPolicy)
	f.r.Logger = slog.New(slog.DiscardHandler) // a log line per binding would be most of the cost
	wire := func(aor, cseq int) []byte {
		return fmt.Appendf(nil, "REGISTER sip:example.com SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP 198.51.100.7:40000;branch=z9hG4bK-%d-%d;rport=40000\r\n"+
			"Max-Forwards: 70\r\n"+
			"From: <sip:user%04d@example.com>;tag=f%d\r\n"+
			"To: <sip:user%04d@example.com>\r\n"+
			"Call-ID: reg-%d@198.51.100.7\r\n"+
			"CSeq: %d REGISTER\r\n"+
			"Contact: <sip:user%04d@198.51.100.7:40000;transport=udp>;expires=3600\r\n"+
			"User-Agent: bench\r\n"+
			"Content-Length: 0\r\n\r\n", aor, cseq, aor, aor, aor, aor, cseq, aor)
	}
	in := transport.Incoming{Proto: transport.UDP, Source: netip.MustParseAddrPort("198.51.100.7:40000"),
		Local: netip.MustParseAddrPort("203.0.113.1:5060")}
	handle := func(data []byte) {
		req, err := sip.Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		in := in
		in.Msg = req
		resp := f.r.Handle(context.Background(), &in, "tt")
		if resp.StatusCode() != 200 {
			b.Fatalf("%d %s", resp.StatusCode(), resp.Reason())
		}
		_ = resp.Bytes()
	}
	for i := range aors {
		handle(wire(i, 1))
	}
	msgs := make([][]byte, b.N) // prebuilt, so building them is not measured
	for i := range msgs {
		msgs[i] = wire(i%aors, 2+i/aors)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, data := range msgs {
		handle(data)
	}
}
