package e2e

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The TCP tests' limits, stated here and in docs/SECURITY.md.
const (
	tcpPerIP       = 200
	tcpTotal       = 8000
	tcpIdle        = 10 * time.Second
	tcpMsgTimeout  = 3 * time.Second
	tlsHandshakeTO = 3 * time.Second
)

// tcpAbuseConfig sets the stream limits under test. The per-source rate
// limit is off (rate 0): each attacking address here opens hundreds of
// connections within a second, which the guard would refuse first, and
// these tests are about what the stream limits alone hold.
var tcpAbuseConfig = fmt.Sprintf(`admin:
  listen: ""
security:
  rate: 0
tcp:
  max_connections: %d
  max_connections_per_ip: %d
  idle_timeout: %s
  message_timeout: %s
tls:
  handshake_timeout: %s
`, tcpTotal, tcpPerIP, tcpIdle, tcpMsgTimeout, tlsHandshakeTO)

// raiseNoFile lifts this process's open-file limit to its hard limit;
// parley, started after, inherits it.
func raiseNoFile(t *testing.T, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
	}
	if lim.Cur < need {
		t.Skipf("open-file limit %d is under the %d this test needs", lim.Cur, need)
	}
}

// sources returns n loopback addresses from 127.0.first.1 on, each a
// separate "host" to parley's per-address limit.
func sources(first, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("127.0.%d.%d", first+i/250, 1+i%250)
	}
	return out
}

// dialMany opens perSource connections from each source to addr, 64 at a
// time, and closes them all when the test ends.
func dialMany(t *testing.T, addr string, srcs []string, perSource int) []*net.TCPConn {
	t.Helper()
	type job struct{ src string }
	jobs := make(chan job)
	var mu sync.Mutex
	var conns []*net.TCPConn
	var failed error
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(j.src)}, Timeout: 5 * time.Second}
				c, err := d.Dial("tcp4", addr)
				mu.Lock()
				if err != nil {
					failed = err
				} else {
					conns = append(conns, c.(*net.TCPConn))
				}
				mu.Unlock()
			}
		}()
	}
	for range perSource {
		for _, s := range srcs {
			jobs <- job{s}
		}
	}
	close(jobs)
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	if failed != nil {
		t.Fatalf("dialling %d connections: %v", len(srcs)*perSource, failed)
	}
	return conns
}

// closedByPeer reports whether parley has closed c: a peek that reads
// nothing (EOF) or a reset, without waiting.
func closedByPeer(c *net.TCPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), make([]byte, 1), syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = n == 0 && err == nil || err != nil && !errors.Is(err, syscall.EAGAIN)
		return true
	})
	return closed
}

// settledOpen waits until the count of connections parley keeps open has
// not changed for half a second (it has dealt with every accept), and
// returns it. It gives up after timeout.
func settledOpen(conns []*net.TCPConn, timeout time.Duration) int {
	last := -1
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		open := 0
		for _, c := range conns {
			if !closedByPeer(c) {
				open++
			}
		}
		if open == last {
			return open
		}
		last = open
		time.Sleep(500 * time.Millisecond)
	}
	return last
}

// stillOpen polls until parley has closed every connection or timeout
// passes, and returns how many it still keeps open.
func stillOpen(conns []*net.TCPConn, timeout time.Duration) int {
	for deadline := time.Now().Add(timeout); ; time.Sleep(250 * time.Millisecond) {
		open := 0
		for _, c := range conns {
			if !closedByPeer(c) {
				open++
			}
		}
		if open == 0 || time.Now().After(deadline) {
			return open
		}
	}
}

