package transaction

import (
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// discard is a Sender that sends nowhere, so benchmarks time the layer.
type discard struct{}

func (discard) Send(transport.Target, []byte) error { return nil }

// answer200 is a Core that answers every request 200 at once.
type answer200 struct{}

func (answer200) ServeRequest(tx *ServerTx, in *transport.Incoming) {
	tx.Respond(sip.NewResponse(in.Msg, 200, "", "uas"))
}
func (answer200) ServeACK(*transport.Incoming)           {}
func (answer200) ServeStrayResponse(*transport.Incoming) {}

// answerWith is a Core that answers every request with its code at once.
type answerWith struct{ code int }

func (a answerWith) ServeRequest(tx *ServerTx, in *transport.Incoming) {
	tx.Respond(sip.NewResponse(in.Msg, a.code, "", "uas"))
}
func (answerWith) ServeACK(*transport.Incoming)           {}
func (answerWith) ServeStrayResponse(*transport.Incoming) {}

// fixed is a Core that answers every request with the same response,
// so that benchmarks can leave out building it.
type fixed struct{ resp *sip.Message }

func prebuilt200(b testing.TB) fixed {
	return fixed{sip.NewResponse(benchRequest(b, "OPTIONS", transport.UDP).Msg, 200, "", "uas")}
}

func (f fixed) ServeRequest(tx *ServerTx, in *transport.Incoming) { tx.Respond(f.resp) }
func (fixed) ServeACK(*transport.Incoming)                        {}
func (fixed) ServeStrayResponse(*transport.Incoming)              {}

// silent is a Core that answers nothing.
type silent struct{}

func (silent) ServeRequest(*ServerTx, *transport.Incoming) {}
func (silent) ServeACK(*transport.Incoming)                {}
func (silent) ServeStrayResponse(*transport.Incoming)      {}

var benchSeq atomic.Uint64

// benchRequest returns a new OPTIONS request with a unique branch, as
// the transport would hand it over.
func benchRequest(b testing.TB, method string, proto transport.Proto) *transport.Incoming {
	n := benchSeq.Add(1)
	r := rq{method: method, branch: "z9hG4bK-" + strconv.FormatUint(n, 36), callID: strconv.FormatUint(n, 36) + "@bench"}
	m, err := sip.Parse(r.bytes())
	if err != nil {
		b.Fatal(err)
	}
	return &transport.Incoming{Msg: m, Proto: proto, Source: uacAddr, Local: proxyAddr, Conn: connFor(proto)}
}

// BenchmarkServerNonInvite measures non-INVITE server transactions
// created and completed: request in, Core answers 200, Timer J (64*T1 on
// UDP) expires. Each op includes parsing the request and building the
// 200 (see BenchmarkBaseline for that share).
func BenchmarkServerNonInvite(b *testing.B) {
	b.Run("udp/fake-clock", func(b *testing.B) {
		clk := clock.NewFake(epoch)
		l := New(Config{Clock: clk}, discard{}, answer200{})
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			l.HandleMessage(benchRequest(b, "OPTIONS", transport.UDP))
			if i++; i%1024 == 0 {
				clk.Advance(32 * time.Second) // Timer J of this batch
			}
		}
		clk.Advance(32 * time.Second)
		reportRate(b, l)
	})
	for _, store := range []struct {
		name string
		heap bool
	}{{"heap", true}, {"linger-store", false}} {
		b.Run("udp/fake-clock/layer-only/"+store.name, func(b *testing.B) {
			// Requests parsed and the 200 built outside the timer: what the
			// transaction layer itself costs per transaction.
			clk := clock.NewFake(epoch)
			l := New(Config{Clock: clk, heapLinger: store.heap}, discard{}, prebuilt200(b))
			batch := make([]*transport.Incoming, 1024)
			b.ReportAllocs()
			for i := 0; i < b.N; i += len(batch) {
				b.StopTimer()
				for j := range batch {
					batch[j] = benchRequest(b, "OPTIONS", transport.UDP)
				}
				b.StartTimer()
				for j := 0; j < len(batch) && i+j < b.N; j++ {
					l.HandleMessage(batch[j])
				}
				clk.Advance(32 * time.Second)
			}
			reportRate(b, l)
		})
	}
	b.Run("udp/wheel/parallel", func(b *testing.B) {
		// T1 = 1 ms makes Timer J 64 ms, so transactions complete on the
		// real wheel while the benchmark runs.
		w := clock.NewWheel(time.Millisecond)
		defer w.Stop()
		l := New(Config{Clock: w, T1: time.Millisecond, MaxTransactions: -1}, discard{}, answer200{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.HandleMessage(benchRequest(b, "OPTIONS", transport.UDP))
			}
		})
		for l.Stats().ServerActive > 0 {
			time.Sleep(time.Millisecond)
		}
		reportRate(b, l)
	})
	b.Run("tcp/parallel", func(b *testing.B) {
		l := New(Config{MaxTransactions: -1}, discard{}, answer200{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.HandleMessage(benchRequest(b, "OPTIONS", transport.TCP))
			}
		})
		reportRate(b, l)
	})
}

