//go:build unix

package server

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/observe"
)

// BenchmarkProxiedCall relays whole calls through the stateful proxy over
// loopback UDP, configured as bench/parley.sh runs it for the CPU-per-call
// series: presence on (busy lamps, fed by the observer's call tracker),
// neither the admin listener nor HEP, loopback trusted. Each iteration is
// one call between two phones in this process, alice calling the
// registered bob: INVITE, 100, 180, 200, ACK, BYE and its 200, every
// message relayed by the proxy. allocs/op and B/op are the whole
// process's per call (the phones' own included, the same for any
// server); cpu-µs/call is the process's CPU time (getrusage) per call.
// At the end the observer must have followed the last call to its end.
func BenchmarkProxiedCall(b *testing.B) {
	cfg := config.Default()
	cfg.Listen = []config.Listener{{Proto: config.ProtoUDP, Host: "127.0.0.1", Port: 0}}
	cfg.Domains = []string{"example.com"}
	cfg.DataDir = b.TempDir()
	cfg.Storage.Engine = config.EngineMemory
	cfg.Admin.Listen, cfg.Admin.CaptureMessages = "", 0
	cfg.Security.Trusted = []string{"127.0.0.0/8"}
	s, err := New(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}()
	if s.obs == nil {
		b.Fatal("no observer: the call tracker is not running")
	}
	proxy := s.Listeners()[0].Bound
	alice, bob := newBenchPhone(b, proxy), newBenchPhone(b, proxy)
	bob.register(b, "bob")

	b.ReportAllocs()
	t0 := benchCPU()
	for i := 0; b.Loop(); i++ {
		benchCall(b, alice, bob, "bench-"+strconv.Itoa(i))
	}
	b.ReportMetric(float64((benchCPU()-t0).Microseconds())/float64(b.N), "cpu-µs/call")
	s.obs.obs.Flush()
	active, recent := s.obs.obs.Calls()
	if len(active) != 0 || len(recent) == 0 || recent[0].State != observe.CallEnded || recent[0].Reason != "hung up" {
		b.Fatalf("the observer followed the calls wrongly: %d active, latest ended %+v", len(active), recent[:min(1, len(recent))])
	}
}

// benchCall makes one call from alice to bob through the proxy and hangs up.
func benchCall(b *testing.B, alice, bob *benchPhone, callID string) {
	inv := "INVITE sip:bob@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + alice.addr + ";branch=z9hG4bK-i" + callID + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: \"Alice\" <sip:alice@example.com>;tag=a-" + callID + "\r\n" +
		"To: <sip:bob@example.com>\r\nCall-ID: " + callID + "\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:alice@" + alice.addr + ">\r\nContent-Length: 0\r\n\r\n"
	alice.send(b, inv)
	in := bob.await(b, "INVITE ")
	bob.send(b, benchAnswer(in, "180 Ringing", callID, bob.addr))
	bob.send(b, benchAnswer(in, "200 OK", callID, bob.addr))
	ok := alice.await(b, "SIP/2.0 200")
	route := routeOf(ok)
	toTag := ";tag=b-" + callID
	inDialog := func(method, cseq, branch string) string {
		return method + " sip:bob@" + bob.addr + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + alice.addr + ";branch=z9hG4bK-" + branch + callID + ";rport\r\n" + route +
			"Max-Forwards: 70\r\nFrom: \"Alice\" <sip:alice@example.com>;tag=a-" + callID + "\r\n" +
			"To: <sip:bob@example.com>" + toTag + "\r\nCall-ID: " + callID + "\r\nCSeq: " + cseq + "\r\n" +
			"Content-Length: 0\r\n\r\n"
	}
	alice.send(b, inDialog("ACK", "1 ACK", "k"))
	bob.await(b, "ACK ")
	alice.send(b, inDialog("BYE", "2 BYE", "b"))
	bye := bob.await(b, "BYE ")
	bob.send(b, benchAnswer(bye, "200 OK", callID, ""))
	alice.await(b, "SIP/2.0 200")
}

// benchAnswer builds bob's response to req: its Via, From, To (tagged),
// Call-ID, CSeq and Record-Route, and a Contact when contact is set.
func benchAnswer(req, status, callID, contact string) string {
	var w strings.Builder
	w.WriteString("SIP/2.0 " + status + "\r\n")
	for _, line := range strings.Split(req, "\r\n")[1:] {
		name, _, _ := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v", "from", "f", "call-id", "i", "cseq", "record-route":
			w.WriteString(line + "\r\n")
		case "to", "t":
			if !strings.Contains(line, ";tag=") {
				line += ";tag=b-" + callID
			}
			w.WriteString(line + "\r\n")
		}
	}
	if contact != "" {
		w.WriteString("Contact: <sip:bob@" + contact + ">\r\n")
	}
	w.WriteString("Content-Length: 0\r\n\r\n")
	return w.String()
}

// routeOf turns a 2xx's Record-Route headers into the caller's Route
// header lines (the caller reverses the set, §12.1.2).
func routeOf(resp string) string {
	var rr []string
	for _, line := range strings.Split(resp, "\r\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "Record-Route") {
			rr = append(rr, strings.TrimSpace(value))
		}
	}
	out := ""
	for i := len(rr) - 1; i >= 0; i-- {
		out += "Route: " + rr[i] + "\r\n"
	}
	return out
}

// benchPhone is one UDP user agent of the benchmark, which sends everything
// to the proxy.
type benchPhone struct {
	conn  *net.UDPConn
	addr  string
	proxy netip.AddrPort
	buf   []byte
}

func newBenchPhone(b *testing.B, proxy netip.AddrPort) *benchPhone {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return &benchPhone{conn: conn, addr: conn.LocalAddr().String(), proxy: proxy, buf: make([]byte, 65535)}
}

func (p *benchPhone) send(b *testing.B, msg string) {
	if _, err := p.conn.WriteToUDPAddrPort([]byte(msg), p.proxy); err != nil {
		b.Fatal(err)
	}
}

// await returns the next message that starts with prefix, skipping
// others (a 100 Trying, a retransmission).
func (p *benchPhone) await(b *testing.B, prefix string) string {
	p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, _, err := p.conn.ReadFromUDPAddrPort(p.buf)
		if err != nil {
			b.Fatalf("%s waited for %q: %v", p.addr, prefix, err)
		}
		if strings.HasPrefix(string(p.buf[:n]), prefix) {
			return string(p.buf[:n])
		}
	}
}

func (p *benchPhone) register(b *testing.B, user string) {
	p.send(b, "REGISTER sip:example.com SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP "+p.addr+";branch=z9hG4bK-reg;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:"+user+"@example.com>;tag=r1\r\nTo: <sip:"+user+"@example.com>\r\n"+
		"Call-ID: reg-"+user+"\r\nCSeq: 1 REGISTER\r\nContact: <sip:"+user+"@"+p.addr+">\r\n"+
		"Expires: 3600\r\nContent-Length: 0\r\n\r\n")
	p.await(b, "SIP/2.0 200")
}

func benchCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
