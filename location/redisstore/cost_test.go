package redisstore

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/parley-sip/parley/location/redisstore/redistest"
)

// cost measures what a benchmark's operations cost beyond its wall time:
// this process's CPU, the Redis server's CPU (INFO cpu) and the time
// Redis spent in the update script per call (INFO commandstats). Redis's
// figures are the whole server's, so they mean something only on a Redis
// of the benchmark's own (PARLEY_TEST_REDIS).
type cost struct {
	c          rueidis.Client
	cpu        time.Duration // this process's user+system CPU
	redisCPU   float64       // seconds
	calls      int64         // EVALSHA calls
	scriptUsec int64         // their usec
}

// startCost snapshots the counters; b's timer should be reset after it.
func startCost(b *testing.B, url string) *cost {
	b.Helper()
	m := &cost{c: redistest.Client(b, url)}
	m.snapshot(b)
	return m
}

func (m *cost) snapshot(b *testing.B) {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	info, err := m.c.Do(context.Background(), m.c.B().Info().Section("cpu").Section("commandstats").Build()).ToString()
	if err != nil {
		b.Fatal(err)
	}
	m.redisCPU, m.calls, m.scriptUsec = 0, 0, 0
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "used_cpu_sys:"), strings.HasPrefix(line, "used_cpu_user:"):
			_, v, _ := strings.Cut(line, ":")
			f, _ := strconv.ParseFloat(v, 64)
			m.redisCPU += f
		case strings.HasPrefix(line, "cmdstat_evalsha:"):
			m.calls, m.scriptUsec = statField(line, "calls="), statField(line, "usec=")
		}
	}
}

// statField reads one integer field of a commandstats line.
func statField(line, name string) int64 {
	_, rest, ok := strings.Cut(line, ","+name)
	if !ok {
		_, rest, _ = strings.Cut(line, ":"+name)
	}
	v, _, _ := strings.Cut(rest, ",")
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// report adds the per-operation figures since startCost to b's result:
// cpu-us/op (this process), redis-cpu-us/op, and script-us/call with
// scripts/op (Redis's time in EVALSHA, nested commands included, and how
// many EVALSHA calls an operation took).
func (m *cost) report(b *testing.B) {
	b.Helper()
	b.StopTimer()
	start := *m
	m.snapshot(b)
	n := float64(b.N)
	b.ReportMetric(float64((m.cpu-start.cpu).Microseconds())/n, "cpu-us/op")
	b.ReportMetric((m.redisCPU-start.redisCPU)*1e6/n, "redis-cpu-us/op")
	if calls := m.calls - start.calls; calls > 0 {
		b.ReportMetric(float64(m.scriptUsec-start.scriptUsec)/float64(calls), "script-us/call")
		b.ReportMetric(float64(calls)/n, "scripts/op")
	}
}
