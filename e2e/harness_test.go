// Package e2e runs the built parley binary against real SIP endpoints (sipp
// scenarios and baresip softphones) on loopback. See README.md.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-sip/parley/location/redisstore/redistest"
)

const sippHint = "apt-get install -y sip-tester"

var (
	// parleyBin is the binary TestMain built (or $PARLEY_BIN); buildErr says why there is none.
	parleyBin string
	buildErr  error
	// scenarioDir is the absolute path of e2e/scenarios.
	scenarioDir string
)

// TestMain builds parley once for the whole run, with -race when the tests
// themselves run with -race (see race_*_test.go), into a temporary directory.
// A failed build does not stop the tests that need no server.
func TestMain(m *testing.M) {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	scenarioDir = filepath.Join(wd, "scenarios")

	binDir, err := os.MkdirTemp("", "parley-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	parleyBin, buildErr = buildParley(binDir)
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// buildParley runs go build ../cmd/parley into dir, unless $PARLEY_BIN names a binary.
func buildParley(dir string) (string, error) {
	if bin := os.Getenv("PARLEY_BIN"); bin != "" {
		return bin, nil
	}
	bin := filepath.Join(dir, "parley")
	// -buildvcs=auto undoes a GOFLAGS=-buildvcs=false, so that "parley
	// version" names the commit (TestVersion).
	args := []string{"build", "-buildvcs=auto", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, "../cmd/parley")...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ../cmd/parley: %v\n%s", err, out)
	}
	return bin, nil
}

// requireTool skips the test when the command name is not on PATH, or fails
// it when CI=true, where a missing tool is a broken CI setup.
func requireTool(t testing.TB, name, installHint string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	msg := fmt.Sprintf("%s not found; install with: %s", name, installHint)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// scenario returns the path of a sipp scenario file in e2e/scenarios.
func scenario(name string) string { return filepath.Join(scenarioDir, name) }

var (
	portsMu sync.Mutex
	ports   = map[int]bool{} // handed out by freePort in this run
)

// freePort returns a loopback port that is free for both UDP and TCP and was
// not handed out before in this test run. With pair, port+1 is free too.
func freePort(t testing.TB, pair bool) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	lo, hi := portRange(t)
	for i := range 100 {
		port := lo + i
		if hi == 0 {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port = l.Addr().(*net.TCPAddr).Port
			l.Close()
		} else if port+1 > hi {
			break
		}
		free := !ports[port] && (!pair || !ports[port+1]) && tcpFree(port) &&
			udpFree(port) && (!pair || udpFree(port+1) && tcpFree(port+1))
		if free {
			ports[port] = true
			if pair {
				ports[port+1] = true
			}
			return port
		}
	}
	t.Fatal("no free loopback port found")
	return 0
}

// portRange is PARLEY_E2E_PORTS ("25000-25999"): where freePort looks
// on a machine whose ephemeral ports other tests' outgoing connections
// take; 0, 0 when unset (the kernel picks).
func portRange(t testing.TB) (lo, hi int) {
	v := os.Getenv("PARLEY_E2E_PORTS")
	if v == "" {
		return 0, 0
	}
	a, b, ok := strings.Cut(v, "-")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || lo <= 0 || hi < lo {
		t.Fatalf("PARLEY_E2E_PORTS=%q: want LOW-HIGH", v)
	}
	return lo, hi
}

func udpFree(port int) bool {
	c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err == nil {
		c.Close()
	}
	return err == nil
}

func tcpFree(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err == nil {
		l.Close()
	}
	return err == nil
}

// tail returns the last n bytes of a file, for failure reports.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	if len(b) > n {
		b = append([]byte("..."), b[len(b)-n:]...)
	}
	return string(b)
}

// stateWait is how long a test polls Parley's own state (the admin API,
// /metrics, its log, the database) for what it should come to: an upper
// bound, paid only on failure, and generous because CI's machine runs
// other packages under the race detector meanwhile. A wait that checks
// how soon something happens keeps its own bound.
const stateWait = 30 * time.Second

