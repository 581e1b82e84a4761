package sqlstore

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
)

// registersInFlight is how many REGISTERs the benchmarks keep waiting on
// their commit at once, per core: a loaded registrar has hundreds, and
// group commit feeds on them.
const registersInFlight = 128

// BenchmarkSQLiteUpdateParallel measures durable REGISTER-updates per
// second: distinct AORs, each Update acknowledged only once committed.
// "full" is the default durability (fsync per group), "normal" survives
// kill -9 but not power loss, and "full-nogroup" commits every change
// alone, which is what group commit saves.
func BenchmarkSQLiteUpdateParallel(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []Option
	}{
		{"full", []Option{WithSync(SyncFull)}},
		{"normal", []Option{WithSync(SyncNormal)}},
		{"full-nogroup", []Option{WithSync(SyncFull), WithMaxBatch(1)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := OpenSQLite(filepath.Join(b.TempDir(), "parley.db"), bc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			benchUpdates(b, s)
		})
	}
}

// BenchmarkSQLiteUpdateSerial is one REGISTER at a time: each waits for a
// commit of its own, so ns/op is the latency of one durable Update and the
// rate is what a caller without concurrency gets.
func BenchmarkSQLiteUpdateSerial(b *testing.B) {
	s, err := OpenSQLite(filepath.Join(b.TempDir(), "parley.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	b.ReportAllocs()
	for i := range int64(b.N) {
		aor := fmt.Sprintf("sip:bench%d@example.com", i)
		if _, err := s.Update(context.Background(), aor, now, replace(benchBinding(i, now))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}

// BenchmarkPostgresUpdateParallel is the same load on PostgreSQL.
func BenchmarkPostgresUpdateParallel(b *testing.B) {
	s, err := OpenPostgres(context.Background(), postgresDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchUpdates(b, s)
}

// benchUpdates runs Updates of distinct AORs from many goroutines and
// reports the rate.
func benchUpdates(b *testing.B, s *Store) {
	var n atomic.Int64
	now := time.Now()
	b.SetParallelism(registersInFlight)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			aor := fmt.Sprintf("sip:bench%d@example.com", i)
			if _, err := s.Update(context.Background(), aor, now, replace(benchBinding(i, now))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	// CPU per update says what the code costs even when the shared
	// machine's neighbours take most of the wall time.
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}

// benchBinding is what a REGISTER from a UA behind NAT stores.
func benchBinding(i int64, now time.Time) location.Binding {
	return location.Binding{
		Contact:   fmt.Sprintf("sip:bench%d@198.51.100.7:%d;transport=udp", i, 1024+i%60000),
		Q:         1000,
		Expires:   now.Add(time.Hour),
		CallID:    fmt.Sprintf("bench-%d", i),
		CSeq:      1,
		Transport: "udp",
		Source:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, 7}), uint16(1024+i%60000)),
		Local:     netip.MustParseAddrPort("192.0.2.1:5060"),
		UserAgent: "bench/1.0",
		Updated:   now,
	}
}

// BenchmarkSQLiteWriterGroup measures the single writer alone: the cost
// of committing one REGISTER's change within a group of 256, which bounds
// what one writer can sustain however many REGISTERs wait on it.
func BenchmarkSQLiteWriterGroup(b *testing.B) {
	db, err := openSQLiteDB(filepath.Join(b.TempDir(), "parley.db"), SyncFull)
	if err != nil {
		b.Fatal(err)
	}
	defer db.close()
	const group = 256
	now := time.Now()
	cs := make([]*change, 0, group)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for i := 0; i < b.N; i += group {
		cs = cs[:0]
		for j := i; j < i+group; j++ {
			aor := fmt.Sprintf("sip:bench%d@example.com", j)
			cs = append(cs, &change{aor: aor, args: encode(aor, []location.Binding{benchBinding(int64(j), now)})})
		}
		if err := db.commit(context.Background(), cs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
}
