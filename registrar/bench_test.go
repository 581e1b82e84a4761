package registrar

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/location/sqlstore"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// registersInFlight is how many REGISTERs wait on the store at once per
// core, as on a loaded registrar: the durable store's group commit feeds
// on them.
const registersInFlight = 128

// BenchmarkHandleRegister is one REGISTER of a fresh AOR through Handle,
// parsing included, on the memory store and on the durable SQLite store
// (fsync per group commit), from many goroutines at once. cpu-µs/op is
// what a REGISTER costs whatever the neighbours of a shared machine take.
func BenchmarkHandleRegister(b *testing.B) {
	for _, bc := range []struct {
		name  string
		store func(b *testing.B) location.Store
	}{
		{"memory", func(*testing.B) location.Store { return location.NewMemory() }},
		{"sqlite", func(b *testing.B) location.Store {
			s, err := sqlstore.OpenSQLite(filepath.Join(b.TempDir(), "parley.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := &Registrar{
				Store:  bc.store(b),
				Serves: func(d string) bool { return d == "example.com" },
				Logger: slog.New(slog.DiscardHandler), // a log line per binding would be most of the cost
			}
			benchRegisters(b, r)
		})
	}
}

func benchRegisters(b *testing.B, r *Registrar) {
	var n atomic.Int64
	b.SetParallelism(registersInFlight)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			in, err := benchRegister(n.Add(1))
			if err != nil {
				b.Error(err)
				return
			}
			if res := r.Handle(context.Background(), in, "tt"); res.StatusCode() != 200 {
				b.Errorf("REGISTER answered %d %s", res.StatusCode(), res.Reason())
				return
			}
		}
	})
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "REGISTERs/s")
}

// benchRegister is what a phone behind NAT sends, as the wire has it.
func benchRegister(i int64) (*transport.Incoming, error) {
	raw := fmt.Sprintf("REGISTER sip:example.com SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 198.51.100.7:%[2]d;branch=z9hG4bK-%[1]d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:user%[1]d@example.com>;tag=f%[1]d\r\n"+
		"To: <sip:user%[1]d@example.com>\r\n"+
		"Call-ID: reg-%[1]d@198.51.100.7\r\n"+
		"CSeq: 1 REGISTER\r\n"+
		"Contact: <sip:user%[1]d@198.51.100.7:%[2]d;transport=udp>;expires=3600\r\n"+
		"User-Agent: bench/1.0\r\n"+
		"Content-Length: 0\r\n\r\n", i, 1024+i%60000)
	m, err := sip.Parse([]byte(raw))
	if err != nil {
		return nil, err
	}
	return &transport.Incoming{
		Msg:    m,
		Proto:  transport.UDP,
		Source: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, 7}), uint16(1024+i%60000)),
		Local:  netip.MustParseAddrPort("203.0.113.1:5060"),
	}, nil
}

// cpuTime is the CPU time (user and system) the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