// waitForText polls a file until it contains text; it gives up after
// timeout or when stop is closed.
func waitForText(path, text string, timeout time.Duration, stop <-chan struct{}) bool {
	deadline := time.Now().Add(timeout)
	has := func() bool {
		b, err := os.ReadFile(path)
		return err == nil && bytes.Contains(b, []byte(text))
	}
	for {
		if has() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-stop:
			// A process that wrote the line and exited within the
			// last 50 ms: read once more before giving up.
			return has()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// parley is a running parley serve process.
type parley struct {
	Port int    // the same port on UDP and TCP
	Addr string // 127.0.0.1:Port, what sipp takes as its remote host

	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed when the process has exited
	waitErr error         // its exit, valid once exited is closed
	killed  bool          // stopped with SIGKILL on purpose (crash tests)
}

// kill stops parley with SIGKILL, as a crash would, and waits for it.
func (p *parley) kill(t *testing.T) {
	t.Helper()
	p.killed = true
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill parley: %v", err)
	}
	<-p.exited
}

// startParley starts parley serve on a free loopback port (UDP and TCP) with
// domain example.com, a fresh data dir and debug logs to a file under
// t.TempDir(); extra args (--mode stateless, --trace, --config FILE...) are
// appended and, being later, override these. The admin listener is on a
// port the kernel chooses unless the args name --admin or a --config
// (whose file, written by writeConfig, does the same unless it has an
// admin block): tests run side by side, and a taken admin port stops the
// start. It returns once parley answers OPTIONS with 200. At the end of the
// test it sends SIGTERM and expects exit status 0 within 5 s (else SIGKILL);
// if the test failed, it prints the log's tail.
func startParley(t *testing.T, args ...string) *parley {
	t.Helper()
	return startParleyServing(t, []string{"example.com"}, args...)
}

// startParleyServing is startParley serving the given domains; none
// leaves parley with its default, its own names and addresses, so that
// phones may use the server's address as their domain.
func startParleyServing(t *testing.T, domains []string, args ...string) *parley {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("no parley binary: %v", buildErr)
	}
	p := &parley{Port: freePort(t, false), exited: make(chan struct{})}
	p.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port))
	p.logPath = filepath.Join(t.TempDir(), "parley.log")
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	serve := []string{"serve",
		"--listen", "udp:" + p.Addr, "--listen", "tcp:" + p.Addr,
		"--data-dir", t.TempDir(), "--log-level", "debug"}
	for _, d := range domains {
		serve = append(serve, "--domain", d)
	}
	if !slices.Contains(args, "--admin") && !slices.Contains(args, "--config") {
		serve = append(serve, "--admin", "127.0.0.1:0")
	}
	p.cmd = exec.Command(parleyBin, append(serve, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = p.cmd.Wait(); logFile.Close(); close(p.exited) }()
	t.Cleanup(func() { p.stop(t) })

	if err := p.waitReady(10 * time.Second); err != nil {
		t.Fatalf("parley %s: %v", strings.Join(p.cmd.Args[1:], " "), err)
	}
	return p
}

// waitReady sends OPTIONS sip:127.0.0.1:PORT over UDP until parley answers 200.
func (p *parley) waitReady(timeout time.Duration) error {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer conn.Close()
	server, _ := net.ResolveUDPAddr("udp", p.Addr)
	buf := make([]byte, 65535)
	deadline := time.Now().Add(timeout)
	for try := 1; time.Now().Before(deadline); try++ {
		select {
		case <-p.exited:
			return fmt.Errorf("exited before it was ready: %v", p.waitErr)
		default:
		}
		if _, err := conn.WriteTo(optionsProbe(conn.LocalAddr().String(), p.Addr, try), server); err != nil {
			return err
		}
		conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				break // timed out (or refused: not listening yet); send again
			}
			if bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200")) {
				return nil
			}
		}
	}
	return fmt.Errorf("no 200 OK to OPTIONS within %v", timeout)
}

// optionsProbe is a minimal OPTIONS to the server itself (Request-URI without user).
func optionsProbe(local, server string, seq int) []byte {
	return []byte("OPTIONS sip:" + server + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-ready-" + strconv.Itoa(seq) + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:probe@example.com>;tag=probe\r\n" +
		"To: <sip:" + server + ">\r\n" +
		"Call-ID: ready-" + strconv.Itoa(seq) + "@127.0.0.1\r\n" +
		"CSeq: " + strconv.Itoa(seq) + " OPTIONS\r\n" +
		"Content-Length: 0\r\n\r\n")
}

