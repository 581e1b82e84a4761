package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
)

// ownRedis is a redis-server the test runs itself on a port of its own,
// so that it can stop it without touching the machine's Redis.
type ownRedis struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

// startOwnRedis starts a redis-server on a free loopback port, without
// persistence; it is killed (by its PID) when t ends.
func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		msg := "redis-server not found; install with: apt-get install redis-server"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &ownRedis{t: t, port: l.Addr().(*net.TCPAddr).Port}
	l.Close()
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *ownRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// start runs redis-server and waits until it accepts connections.
func (r *ownRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.t.TempDir())
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(r.port)); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatal("redis-server did not start within 10 s")
		}
	}
}

// stop kills the server, as a crash would, and reaps it.
func (r *ownRedis) stop() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	r.cmd = nil
}

// signal sends sig to the server (SIGSTOP freezes it: a Redis that
// accepts nothing and answers nothing).
func (r *ownRedis) signal(sig syscall.Signal) {
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatal(err)
	}
}

// TestRedisFailure: a Redis that dies, or freezes, turns every call into
// an error (the registrar answers those with 503) within the store's
// timeout, Ready says so, and the store recovers by itself when Redis
// answers again.
func TestRedisFailure(t *testing.T) {
	r := startOwnRedis(t)
	s := openTest(t, r.url(), "parley:")
	ctx := context.Background()
	now := time.Now()
	const aor = "sip:alice@example.com"
	put := func() error {
		_, err := s.Update(ctx, aor, now, func([]location.Binding) ([]location.Binding, error) {
			return []location.Binding{{Contact: "sip:a@h", Q: 1000, Expires: now.Add(time.Hour), Updated: now}}, nil
		})
		return err
	}
	if err := put(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(ctx, aor, now); err != nil {
		t.Fatal(err)
	}

	// failing checks the calls during an outage. A dead Redis's connection
	// is closed, and with it the cache; a frozen one's is declared dead
	// only by the background PING, and until then cached sets may still
	// be served, which is safe: no node can change them meanwhile.
	failing := func(what string, lookups bool) {
		t.Helper()
		start := time.Now()
		if err := put(); err == nil || errors.Is(err, location.ErrClosed) {
			t.Fatalf("%s: Update = %v, want a Redis error", what, err)
		}
		if took := time.Since(start); took > opTimeout+time.Second {
			t.Errorf("%s: the failing Update took %v", what, took)
		}
		if _, err := s.Lookup(ctx, aor, now); err == nil && lookups {
			t.Errorf("%s: Lookup served a set Redis can no longer vouch for", what)
		}
		if _, err := s.Expire(ctx, now); err == nil {
			t.Errorf("%s: Expire succeeded", what)
		}
		if s.Ready() == nil {
			t.Errorf("%s: Ready() = nil", what)
		}
	}
	recovers := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); put() != nil; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: Update still failing 10 s after Redis returned", what)
			}
		}
		if err := s.Ready(); err != nil {
			t.Errorf("%s: Ready() = %v after a successful Update", what, err)
		}
		if bs, err := s.Lookup(ctx, aor, now); err != nil || len(bs) != 1 {
			t.Errorf("%s: Lookup = %v, %v", what, bs, err)
		}
	}

	r.signal(syscall.SIGSTOP)
	failing("frozen Redis", false)
	r.signal(syscall.SIGCONT)
	recovers("thawed Redis")

	r.stop()
	failing("dead Redis", true)
	r.start()
	recovers("restarted Redis")
}
