package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestWSSLoad opens PARLEY_WSS_LOAD (say 10000) concurrent WSS
// connections to parley on loopback, registers a user on each, and
// reports parley's memory per connection: the growth of its PSS from a
// warm-up of 100 registered connections to all of them, divided by their
// number, each connection's binding included, and the same growth of its
// live heap and stacks after a GC. Then, with kamailio installed, the
// same load on Kamailio's websocket module (bench/peers/kamailio-wss.cfg)
// in the same run, and the growth of the PSS of all its processes. It is
// a measurement, not a check run by default: without the variable it
// skips. Bounded: at most PARLEY_WSS_LOAD connections per server, 50
// opened at a time (PARLEY_WSS_KAMAILIO_PAR at a time for Kamailio,
// default 10), 3 minutes each.
//
// The PSS 5 s after the last 200 still holds the burst's garbage, so
// the test then leaves the connections idle, answering parley's pings
// (every PARLEY_WSS_PING, default 30s), and samples parley's PSS every
// 10 s for PARLEY_WSS_SETTLE (default 150s, past the runtime's 2-minute
// forced collection and the background scavenger's work; 0 skips it),
// and logs the curve and where it settled. PARLEY_WSS_KAMAILIO=off
// skips Kamailio.
func TestWSSLoad(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PARLEY_WSS_LOAD"))
	if n <= 0 {
		t.Skip("a measurement: PARLEY_WSS_LOAD=10000 go test ./e2e -run TestWSSLoad -v")
	}
	const warm = 100
	raiseNoFile(t, uint64(n+warm+1000))
	data := t.TempDir()
	wssAddr := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
	// No message capture: the console's ring of recent messages would
	// count as connection memory.
	cfg := writeConfig(t, fmt.Sprintf(`admin:
  listen: %s
  capture_messages: 0
tcp:
  max_connections: %d
  max_connections_per_ip: %d
websocket:
  ping_interval: %s
storage:
  engine: memory
security:
  trusted: [127.0.0.0/8]
`, admin, n+warm+10, n+warm+10, envDuration(t, "PARLEY_WSS_PING", 30*time.Second)))
	p := startParley(t, "--config", cfg, "--data-dir", data, "--listen", "wss:"+wssAddr, "--log-level", "info")

	warmConns := openRegistered(t, wssAddr, 0, warm)
	time.Sleep(2 * time.Second)
	mem0 := memStats(t, admin)
	before := pss(t, p.cmd.Process.Pid)
	start := time.Now()
	conns := openRegistered(t, wssAddr, warm, n)
	took := time.Since(start)
	time.Sleep(5 * time.Second) // let transactions end and memory settle
	after := pss(t, p.cmd.Process.Pid)
	memStats(t, admin).perConn(t, "5 s after the last 200", mem0, n)
	saveProfiles(t, admin)
	per := float64(after-before) * 1024 / float64(n)
	t.Logf("parley: %d WSS connections registered in %v (%.0f/s); PSS %d KiB → %d KiB: %.0f bytes (%.1f KiB) per connection with its binding",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), before, after, per, per/1024)
	settle(t, p.cmd.Process.Pid, admin, before, mem0, n, envDuration(t, "PARLEY_WSS_SETTLE", 150*time.Second))
	closeAll(conns)
	closeAll(warmConns)

	if os.Getenv("PARLEY_WSS_KAMAILIO") == "off" {
		t.Log("PARLEY_WSS_KAMAILIO=off: parley only")
		return
	}
	if _, err := exec.LookPath("kamailio"); err != nil {
		t.Logf("kamailio not installed (%s): parley only", kamailioWSSHint)
		return
	}
	kamailioLoad(t, data, n, warm)
}

// settle samples parley's PSS every 10 s for d while the connections
// stay idle, and logs the growth per connection over the warm-up's
// (before, in KiB) at each sample, the last one (settled), and the live
// heap and stacks after a GC at the end.
func settle(t *testing.T, pid int, admin string, before int64, mem0 runtimeMem, n int, d time.Duration) {
	t.Helper()
	if d <= 0 {
		return
	}
	perConn := func(kb int64) float64 { return float64(kb-before) / float64(n) }
	var curve []string
	var last int64
	for waited := 10 * time.Second; waited <= d; waited += 10 * time.Second {
		time.Sleep(10 * time.Second)
		last = pss(t, pid)
		curve = append(curve, fmt.Sprintf("%v %.1f", waited, perConn(last)))
	}
	t.Logf("parley, PSS growth per connection in KiB, idle, from the 5 s figure on: %s", strings.Join(curve, ", "))
	t.Logf("parley, settled after %v idle: PSS %d KiB: %.0f bytes (%.1f KiB) per connection", d, last, perConn(last)*1024, perConn(last))
	memStats(t, admin).perConn(t, "settled", mem0, n)
}