// optionsOver sends an OPTIONS to parley over a new TCP (or TLS)
// connection from 127.0.0.1 and reports whether a 200 came back within 3 s.
func optionsOver(t *testing.T, addr string, useTLS bool) bool {
	t.Helper()
	d := &net.Dialer{Timeout: 3 * time.Second}
	var c net.Conn
	var err error
	proto := "TCP"
	if useTLS {
		proto = "TLS"
		c, err = tls.DialWithDialer(d, "tcp4", addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = d.Dial("tcp4", addr)
	}
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	req := bytes.Replace(optionsProbe(c.LocalAddr().String(), addr, 1), []byte("SIP/2.0/UDP"), []byte("SIP/2.0/"+proto), 1)
	if _, err := c.Write(req); err != nil {
		return false
	}
	buf := make([]byte, 4096)
	n, _ := c.Read(buf)
	return bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200"))
}

// TestTCPIdleConnections: 10 000 idle connections from 25 addresses hit
// the per-address limit (200), which keeps 5 000 and refuses 5 000 at
// once; a fresh client is answered over TCP and UDP. Then 4 000 more from
// 20 other addresses fill the total (8 000): the 1 000 past it are
// refused, fresh TCP clients too, while UDP is still answered; after
// tcp.idle_timeout the idle connections are closed and TCP is served
// again. parley's memory with 8 000 connections is logged.
func TestTCPIdleConnections(t *testing.T) {
	raiseNoFile(t, 16000)
	p := startParley(t, "--config", writeConfig(t, tcpAbuseConfig))
	rss := watchRSS(t, p)

	perSource := dialMany(t, p.Addr, sources(10, 25), 400)
	if open := settledOpen(perSource, 20*time.Second); open != 25*tcpPerIP {
		t.Errorf("10 000 connections from 25 addresses: %d kept open, want %d (the per-address limit)", open, 25*tcpPerIP)
	}
	if !optionsOver(t, p.Addr, false) || !answersFrom(t, p, "127.0.0.1") {
		t.Errorf("a fresh client is not answered while 25 addresses hold their limit")
	}

	total := dialMany(t, p.Addr, sources(20, 20), tcpPerIP)
	all := append(perSource, total...)
	if open := settledOpen(all, 20*time.Second); open != tcpTotal {
		t.Errorf("%d connections in all: %d kept open, want %d (the total limit)", len(all), open, tcpTotal)
	}
	if optionsOver(t, p.Addr, false) {
		t.Errorf("a TCP client was accepted past max_connections")
	}
	if !answersFrom(t, p, "127.0.0.1") {
		t.Errorf("UDP is not answered while the connection table is full")
	}
	t.Logf("parley's RSS with %d idle connections: %.1f MiB", tcpTotal, float64(rss.stop())/(1<<20))

	start := time.Now()
	if open := stillOpen(all, tcpIdle+15*time.Second); open != 0 {
		t.Errorf("%d idle connections still open %v later", open, time.Since(start))
	}
	t.Logf("every idle connection closed %v after the last was opened (tcp.idle_timeout %v)", time.Since(start).Round(100*time.Millisecond), tcpIdle)
	if !optionsOver(t, p.Addr, false) {
		t.Errorf("TCP not served after the idle connections were closed")
	}
}

// TestTCPSlowloris: 50 clients each trickle a header, a byte every
// 300 ms, forever; each is cut off tcp.message_timeout (3 s) after its
// first byte, while fresh clients are answered throughout.
func TestTCPSlowloris(t *testing.T) {
	p := startParley(t, "--config", writeConfig(t, tcpAbuseConfig))
	slow := dialMany(t, p.Addr, []string{"127.0.0.5"}, 50)
	start := time.Now()
	var wg sync.WaitGroup
	cutAfter := make([]time.Duration, len(slow))
	for i, c := range slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cutAfter[i] = trickle(c, 10*time.Second)
		}()
	}
	for time.Since(start) < 2*time.Second {
		if !optionsOver(t, p.Addr, false) {
			t.Errorf("a fresh client is not answered during the slowloris")
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("50 slow clients cut off after %v to %v (tcp.message_timeout %v)",
		slices.Min(cutAfter).Round(10*time.Millisecond), slices.Max(cutAfter).Round(10*time.Millisecond), tcpMsgTimeout)
	for i, d := range cutAfter {
		if d < tcpMsgTimeout-500*time.Millisecond || d > tcpMsgTimeout+2*time.Second {
			t.Errorf("slow client %d cut off after %v, want about %v", i, d, tcpMsgTimeout)
			break
		}
	}
	if !optionsOver(t, p.Addr, false) {
		t.Errorf("a fresh client is not answered after the slowloris")
	}
}

// trickle writes a never-ending header a byte at a time and returns how
// long until the server cut it off (or limit, if it never did).
func trickle(c *net.TCPConn, limit time.Duration) time.Duration {
	start := time.Now()
	msg := "OPTIONS sip:127.0.0.1 SIP/2.0\r\nX-Slow: " + strings.Repeat("a", 1000)
	for i := 0; time.Since(start) < limit; i++ {
		if _, err := c.Write([]byte{msg[i%len(msg)]}); err != nil {
			return time.Since(start)
		}
		if closedByPeer(c) {
			return time.Since(start)
		}
		time.Sleep(300 * time.Millisecond)
	}
	return limit
}

// TestTCPTLSHandshakeFlood: 1 000 connections to the TLS port from 10
// addresses that never send a ClientHello hold their slots only for
// tls.handshake_timeout (3 s); meanwhile a real TLS client completes its
// handshake and is answered.
func TestTCPTLSHandshakeFlood(t *testing.T) {
	raiseNoFile(t, 4000)
	tlsAddr := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
	p := startParley(t, "--config", writeConfig(t, tcpAbuseConfig), "--listen", "tls:"+tlsAddr)
	halfOpen := dialMany(t, tlsAddr, sources(30, 10), 100)
	start := time.Now()
	if !optionsOver(t, tlsAddr, true) {
		t.Errorf("a TLS client is not answered during the half-open flood")
	}
	if open := settledOpen(halfOpen, time.Second); open < 900 {
		t.Errorf("only %d of 1 000 half-open connections held at first; the test did not load the server", open)
	}
	if open := stillOpen(halfOpen, tlsHandshakeTO+3*time.Second-time.Since(start)); open != 0 {
		t.Errorf("%d half-open TLS connections still open %v after they were opened", open, time.Since(start))
	}
	t.Logf("1 000 half-open TLS connections all closed within %v (tls.handshake_timeout %v)",
		time.Since(start).Round(100*time.Millisecond), tlsHandshakeTO)
	if !optionsOver(t, tlsAddr, true) || !optionsOver(t, p.Addr, false) {
		t.Errorf("clients not answered after the half-open flood")
	}
}
