package redisstore

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
)

// benchAORs is how many AORs the lookup benchmarks spread over: enough to
// miss the CPU caches, few enough for the client-side cache.
const benchAORs = 1000

// engines are the stores the benchmarks compare: memory is the yardstick.
// open returns the store and measure, which resets b's timer and returns
// the func that reports what the operations since cost (see cost; the
// memory store reports nothing more).
func engines(b *testing.B) []engine {
	return []engine{
		{"memory", func(*testing.B) (location.Store, measure) {
			return location.NewMemory(), func(b *testing.B) func() {
				b.ResetTimer()
				return func() {}
			}
		}},
		{"redis", func(b *testing.B) (location.Store, measure) {
			url := requireRedis(b)
			return openTest(b, url, testPrefix(b, url)), func(b *testing.B) func() {
				m := startCost(b, url)
				b.ResetTimer()
				return func() { m.report(b) }
			}
		}},
	}
}

type engine struct {
	name string
	open func(b *testing.B) (location.Store, measure)
}

// measure starts a benchmark's timed part and returns the func that ends
// it.
type measure func(b *testing.B) (done func())

func benchBinding(i int64, now time.Time) location.Binding {
	return location.Binding{
		Contact: fmt.Sprintf("sip:bench%d@192.0.2.1:5060", i), Params: "+sip.instance=\"<urn:uuid:1>\";reg-id=1",
		Q: 1000, Expires: now.Add(time.Hour), CallID: fmt.Sprintf("bench-%d", i), CSeq: 1, Transport: "udp",
		Source: netip.MustParseAddrPort("192.0.2.1:5060"), UserAgent: "bench/1", Updated: now,
	}
}

// BenchmarkPut is a REGISTER's Update of a fresh AOR, from many
// goroutines at once as a loaded registrar makes them.
func BenchmarkPut(b *testing.B) {
	for _, e := range engines(b) {
		b.Run(e.name, func(b *testing.B) {
			s, measure := e.open(b)
			defer s.Close()
			now := time.Now()
			var n atomic.Int64
			b.SetParallelism(16) // Redis round trips overlap
			b.ReportAllocs()
			defer measure(b)()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					bind := benchBinding(i, now)
					if _, err := s.Update(context.Background(), fmt.Sprintf("sip:bench%d@example.com", i), now,
						func(cur []location.Binding) ([]location.Binding, error) { return append(cur, bind), nil }); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkRefresh is what most REGISTERs are: a phone's refresh of its
// one binding (a later expiry, the next CSeq) at the node that stored it.
func BenchmarkRefresh(b *testing.B) {
	benchRegistered(b, func(s location.Store, aor string, now time.Time, i int64) error {
		at := now.Add(time.Duration(i) * time.Microsecond)
		_, err := s.Update(context.Background(), aor, at, func(cur []location.Binding) ([]location.Binding, error) {
			for j := range cur {
				cur[j].Expires, cur[j].Updated, cur[j].CSeq = at.Add(time.Hour), at, cur[j].CSeq+1
			}
			return cur, nil
		})
		return err
	})
}

// BenchmarkLookup is a call's Lookup of a registered AOR; Redis's answers
// come from the client-side cache once read.
func BenchmarkLookup(b *testing.B) {
	benchRegistered(b, func(s location.Store, aor string, now time.Time, _ int64) error {
		bs, err := s.Lookup(context.Background(), aor, now)
		if err == nil && len(bs) != 1 {
			err = fmt.Errorf("Lookup: %d bindings", len(bs))
		}
		return err
	})
}

// benchRegistered runs op on each engine from many goroutines at once,
// over benchAORs AORs registered first; i counts the operations from 1.
func benchRegistered(b *testing.B, op func(s location.Store, aor string, now time.Time, i int64) error) {
	for _, e := range engines(b) {
		b.Run(e.name, func(b *testing.B) {
			s, measure := e.open(b)
			defer s.Close()
			now := time.Now()
			aors := registerAll(b, s, now)
			var n atomic.Int64
			b.SetParallelism(16) // Redis round trips overlap
			b.ReportAllocs()
			defer measure(b)()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					if err := op(s, aors[i%benchAORs], now, i); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// registerAll gives benchAORs AORs one binding each.
func registerAll(b *testing.B, s location.Store, now time.Time) []string {
	b.Helper()
	aors := make([]string, benchAORs)
	for i := range aors {
		aors[i] = fmt.Sprintf("sip:bench%d@example.com", i)
		bind := benchBinding(int64(i), now)
		if _, err := s.Update(context.Background(), aors[i], now,
			func([]location.Binding) ([]location.Binding, error) { return []location.Binding{bind}, nil }); err != nil {
			b.Fatal(err)
		}
	}
	return aors
}

// BenchmarkCount is a metrics scrape's Count: every bucket's totals, in
// one pipeline.
func BenchmarkCount(b *testing.B) {
	url := requireRedis(b)
	s := openTest(b, url, testPrefix(b, url))
	for b.Loop() {
		s.Count()
	}
}

// BenchmarkSweepIdle is the expiry sweep every node runs each second,
// with nothing due: one pipeline asking every bucket's index.
func BenchmarkSweepIdle(b *testing.B) {
	url := requireRedis(b)
	s := openTest(b, url, testPrefix(b, url))
	now := time.Now()
	for b.Loop() {
		if _, err := s.Expire(context.Background(), now); err != nil {
			b.Fatal(err)
		}
	}
}