// envDuration is the duration in the environment variable name, or def
// when it is unset.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

// kamailioLoad puts the same load on Kamailio: warm connections, then n
// more, and logs the growth of the PSS of all its processes per
// connection that registered, and how many did not.
func kamailioLoad(t *testing.T, data string, n, warm int) {
	par, _ := strconv.Atoi(os.Getenv("PARLEY_WSS_KAMAILIO_PAR"))
	if par <= 0 {
		par = 10
	}
	// Kamailio keeps each connection's TLS state in shared memory, which
	// -m sizes once at start: 4 GiB leaves room for 10 000.
	shm, _ := strconv.Atoi(os.Getenv("PARLEY_WSS_KAMAILIO_SHM"))
	if shm <= 0 {
		shm = 4096
	}
	kamAddr, k := startKamailioWSS(t, data, shm)
	if _, failed := tryRegistered(t, kamAddr, 0, warm, par); failed > 0 {
		t.Logf("kamailio: %d of %d warm-up connections failed", failed, warm)
	}
	time.Sleep(2 * time.Second)
	before := groupPSS(t, k.Pid)
	start := time.Now()
	got, failed := tryRegistered(t, kamAddr, warm, n, par)
	took := time.Since(start)
	time.Sleep(5 * time.Second)
	after := groupPSS(t, k.Pid)
	if len(got) == 0 {
		t.Logf("kamailio: no connection registered (%d failed)", failed)
		return
	}
	per := float64(after-before) * 1024 / float64(len(got))
	t.Logf("kamailio: %d WSS connections registered (%d failed) in %v (%.0f/s), %d processes; PSS %d KiB → %d KiB: %.0f bytes (%.1f KiB) per connection with its binding",
		len(got), failed, took.Round(time.Millisecond), float64(len(got))/took.Seconds(), len(processGroup(k.Pid)), before, after, per, per/1024)
}

// processGroup is pid and its children.
func processGroup(pid int) []int {
	out := []int{pid}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read past
		// its closing parenthesis.
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			out = append(out, child)
		}
	}
	return out
}

// groupPSS is the PSS of pid and its children, in KiB: shared memory
// counts once, split among them.
func groupPSS(t *testing.T, pid int) int64 {
	t.Helper()
	var sum int64
	for _, p := range processGroup(pid) {
		if kb, err := pssOf(p); err == nil { // a worker may have died meanwhile
			sum += kb
		}
	}
	return sum
}

// openRegistered opens count WSS connections to addr, 50 at a time,
// registering users from on, within 3 minutes; any failure fails the test.
func openRegistered(t *testing.T, addr string, from, count int) []*websocket.Conn {
	t.Helper()
	got, failed := tryRegistered(t, addr, from, count, 50)
	if failed > 0 {
		t.Fatalf("%d of %d connections failed or ran out of time", failed, count)
	}
	return got
}

// tryRegistered is openRegistered, par at a time, that returns the
// connections that registered, each read from then on to answer pings,
// and counts the others, logging the first failure.
func tryRegistered(t *testing.T, addr string, from, count, par int) ([]*websocket.Conn, int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	got := make([]*websocket.Conn, count)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= count || time.Now().After(deadline) {
					return
				}
				c, err := registerWSS(addr, from+i)
				if err != nil {
					if failed.Add(1) == 1 {
						t.Logf("connection %d: %v", from+i, err)
					}
					continue
				}
				got[i] = c
				go answerPings(c)
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() { closeAll(got) })
	ok := got[:0]
	for _, c := range got {
		if c != nil {
			ok = append(ok, c)
		}
	}
	return ok, count - len(ok)
}

// answerPings reads c until it closes, so that gorilla answers the
// server's pings with pongs and the server keeps it open.
func answerPings(c *websocket.Conn) {
	c.SetReadDeadline(time.Time{})
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
	}
}

func closeAll(cs []*websocket.Conn) {
	for _, c := range cs {
		if c != nil {
			c.Close()
		}
	}
}

