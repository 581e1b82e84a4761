package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The flood test's figures, stated here and in docs/SECURITY.md.
const (
	floodFor     = 20 * time.Second // how long the flooder sends
	floodRate    = 2000             // its messages per second: 20 times its limit
	floodLimit   = 100              // security.rate
	floodBurst   = 200              // security.burst
	floodBanWait = 5 * time.Second  // security.ban_after
	// floodRSS bounds parley's resident memory through the test; a
	// -race build keeps shadow memory for every allocation.
	floodRSS     = 100 << 20
	floodRSSRace = 400 << 20
)

// floodConfig states the limits the flood test runs under.
var floodConfig = fmt.Sprintf(`admin:
  listen: ""
security:
  rate: %d
  burst: %d
  ban_after: %s
  ban_for: 600s
`, floodLimit, floodBurst, floodBanWait)

// TestFloodKeepsServing: 127.0.0.2 sends INVITEs and REGISTERs at 20
// times its rate limit for 20 s, while 127.0.0.1 keeps registering
// (sipp, 10/s) and calling (sipp, batches of calls at 4/s) at a normal
// rate. The legitimate traffic must see at least 99% success, the
// flooder must be banned, and parley's resident memory must stay under
// floodRSS.
func TestFloodKeepsServing(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	p := startParley(t, "--config", writeConfig(t, floodConfig))
	rss := watchRSS(t, p)
	fl := startFlooder(t, p.Addr, floodFor, floodRate)

	reg := startSipp(t, "-sf", scenario("register_only.xml"), "-inf", usersCSV(t, "legit", 200),
		"-m", "200", "-r", "10", "-timeout", "28s", p.Addr)
	var calls, callsOK int
	for batch := 0; fl.running() && batch < 5; batch++ {
		ok, n := callBatch(t, p.Addr, batch, 20)
		callsOK, calls = callsOK+ok, calls+n
	}
	reg.Wait()
	fl.wait()
	regOK, regFailed := sippCounts(t, reg)
	maxRSS := rss.stop()

	t.Logf("flooder: %d requests sent from 127.0.0.2 in %v; %d of them answered (%d responses with retransmissions)",
		fl.sent.Load(), floodFor, fl.answeredCount(), fl.answers.Load())
	t.Logf("legitimate: registrations %d ok / %d failed, calls %d ok of %d; parley max RSS %.1f MiB",
		regOK, regFailed, callsOK, calls, float64(maxRSS)/(1<<20))
	if total := regOK + regFailed + calls; total == 0 || float64(regOK+callsOK) < 0.99*float64(total) {
		t.Errorf("legitimate traffic: %d of %d succeeded, want at least 99%%", regOK+callsOK, total)
	}
	if regOK+regFailed < 150 || calls < 40 {
		t.Errorf("too little legitimate traffic to judge: %d registrations, %d calls", regOK+regFailed, calls)
	}
	if limit := rssBound(); maxRSS > limit {
		t.Errorf("parley's RSS reached %d MiB, over the bound of %d MiB", maxRSS>>20, limit>>20)
	}
	// Admitted: the burst, then the rate until the ban (a second of slack
	// for the calm gap and scheduling); the rest is dropped unread.
	if most := floodBurst + floodLimit*int(floodBanWait/time.Second+1); fl.answeredCount() > most {
		t.Errorf("%d of the flooder's requests were answered, more than the %d its limits allow", fl.answeredCount(), most)
	}
	if !strings.Contains(readFile(t, p.logPath), `msg="source banned" source=127.0.0.2 reason="rate limit" for=10m0s`) {
		t.Errorf("no ban of 127.0.0.2 in parley's log")
	}
}

func rssBound() int64 {
	if raceEnabled {
		return floodRSSRace
	}
	return floodRSS
}

// callBatch registers a callee and makes n calls to it at 4/s, and
// returns how many the caller completed.
func callBatch(t *testing.T, proxy string, batch, n int) (ok, calls int) {
	t.Helper()
	user := "bob" + strconv.Itoa(batch)
	callee := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_answer.xml"),
		"-s", user, "-set", "calls", strconv.Itoa(n), proxy)
	callee.WaitLog("registered", phoneWait)
	caller := startSipp(t, "-sf", scenario("uac_call.xml"), "-s", user, "-m", strconv.Itoa(n), "-r", "4", proxy)
	caller.Wait()
	callee.Wait()
	ok, failed := sippCounts(t, caller)
	return ok, max(ok+failed, n)
}