// stop sends SIGTERM, waits up to 5 s, kills otherwise, and checks for exit status 0.
func (p *parley) stop(t *testing.T) {
	if p.killed {
		return
	}
	select {
	case <-p.exited:
		t.Errorf("parley exited before the end of the test: %v", p.waitErr)
	default:
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
			if p.waitErr != nil {
				t.Errorf("parley exited with %v after SIGTERM, want exit status 0", p.waitErr)
			}
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
			t.Errorf("parley did not exit within 5s of SIGTERM; killed")
		}
	}
	if t.Failed() {
		t.Logf("parley log (%s), tail:\n%s", p.logPath, tail(p.logPath, 12000))
	}
}

// sippProc is one sipp instance started by startSipp.
type sippProc struct {
	Port int // its local SIP port (-p)

	t      *testing.T
	name   string // sippN-scenario, for messages
	dir    string // its log files
	cmd    *exec.Cmd
	cancel context.CancelFunc
	exited chan struct{}
	code   int // exit status once exited is closed; -1 if killed
}

var sippCount struct {
	sync.Mutex
	n int
}

// runSipp runs sipp to the end and returns its exit status (0: all calls
// successful). See startSipp for the options it adds.
func runSipp(t *testing.T, args ...string) int {
	t.Helper()
	return startSipp(t, args...).Wait()
}

