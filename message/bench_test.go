package message_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/message"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/sqldb"
)

// BenchmarkOfflineMessage is a MESSAGE for an offline subscriber through
// the whole proxy chain into the memory store, answered 202.
func BenchmarkOfflineMessage(b *testing.B) {
	t := &testing.T{}
	bed := newBed(t)
	bed.limits.Quota = message.Quota{}
	raw := load(t, "message.sip").Bytes()
	b.ReportAllocs()
	for b.Loop() {
		m, err := sip.Parse(append([]byte(nil), raw...))
		if err != nil {
			b.Fatal(err)
		}
		a := newAnswers()
		bed.p.ServeRequest(a, incoming(m))
		<-a.final
	}
}

// BenchmarkAdd is one stored message per engine, quota checked.
func BenchmarkAdd(b *testing.B) {
	q := message.Quota{MaxCount: 1 << 30, MaxBytes: 1 << 40}
	engines := map[string]func() message.Store{
		"memory": func() message.Store { return message.NewMemory(clock.NewFake(t0)) },
		"sqlite": func() message.Store {
			s, err := message.OpenSQLite(filepath.Join(b.TempDir(), sqldb.DBFile), clock.NewFake(t0))
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	for _, name := range []string{"memory", "sqlite"} {
		b.Run(name, func(b *testing.B) {
			s := engines[name]()
			defer s.Close()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				if _, err := s.Add(context.Background(), message.Message{User: fmt.Sprint("u", i%100, "@example.com"),
					From: "<sip:a@example.com>;tag=1", To: "<sip:b@example.com>", ContentType: "text/plain", Body: []byte("hello there")}, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPendingNone is what every REGISTER costs the offline-message
// store: the delivery run a refresh starts looks for waiting messages
// and, nearly always, finds none. Many runs at once, as under a load of
// REGISTERs; cpu-µs/op is the cost whatever the neighbours take.
func BenchmarkPendingNone(b *testing.B) {
	s, err := message.OpenSQLite(filepath.Join(b.TempDir(), sqldb.DBFile), clock.NewFake(t0))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var n atomic.Int64
	b.SetParallelism(128)
	b.ReportAllocs()
	cpu := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ms, err := s.Pending(context.Background(), fmt.Sprint("u", n.Add(1), "@example.com"))
			if err != nil || len(ms) != 0 {
				b.Errorf("Pending: %d messages, %v", len(ms), err)
				return
			}
		}
	})
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
}

// cpuTime is the CPU time (user and system) the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