// registerWSS opens a WSS connection with the sip subprotocol and
// registers user i on it, as a web phone does.
func registerWSS(addr string, i int) (*websocket.Conn, error) {
	d := websocket.Dialer{Subprotocols: []string{"sip"}, HandshakeTimeout: 20 * time.Second,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	c, _, err := d.Dial("wss://"+addr+"/", nil)
	if err != nil {
		return nil, err
	}
	if err := registerOn(c, i, 1); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// registerOn sends user i's REGISTER with CSeq cseq on c and waits for
// its 200.
func registerOn(c *websocket.Conn, i, cseq int) error {
	host := fmt.Sprintf("h%d.invalid", i)
	req := fmt.Sprintf("REGISTER sip:example.com SIP/2.0\r\n"+
		"Via: SIP/2.0/WSS %s;branch=z9hG4bK%d.%d\r\nMax-Forwards: 70\r\n"+
		"From: <sip:u%d@example.com>;tag=t%d\r\nTo: <sip:u%d@example.com>\r\n"+
		"Call-ID: load%d\r\nCSeq: %d REGISTER\r\n"+
		"Contact: <sip:u%d@%s;transport=ws>;expires=600\r\nContent-Length: 0\r\n\r\n",
		host, i, cseq, i, i, i, i, cseq, i, host)
	c.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if err := c.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, resp, err := c.ReadMessage()
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(resp, []byte("SIP/2.0 200 ")) {
		return fmt.Errorf("REGISTER answered %q", bytes.SplitN(resp, []byte("\r\n"), 2)[0])
	}
	return nil
}

// runtimeMem is what parley's runtime holds, from its MemStats, in
// bytes.
type runtimeMem struct {
	HeapInuse, Stack int64 // live after a GC: what the connections hold
	HeapFree         int64 // idle heap not yet handed back (HeapIdle - HeapReleased)
	Meta             int64 // the runtime's own: span structures, GC metadata, other
	NumGC            int64
	TotalAlloc       int64 // allocated since the start, garbage included
}

// live is the heap in use and the goroutine stacks.
func (r runtimeMem) live() int64 { return r.HeapInuse + r.Stack }

// perConn logs r's growth over r0, per connection of n, under label.
func (r runtimeMem) perConn(t *testing.T, label string, r0 runtimeMem, n int) {
	t.Helper()
	per := func(a, b int64) float64 { return float64(a-b) / float64(n) }
	t.Logf("parley, %s, per connection: live after a GC %.0f bytes (%.1f KiB): heap %.0f, goroutine stacks %.0f; besides: idle heap not handed back %.0f, runtime metadata %.0f; allocated %.0f (%d GCs)",
		label, per(r.live(), r0.live()), per(r.live(), r0.live())/1024, per(r.HeapInuse, r0.HeapInuse), per(r.Stack, r0.Stack),
		per(r.HeapFree, r0.HeapFree), per(r.Meta, r0.Meta), per(r.TotalAlloc, r0.TotalAlloc), r.NumGC)
}

// memStats is parley's runtime memory after a forced GC, as its pprof
// endpoint reports it.
func memStats(t *testing.T, admin string) runtimeMem {
	t.Helper()
	code, body := httpGet(t, "http://"+admin+"/debug/pprof/heap?debug=1&gc=1")
	if code != 200 {
		t.Fatalf("heap profile: %d", code)
	}
	v := map[string]int64{}
	for _, line := range strings.Split(body, "\n") {
		name, val, ok := strings.Cut(strings.TrimPrefix(line, "# "), " = ")
		if ok && line != name {
			v[name], _ = strconv.ParseInt(strings.Fields(val)[0], 10, 64) // "Stack = inuse / sys"
		}
	}
	r := runtimeMem{HeapInuse: v["HeapInuse"], Stack: v["Stack"], HeapFree: v["HeapIdle"] - v["HeapReleased"],
		Meta: v["MSpan"] + v["GCSys"] + v["OtherSys"], NumGC: v["NumGC"], TotalAlloc: v["TotalAlloc"]}
	if r.HeapInuse == 0 || r.Stack == 0 {
		t.Fatal("no HeapInuse or Stack in the heap profile")
	}
	return r
}

// saveProfiles writes parley's heap profile and goroutine dump into
// $PARLEY_WSS_PROFILE, when set, for `go tool pprof`.
func saveProfiles(t *testing.T, admin string) {
	t.Helper()
	dir := os.Getenv("PARLEY_WSS_PROFILE")
	if dir == "" {
		return
	}
	for name, path := range map[string]string{"heap.pb.gz": "heap", "goroutine.txt": "goroutine?debug=1"} {
		code, body := httpGet(t, "http://"+admin+"/debug/pprof/"+path)
		if code != 200 {
			t.Fatalf("%s: %d", path, code)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// pss is a process's proportional set size in KiB.
func pss(t *testing.T, pid int) int64 {
	t.Helper()
	kb, err := pssOf(pid)
	if err != nil {
		t.Fatal(err)
	}
	return kb
}

// pssOf reads a process's proportional set size in KiB.
func pssOf(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no Pss in /proc/%d/smaps_rollup", pid)
}