// usersCSV writes a sipp injection file of n users prefixN.
func usersCSV(t *testing.T, prefix string, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for i := range n {
		fmt.Fprintf(&b, "%s%d;\n", prefix, i)
	}
	path := filepath.Join(t.TempDir(), prefix+".csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var screenCount = regexp.MustCompile(`(?m)^\s*(Successful|Failed) call\s*\|\s*\d+\s*\|\s*(\d+)`)

// sippCounts reads the successful and failed calls from the final screen
// sipp wrote (-trace_screen).
func sippCounts(t *testing.T, s *sippProc) (ok, failed int) {
	t.Helper()
	for _, m := range screenCount.FindAllStringSubmatch(readFile(t, s.file("screen")), -1) {
		n, _ := strconv.Atoi(m[2])
		if m[1] == "Successful" {
			ok = n
		} else {
			failed = n
		}
	}
	return ok, failed
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// flooder sends SIP requests from 127.0.0.2 as fast as a paced loop
// allows, and counts what comes back.
type flooder struct {
	conn     *net.UDPConn
	sent     atomic.Int64
	answers  atomic.Int64 // responses, retransmissions included
	answered sync.Map     // Call-IDs of the requests that got any answer
	done     chan struct{}
	readers  sync.WaitGroup
}

// startFlooder sends rate messages a second to server for d: INVITEs to
// unknown users and REGISTERs of fresh ones, each a new transaction.
func startFlooder(t *testing.T, server string, d time.Duration, rate int) *flooder {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.2:0")))
	if err != nil {
		t.Fatal(err)
	}
	f := &flooder{conn: c, done: make(chan struct{})}
	dst := netip.MustParseAddrPort(server)
	f.readers.Add(1)
	go f.read()
	go f.send(dst, d, rate)
	t.Cleanup(func() { f.wait() })
	return f
}

// send paces the flood in 10 ms steps, bounded by d and by count.
func (f *flooder) send(dst netip.AddrPort, d time.Duration, rate int) {
	defer close(f.done)
	perStep := max(rate/100, 1)
	local := f.conn.LocalAddr().String()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for end, n := time.Now().Add(d), 0; time.Now().Before(end) && n < rate*int(d/time.Second); {
		<-tick.C
		for range perStep {
			f.conn.WriteToUDPAddrPort(floodRequest(local, n), dst)
			f.sent.Add(1)
			n++
		}
	}
}

func (f *flooder) read() {
	defer f.readers.Done()
	buf := make([]byte, 65536)
	for {
		n, _, err := f.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if n > 8 && string(buf[:8]) == "SIP/2.0 " {
			f.answers.Add(1)
			if m := floodCallID.FindSubmatch(buf[:n]); m != nil {
				f.answered.Store(string(m[1]), true)
			}
		}
	}
}

func (f *flooder) running() bool {
	select {
	case <-f.done:
		return false
	default:
		return true
	}
}

// wait waits for the sending to end, lets late answers arrive, and
// closes the socket.
func (f *flooder) wait() {
	<-f.done
	time.Sleep(200 * time.Millisecond)
	f.conn.Close()
	f.readers.Wait()
}

var floodCallID = regexp.MustCompile(`\r\nCall-ID: (flood-\d+)\r\n`)

// answeredCount is how many of the flood's requests got any answer.
func (f *flooder) answeredCount() int {
	n := 0
	f.answered.Range(func(any, any) bool { n++; return true })
	return n
}

// floodRequest is the nth flood message: even ones INVITE an unknown
// user, odd ones REGISTER a fresh one.
func floodRequest(local string, n int) []byte {
	id := strconv.Itoa(n)
	method, ruri, contact := "INVITE", "sip:flood"+id+"@example.com", ""
	if n%2 == 1 {
		method, ruri, contact = "REGISTER", "sip:example.com", "Contact: <sip:flood"+id+"@"+local+">\r\n"
	}
	return []byte(method + " " + ruri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-flood-" + id + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:flood" + id + "@example.com>;tag=f" + id + "\r\n" +
		"To: <sip:flood" + id + "@example.com>\r\nCall-ID: flood-" + id + "\r\nCSeq: 1 " + method + "\r\n" +
		contact + "Content-Length: 0\r\n\r\n")
}

// rssWatch samples a process's resident memory.
type rssWatch struct {
	max  atomic.Int64
	quit chan struct{}
	done chan struct{}
}

// watchRSS samples parley's VmRSS every 100 ms until stop.
func watchRSS(t *testing.T, p *parley) *rssWatch {
	t.Helper()
	w := &rssWatch{quit: make(chan struct{}), done: make(chan struct{})}
	path := fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if kb := vmRSS(path); kb*1024 > w.max.Load() {
				w.max.Store(kb * 1024)
			}
			select {
			case <-w.quit:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// stop ends the sampling and returns the largest RSS seen, in bytes.
func (w *rssWatch) stop() int64 {
	close(w.quit)
	<-w.done
	return w.max.Load()
}

// vmRSS reads VmRSS, in KiB, from a /proc/PID/status file; 0 if gone.
func vmRSS(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}
