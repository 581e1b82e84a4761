package bus_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-sip/parley/cluster/bus"
	"github.com/parley-sip/parley/location/redisstore/redistest"
)

// inbox collects what a node receives on one topic.
type inbox struct {
	mu      sync.Mutex
	got     []string
	resumed int
	ch      chan struct{}
}

func listen(b bus.Bus, topic string) *inbox {
	in := &inbox{ch: make(chan struct{}, 100)}
	b.Subscribe(topic, func(p []byte) {
		in.mu.Lock()
		in.got = append(in.got, string(p))
		in.mu.Unlock()
		in.ch <- struct{}{}
	})
	b.OnResume(func() {
		in.mu.Lock()
		in.resumed++
		in.mu.Unlock()
		in.ch <- struct{}{}
	})
	return in
}

func (in *inbox) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		in.mu.Lock()
		got := append([]string(nil), in.got...)
		in.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-in.ch:
		case <-deadline:
			t.Fatalf("received %q, want %d notices", got, n)
		}
	}
}

// exercise is what both engines must do: a notice reaches the other
// nodes on its topic only, never its sender, with its payload intact.
func exercise(t *testing.T, a, b, c bus.Bus) {
	inA, inB, inC := listen(a, "presence"), listen(b, "presence"), listen(c, "presence")
	other := listen(b, "ban")
	a.Publish("presence", []byte("alice@example.com"))
	a.Publish("presence", []byte("with\nnewline and \x00 byte"))
	for _, in := range []*inbox{inB, inC} {
		got := in.wait(t, 2)
		if len(got) != 2 || got[0] != "alice@example.com" || got[1] != "with\nnewline and \x00 byte" {
			t.Errorf("received %q", got)
		}
	}
	c.Publish("ban", []byte("192.0.2.1"))
	if got := other.wait(t, 1); got[0] != "192.0.2.1" {
		t.Errorf("ban notice %q", got)
	}
	time.Sleep(100 * time.Millisecond) // time for a wrong delivery to show
	if got := inA.wait(t, 0); len(got) != 0 {
		t.Errorf("the sender received its own notices: %q", got)
	}
	if got := inB.wait(t, 0); len(got) != 2 {
		t.Errorf("node b got %q on presence, want the two notices only", got)
	}
}

func TestHub(t *testing.T) {
	h := bus.NewHub()
	a, b, c := h.Node(), h.Node(), h.Node()
	exercise(t, a, b, c)
	in := listen(b, "x")
	h.Resume()
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.resumed != 1 {
		t.Errorf("OnResume ran %d times, want 1", in.resumed)
	}
}

func openRedis(t testing.TB, url, prefix string, log *slog.Logger) *bus.Redis {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := bus.OpenRedis(ctx, url, prefix, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRedis(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	a, b, c := openRedis(t, url, prefix, nil), openRedis(t, url, prefix, nil), openRedis(t, url, prefix, nil)
	exercise(t, a, b, c)
	// Another prefix is another cluster.
	stranger := listen(openRedis(t, url, prefix+"other:", nil), "presence")
	a.Publish("presence", []byte("x"))
	time.Sleep(200 * time.Millisecond)
	if got := stranger.wait(t, 0); len(got) != 0 {
		t.Errorf("a node of another prefix received %q", got)
	}
}

// syncBuffer is a log sink safe for the bus's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRedisResume: after Redis restarts, the nodes subscribe again by
// themselves, run OnResume (notices may have been lost) and carry
// notices again; the outage is logged once each way.
func TestRedisResume(t *testing.T) {
	srv := redistest.Start(t)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(io.MultiWriter(&logs), nil))
	a, b := openRedis(t, srv.URL(), "p:", log), openRedis(t, srv.URL(), "p:", log)
	in := listen(b, "t")
	srv.Kill()
	a.Publish("t", []byte("lost")) // nobody hears it: Redis is down
	time.Sleep(1500 * time.Millisecond)
	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		in.mu.Lock()
		resumed := in.resumed
		in.mu.Unlock()
		if resumed > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no resume within 10 s of Redis restarting; log:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.Publish("t", []byte("after"))
	if got := in.wait(t, 1); got[len(got)-1] != "after" {
		t.Errorf("after the restart: %q", got)
	}
	if n := strings.Count(logs.String(), "cluster bus unavailable"); n < 1 || n > 2 {
		t.Errorf("outage logged %d times (once per node that noticed it):\n%s", n, logs.String())
	}
}

// TestRedisBurst: a burst of notices, as REGISTERs at full rate make,
// reaches the other node whole and in order, none dropped.
func TestRedisBurst(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	a, b := openRedis(t, url, prefix, nil), openRedis(t, url, prefix, nil)
	const n = 4000
	got := make(chan string, n)
	b.Subscribe("burst", func(p []byte) { got <- string(p) })
	for i := range n {
		a.Publish("burst", []byte(strconv.Itoa(i)))
	}
	timeout := time.After(10 * time.Second)
	for i := range n {
		select {
		case p := <-got:
			if p != strconv.Itoa(i) {
				t.Fatalf("notice %d is %q: out of order", i, p)
			}
		case <-timeout:
			t.Fatalf("%d of %d notices arrived (%d dropped)", i, n, a.Dropped())
		}
	}
	if d := a.Dropped(); d != 0 {
		t.Errorf("%d notices dropped", d)
	}
}

// BenchmarkRedisPublish is a notice from one node to another: what both
// cost this process (cpu-us/op) when notices come as fast as the bus
// takes them.
func BenchmarkRedisPublish(b *testing.B) {
	url := redistest.URL(b)
	prefix := redistest.Prefix(b, url)
	from, to := openRedis(b, url, prefix, nil), openRedis(b, url, prefix, nil)
	var received atomic.Int64
	to.Subscribe("bench", func([]byte) { received.Add(1) })
	payload := []byte("1\nsip:alice@example.com\nsip:alice@192.0.2.1:5060\ncall-id\n2")
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for i := range b.N {
		from.Publish("bench", payload)
		for int64(i)-received.Load()-int64(from.Dropped()) > 1000 {
			time.Sleep(10 * time.Microsecond) // below the queue's bound: none dropped
		}
	}
	for received.Load()+int64(from.Dropped()) < int64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
	b.ReportMetric(float64(from.Dropped())/float64(b.N), "dropped/op")
}

// cpuTime is this process's user and system CPU so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