// startSipp starts sipp in the background with args (scenario, -t, -s, the
// remote host...) plus, always: -nostdin, -i and -ci 127.0.0.1, -timeout 60s
// -timeout_error, -m 1 and a free -p unless args set them, and error, message,
// <log> and screen traces in a t.TempDir(), printed if the test fails. A
// context kills it 10 s after its -timeout. A passing sipp never reaches
// the timeout (-timeout_error fails it), so the bound costs only a
// failing test; 20 s was tight for a callee that waits while a loaded
// machine starts the other phones (phoneWait). Wait (or ExpectSuccess) collects its status;
// one still running at the end of the test is killed.
func startSipp(t *testing.T, args ...string) *sippProc {
	t.Helper()
	requireTool(t, "sipp", sippHint)
	sippCount.Lock()
	sippCount.n++
	n := sippCount.n
	sippCount.Unlock()
	name := fmt.Sprintf("sipp%d", n)
	if i := slices.Index(args, "-sf"); i >= 0 && i+1 < len(args) {
		name += "-" + strings.TrimSuffix(filepath.Base(args[i+1]), ".xml")
	}
	s := &sippProc{t: t, name: name, dir: t.TempDir(), exited: make(chan struct{})}

	opts := []string{"-nostdin", "-i", "127.0.0.1", "-ci", "127.0.0.1", "-timeout", "60s", "-timeout_error",
		"-trace_err", "-error_file", s.file("errors"),
		"-trace_msg", "-message_file", s.file("messages"),
		"-trace_logs", "-log_file", s.file("logs"),
		"-trace_screen", "-screen_file", s.file("screen")}
	if i := slices.Index(args, "-p"); i >= 0 && i+1 < len(args) {
		s.Port, _ = strconv.Atoi(args[i+1])
	} else {
		s.Port = freePort(t, false)
		opts = append(opts, "-p", strconv.Itoa(s.Port))
	}
	if !slices.Contains(args, "-m") {
		opts = append(opts, "-m", "1")
	}
	// A scenario that must wait longer (a session timer's expiry) passes
	// its own -timeout, which sipp reads after the default one.
	limit := 70 * time.Second
	if i := slices.Index(args, "-timeout"); i >= 0 && i+1 < len(args) {
		if d, err := time.ParseDuration(args[i+1]); err == nil {
			limit = d + 10*time.Second
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	s.cancel = cancel
	s.cmd = exec.CommandContext(ctx, "sipp", append(opts, args...)...)
	out, err := os.Create(s.file("stdout"))
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := s.cmd.Wait()
		var exitErr *exec.ExitError
		switch {
		case err == nil:
			s.code = 0
		case errors.As(err, &exitErr):
			s.code = exitErr.ExitCode() // -1 if killed by a signal
		default:
			s.code = -1
		}
		out.Close()
		close(s.exited)
	}()
	t.Cleanup(s.cleanup)
	return s
}

// Addr is the instance's SIP address, 127.0.0.1:Port.
func (s *sippProc) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// WaitListening waits until the instance has bound its SIP port, for a
// callee that has to be up before its caller starts.
func (s *sippProc) WaitListening() {
	s.t.Helper()
	for deadline := time.Now().Add(phoneWait); time.Now().Before(deadline) && !s.isExited(); {
		if listening(s.Port) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("%s: not listening on port %d (sipp running: %v)", s.name, s.Port, !s.isExited())
}

// listening reports whether an IPv4 UDP socket is bound or a TCP socket
// listens on port. It reads /proc/net instead of trying to bind the port,
// which could make the owner's own bind fail.
func listening(port int) bool {
	hexPort := fmt.Sprintf(":%04X", port)
	for _, f := range []struct{ path, state string }{
		{"/proc/net/udp", "07"}, // unconnected
		{"/proc/net/tcp", "0A"}, // LISTEN
	} {
		b, _ := os.ReadFile(f.path)
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Fields(line)
			if len(fields) > 3 && strings.HasSuffix(fields[1], hexPort) && fields[3] == f.state {
				return true
			}
		}
	}
	return false
}

// file is the path of one of the instance's log files.
func (s *sippProc) file(kind string) string { return filepath.Join(s.dir, kind+".log") }

// Wait waits for sipp to exit and returns its exit status.
func (s *sippProc) Wait() int {
	<-s.exited
	return s.code
}

// ExpectSuccess waits for sipp and reports an error unless it exited 0.
func (s *sippProc) ExpectSuccess() {
	s.t.Helper()
	if code := s.Wait(); code != 0 {
		s.t.Errorf("%s exited %d, want 0 (all calls successful): %s",
			s.name, code, strings.Join(s.cmd.Args, " "))
	}
}

// ExpectChecksPassed reports an error for each check_it regexp that sipp
// logged as failed. The failure of an out-of-call scenario's call does not
// count in sipp's exit status, so that scenario's checks bite only here.
func (s *sippProc) ExpectChecksPassed() {
	s.t.Helper()
	b, err := os.ReadFile(s.file("errors"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		s.t.Fatal(err)
	}
	for _, m := range failedCheck.FindAllSubmatch(b, -1) {
		s.t.Errorf("%s: check %q failed on %q", s.name, m[2], m[1])
	}
}

// failedCheck is sipp's warning for a check_it regexp that did not match.
var failedCheck = regexp.MustCompile(`Failed regexp match: looking in '([^']*)', with regexp '([^']*)'`)

// WaitLog waits until the scenario has written text with <log> (-trace_logs),
// e.g. "registered"; it fails the test after timeout or if sipp exits first.
func (s *sippProc) WaitLog(text string, timeout time.Duration) {
	s.t.Helper()
	if !waitForText(s.file("logs"), text, timeout, s.exited) {
		s.t.Fatalf("%s: no log line %q within %v (sipp running: %v)", s.name, text, timeout, !s.isExited())
	}
}

func (s *sippProc) isExited() bool { return isClosed(s.exited) }

// isClosed reports whether ch is closed: whether a process has exited.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// cleanup kills sipp if it still runs and, if the test failed, prints its logs.
func (s *sippProc) cleanup() {
	if !s.isExited() {
		s.t.Errorf("%s still running at the end of the test; killed", s.name)
	}
	s.cancel()
	<-s.exited
	if !s.t.Failed() {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (exit %d): %s\n", s.name, s.code, strings.Join(s.cmd.Args, " "))
	for _, f := range []struct {
		kind string
		max  int
	}{{"errors", 4000}, {"logs", 3000}, {"messages", 10000}, {"screen", 2500}} {
		if fi, err := os.Stat(s.file(f.kind)); err == nil && fi.Size() > 0 {
			fmt.Fprintf(&b, "--- %s.log:\n%s\n", f.kind, tail(s.file(f.kind), f.max))
		}
	}
	s.t.Log(b.String())
}

// startRedis runs a redis-server for the test on a port of the harness's
// range (PARLEY_E2E_PORTS), as every other server of an e2e test is.
func startRedis(t *testing.T) *redistest.Server {
	t.Helper()
	return redistest.StartAt(t, freePort(t, false))
}
