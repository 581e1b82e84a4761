// Package redistest gives tests a Redis: the machine's, under a key
// prefix of the test's own, or a redis-server the test runs itself and may
// stop. A test that finds no Redis skips with the install hint, except
// under CI=true, where it fails.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

const installHint = "apt-get install redis-server"

// URL returns the shared Redis the tests use: PARLEY_TEST_REDIS, or the
// machine's at 127.0.0.1:6379.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("PARLEY_TEST_REDIS")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opt, err := rueidis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", opt.InitAddress[0], time.Second)
	if err == nil {
		c.Close()
		return u
	}
	missing(t, "no Redis at "+u+" ("+err.Error()+"); set PARLEY_TEST_REDIS or install with: "+installHint)
	return ""
}

func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Prefix returns a key prefix of t's own, so that parallel runs on one
// Redis do not collide; its keys are deleted when t ends.
func Prefix(t testing.TB, url string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "parleytest:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		if err := deleteKeys(url, prefix); err != nil {
			t.Errorf("deleting %s*: %v", prefix, err)
		}
	})
	return prefix
}

// Client is a plain client (no cache) of the Redis at url, for a test
// to look at or change what a store keeps; closed when t ends.
func Client(t testing.TB, url string) rueidis.Client {
	t.Helper()
	c, err := dial(url)
	if err != nil {
		t.Fatalf("Redis %s: %v", url, err)
	}
	t.Cleanup(c.Close)
	return c
}

func dial(url string) (rueidis.Client, error) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opt.DisableCache = true
	return rueidis.NewClient(opt)
}

// deleteKeys removes every key under prefix.
func deleteKeys(url, prefix string) error {
	c, err := dial(url)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Every node of a cluster scans its own keys.
	for _, node := range c.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				return err
			}
			// One key per command: a cluster refuses a command whose keys
			// lie in different slots.
			cmds := make(rueidis.Commands, len(e.Elements))
			for i, k := range e.Elements {
				cmds[i] = c.B().Unlink().Key(k).Build()
			}
			for _, res := range c.DoMulti(ctx, cmds...) {
				if err := res.Error(); err != nil {
					return err
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return nil
}

// Server is a redis-server a test runs on a loopback port of its own,
// without persistence, so that it can stop it without touching the
// machine's Redis.
type Server struct {
	t     testing.TB
	Port  int
	dir   string   // its working directory (a cluster node's nodes.conf)
	extra []string // more redis-server arguments
	cmd   *exec.Cmd
}

// Start runs a redis-server on a free port of 127.0.0.1; it is killed, by
// its PID, when t ends. Extra arguments go to redis-server.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		missing(t, "redis-server not found; install with: "+installHint)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return StartAt(t, port, extra...)
}

// StartAt is Start on the port given, for a test that must keep to a
// range of ports (the e2e harness's PARLEY_E2E_PORTS).
func StartAt(t testing.TB, port int, extra ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		missing(t, "redis-server not found; install with: "+installHint)
	}
	s := &Server{t: t, Port: port, dir: t.TempDir(), extra: extra}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// StartCluster runs a Redis Cluster of n masters (no replicas) on free
// ports of 127.0.0.1, killed when t ends, and returns the URL of its first
// node; a client finds the others from there.
func StartCluster(t testing.TB, n int) string {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		missing(t, "redis-cli not found; install with: "+installHint)
	}
	args := []string{"--cluster", "create"}
	var nodes []*Server
	for range n {
		s := Start(t, "--cluster-enabled", "yes", "--cluster-node-timeout", "2000")
		nodes = append(nodes, s)
		args = append(args, "127.0.0.1:"+strconv.Itoa(s.Port))
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, s := range nodes {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			out, _ := exec.Command("redis-cli", "-p", strconv.Itoa(s.Port), "cluster", "info").Output()
			if strings.Contains(string(out), "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %d not ok within 10 s:\n%s", s.Port, out)
			}
		}
	}
	return nodes[0].URL()
}

// URL is the server's redis:// URL, database 0.
func (s *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.Port) }

// Restart runs the server (again, on the same port, with no data) and waits
// until it accepts connections.
func (s *Server) Restart() {
	s.t.Helper()
	args := append([]string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir}, s.extra...)
	s.cmd = exec.Command("redis-server", args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.Port)); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatal("redis-server did not start within 10 s")
		}
	}
}

// Kill stops the server as a crash would, and reaps it.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Signal sends sig to the server: SIGSTOP freezes it (a Redis that
// accepts and answers nothing), SIGCONT thaws it.
func (s *Server) Signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// StartSentinel runs a primary (Start), replicas of it, and one Sentinel
// watching it as master — which declares it down after a second and
// fails over to a replica — all on free ports of 127.0.0.1 and killed by
// their PIDs when t ends. It returns the URL a client takes to find the
// primary through the Sentinel, the primary and the replicas.
func StartSentinel(t testing.TB, master string, replicas int) (string, *Server, []*Server) {
	t.Helper()
	primary := Start(t)
	var reps []*Server
	for range replicas {
		reps = append(reps, Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port)))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf") // Sentinel rewrites it, so it must be its own
	rules := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d 1\nsentinel down-after-milliseconds %[1]s 1000\nsentinel failover-timeout %[1]s 5000\n", master, primary.Port)
	if err := os.WriteFile(conf, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("redis-server", conf, "--sentinel", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server --sentinel did not start within 10 s")
		}
	}
	return fmt.Sprintf("redis://127.0.0.1:%d/0?master_set=%s", port, master), primary, reps
}
