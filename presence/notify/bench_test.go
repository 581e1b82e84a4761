package notify

import (
	"context"
	"log/slog"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// okSender answers every NOTIFY 200 at once, and counts them.
type okSender struct{ sent atomic.Int64 }

func (o *okSender) Do(_ context.Context, req outbound.Request) (*sip.Message, error) {
	o.sent.Add(1)
	return sip.NewResponse(req.Msg, 200, "OK", ""), nil
}

// benchRig is a notifier on the process's timing wheel behind a proxy.
func benchRig(b *testing.B) (*Notifier, *proxy.Proxy, *okSender) {
	out := &okSender{}
	n := New(Config{Sender: out, Clock: clock.Default(), Policy: pol, Log: slog.New(slog.DiscardHandler)})
	n.Register(&pkg{state: map[string]int{}, gone: map[string]bool{}})
	stages, _ := proxy.Insert(proxy.DefaultStages(), "location", n.Stage())
	p := proxy.New(proxy.Config{Stages: stages}, wire{}, wire{}, nil, nil, slog.New(slog.DiscardHandler))
	b.Cleanup(n.Close)
	return n, p, out
}

// subscribeMsg is alice's SUBSCRIBE number i to resource's presence.
func subscribeMsg(i int, resource string) *sip.Message {
	id := strconv.Itoa(i)
	m, _ := sip.Parse([]byte("SUBSCRIBE sip:" + resource + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK" + id + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=w" + id + "\r\nTo: <sip:" + resource + ">\r\n" +
		"Call-ID: b" + id + "@198.51.100.7\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:alice@198.51.100.7:5060>\r\n" +
		"Event: presence\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"))
	return m
}

type nopTx struct{}

func (nopTx) Respond(*sip.Message) error { return nil }

func serveBench(p *proxy.Proxy, m *sip.Message) {
	p.ServeRequest(nopTx{}, &transport.Incoming{Msg: m, Proto: transport.UDP, Source: source, Local: listener.Bound, Listener: listener})
}

// waitSent waits until the sender has seen want NOTIFYs.
func waitSent(b *testing.B, out *okSender, want int64) {
	deadline := time.Now().Add(time.Minute)
	for out.sent.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("%d NOTIFYs sent, want %d", out.sent.Load(), want)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// BenchmarkSubscribe: new subscriptions through the stage, each with its
// first NOTIFY answered, without a store (the memory engine's notifier).
func BenchmarkSubscribe(b *testing.B) {
	n, p, out := benchRig(b)
	msgs := make([]*sip.Message, b.N)
	for i := range msgs {
		msgs[i] = subscribeMsg(i, "u"+strconv.Itoa(i%1000)+"@example.com")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		serveBench(p, msgs[i])
	}
	waitSent(b, out, int64(b.N))
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "SUBSCRIBE/s")
	if n.Len() != b.N {
		b.Fatalf("%d subscriptions", n.Len())
	}
}

// BenchmarkFanOut: one change of a resource 1000 users watch, until
// every watcher's NOTIFY is answered.
func BenchmarkFanOut(b *testing.B) {
	const watchers = 1000
	n, p, out := benchRig(b)
	for i := range watchers {
		serveBench(p, subscribeMsg(i, "bob@example.com"))
	}
	waitSent(b, out, watchers)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		n.Changed("presence", "bob@example.com")
		waitSent(b, out, int64(watchers*(i+2)))
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*watchers)/b.Elapsed().Seconds(), "NOTIFY/s")
}

// BenchmarkMemoryPerSubscription: the heap 100 000 subscriptions hold
// (dialog, subscription, indexes, expiry timer; no store, as the memory
// engine runs it), per subscription. Each SUBSCRIBE is parsed in the
// measured loop, as the transport does, so that what a subscription pins
// of its request counts. Run with -benchtime=1x.
func BenchmarkMemoryPerSubscription(b *testing.B) {
	const subs = 100_000
	for range b.N {
		n, p, out := benchRig(b)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range subs {
			serveBench(p, subscribeMsg(i, "u"+strconv.Itoa(i%5000)+"@example.com"))
		}
		waitSent(b, out, subs)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/subs, "B/sub")
		runtime.KeepAlive(n)
	}
}
