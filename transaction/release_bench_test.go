package transaction

import (
	"bytes"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// BenchmarkAbsorbed measures the messages the layer handles alone and
// releases (Incoming.Release): a retransmitted OPTIONS answered from the
// linger store, and the ACK for a 486. "pooled" receives them as the
// transport does now, into memory reused once released (transport.Inject);
// "allocated" as it did before, each into a new copy, Incoming and
// Message. One op is one message, stamping its Via included.
func BenchmarkAbsorbed(b *testing.B) {
	for _, c := range []struct {
		name, method string
		code         int
		again        []byte
	}{
		{"options-retransmission", "OPTIONS", 200, rq{method: "OPTIONS"}.bytes()},
		{"ack-for-486", "INVITE", 486, rq{method: "ACK", toTag: "uas"}.bytes()},
	} {
		for _, pooled := range []bool{false, true} {
			name := c.name + "/allocated"
			if pooled {
				name = c.name + "/pooled"
			}
			b.Run(name, func(b *testing.B) {
				clk := clock.NewFake(epoch)
				l := New(Config{Clock: clk, TryingDelay: -1}, discard{}, answerWith{c.code})
				l.HandleMessage(rq{method: c.method}.in(b))
				in := transport.Incoming{Proto: transport.UDP, Source: uacAddr, Local: proxyAddr}
				b.ReportAllocs()
				for b.Loop() {
					if pooled {
						if err := transport.Inject(l, sip.DefaultLimits, c.again, in); err != nil {
							b.Fatal(err)
						}
						continue
					}
					receiveAllocated(b, l, c.again, in)
				}
				clk.Advance(time.Minute)
			})
		}
	}
}

// receiveAllocated is the transport's receive path before pooling: a copy
// of the datagram, a new Message and a new Incoming per message.
func receiveAllocated(b *testing.B, h transport.Handler, data []byte, in transport.Incoming) {
	m, err := sip.Parse(bytes.Clone(data))
	if err != nil {
		b.Fatal(err)
	}
	v, _ := m.TopVia()
	if value, changed := v.WithReceived(in.Source.Addr().String(), int(in.Source.Port())); changed {
		m.SetTopVia(value)
	}
	in.Msg = m
	h.HandleMessage(&in)
}