func reportRate(b *testing.B, l *Layer) {
	st := l.Stats()
	if st.ServerTerminated != st.ServerCreated {
		b.Fatalf("stats %+v", st)
	}
	b.ReportMetric(float64(st.ServerTerminated)/b.Elapsed().Seconds(), "tx/s")
}

// BenchmarkBaseline is the work in BenchmarkServerNonInvite that is not
// the transaction layer's: parsing the request and building the 200.
func BenchmarkBaseline(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		in := benchRequest(b, "OPTIONS", transport.UDP)
		resp := sip.NewResponse(in.Msg, 200, "", "uas")
		_ = resp.Bytes()
	}
}

// BenchmarkLive200k holds 200 000 live transactions on the real timing
// wheel and reports the heap they use per transaction, with and without
// the received request and the response kept for retransmission.
func BenchmarkLive200k(b *testing.B) {
	const n = 200_000
	// Baseline: what the messages alone take.
	b.Run("messages-only", func(b *testing.B) {
		for b.Loop() {
			before := heapAlloc()
			ins := make([]*transport.Incoming, n)
			resps := make([][]byte, n)
			for i := range ins {
				ins[i] = benchRequest(b, "OPTIONS", transport.UDP)
				resps[i] = sip.NewResponse(ins[i].Msg, 200, "", "uas").Bytes()
			}
			b.ReportMetric(float64(heapAlloc()-before)/n, "B/tx")
			runtime.KeepAlive(ins)
			runtime.KeepAlive(resps)
		}
	})
	for _, c := range []struct {
		name, method string
		code         int
		client       bool
	}{
		{"server-non-invite-completed", "OPTIONS", 200, false},
		{"server-invite-completed", "INVITE", 486, false},
		{"client-non-invite-completed", "OPTIONS", 200, true},
		{"client-invite-completed", "INVITE", 486, true},
	} {
		for _, store := range []struct {
			name string
			heap bool
		}{{"heap", true}, {"linger-store", false}} {
			b.Run(c.name+"/"+store.name, func(b *testing.B) {
				// Each waits in Completed: a server OPTIONS for Timer J, a
				// server INVITE answered 486 for an ACK that never comes
				// (Timers G, H), a client one for Timer K or D, its TU having
				// let go of it. On the heap with its response (or ACK) and
				// wheel timers, or as a record in a linger store. gc-ms is
				// one full collection with them all alive: the mark work
				// they cost every cycle.
				for b.Loop() {
					benchCompleted(b, n, c.method, c.code, c.client, store.heap)
				}
			})
		}
	}
	b.Run("server-invite-proceeding", func(b *testing.B) {
		// Each waits in Proceeding for the Core, holding its request and
		// its 100 Trying; no timer.
		for b.Loop() {
			l := New(Config{MaxTransactions: -1}, discard{}, silent{})
			before := heapAlloc()
			for range n {
				l.HandleMessage(benchRequest(b, "INVITE", transport.UDP))
			}
			b.ReportMetric(float64(heapAlloc()-before)/n, "B/tx")
			if l.Stats().ServerActive != n {
				b.Fatalf("stats %+v", l.Stats())
			}
		}
	})
	b.Run("client-invite-calling", func(b *testing.B) {
		// Each waits in Calling with Timers A and B pending (T1 raised so
		// that none fires while measuring).
		for b.Loop() {
			w := clock.NewWheel(clock.DefaultTick)
			l := New(Config{Clock: w, T1: time.Minute, MaxTransactions: -1}, discard{}, silent{})
			reqs := make([]*sip.Message, n)
			for i := range reqs {
				reqs[i] = benchRequest(b, "INVITE", transport.UDP).Msg
			}
			before := heapAlloc()
			for _, req := range reqs {
				if _, err := l.Request(req, udpTarget, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(heapAlloc()-before)/n, "B/tx")
			if l.Stats().ClientActive != n || w.Len() != 2*n {
				b.Fatalf("stats %+v, %d timers", l.Stats(), w.Len())
			}
			w.Stop()
			runtime.KeepAlive(reqs)
		}
	})
}

// benchCompleted makes n server or client transactions of method,
// answers each with code and reports the heap and collection time with
// them all Completed.
func benchCompleted(b *testing.B, n int, method string, code int, client, heap bool) {
	w := clock.NewWheel(clock.DefaultTick)
	defer w.Stop()
	// Timers of a minute and more: none fires while this machine builds them.
	l := New(Config{Clock: w, T1: time.Minute, T2: 4 * time.Minute, T4: time.Minute, TimerD: time.Minute,
		MaxTransactions: -1, MaxInFlight: -1, TryingDelay: -1, heapLinger: heap}, discard{}, answerWith{code})
	before := heapAlloc()
	for range n {
		in := benchRequest(b, method, transport.UDP)
		if !client {
			l.HandleMessage(in)
			continue
		}
		if _, err := l.Request(in.Msg, udpTarget, nil); err != nil {
			b.Fatal(err)
		}
		m, err := sip.Parse(sip.NewResponse(in.Msg, code, "", "uas").Bytes())
		if err != nil {
			b.Fatal(err)
		}
		l.HandleMessage(&transport.Incoming{Msg: m, Proto: transport.UDP, Source: uasAddr, Local: proxyAddr})
	}
	b.ReportMetric(float64(int64(heapAlloc())-int64(before))/float64(n), "B/tx")
	start := time.Now()
	runtime.GC()
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "gc-ms")
	b.ReportMetric(float64(w.Len()), "timers")
	if st := l.Stats(); st.ServerActive+st.ClientActive != int64(n) || st.InFlight != 0 {
		b.Fatalf("stats %+v", st)
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkServerInviteRejected measures INVITE server transactions made
// and answered 486 over UDP, layer only (requests parsed and the
// response built beforehand): on the heap with Timers G and H, or
// parked in the retransmitting store. Timers G and H run after the
// timed part.
func BenchmarkServerInviteRejected(b *testing.B) {
	for _, store := range []struct {
		name string
		heap bool
	}{{"heap", true}, {"linger-store", false}} {
		b.Run(store.name, func(b *testing.B) {
			clk := clock.NewFake(epoch)
			busy := fixed{sip.NewResponse(benchRequest(b, "INVITE", transport.UDP).Msg, 486, "", "uas")}
			l := New(Config{Clock: clk, MaxTransactions: -1, MaxInFlight: -1, TryingDelay: -1, heapLinger: store.heap}, discard{}, busy)
			ins := make([]*transport.Incoming, b.N)
			for i := range ins {
				ins[i] = benchRequest(b, "INVITE", transport.UDP)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for _, in := range ins {
				l.HandleMessage(in)
			}
			b.StopTimer()
			clk.Advance(time.Minute)
			if st := l.Stats(); st.ServerActive != 0 || st.ServerCreated != uint64(b.N) {
				b.Fatalf("stats %+v", st)
			}
		})
	}
}
