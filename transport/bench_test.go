package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
)

// BenchmarkUDPEcho measures datagrams per second through a UDP listener:
// read, copy, parse, stamp received/rport, hand to a handler that sends
// the message straight back. Several clients (so SO_REUSEPORT's hash has
// peers to spread) each keep a window of datagrams in flight; one op is
// one datagram echoed. The echo is a request, so it is written at once.
func BenchmarkUDPEcho(b *testing.B) {
	benchUDPSockets(b, func(m *Manager, in *Incoming) {
		m.Send(Target{Proto: UDP, Addr: in.Source, Listener: in.Listener}, in.Msg.Bytes())
	})
}

// BenchmarkUDPAnswer is BenchmarkUDPEcho with a 200 OK for an answer, as
// a registrar gives: responses sent during a read batch leave together
// in one sendmmsg.
func BenchmarkUDPAnswer(b *testing.B) {
	benchUDPSockets(b, func(m *Manager, in *Incoming) {
		m.Send(ResponseTarget(in), sip.NewResponse(in.Msg, 200, "", "").Bytes())
	})
}

// BenchmarkUDPEchoReleased is BenchmarkUDPEcho with the handler
// releasing each message once sent, as an absorbed retransmission or a
// statelessly forwarded ACK is (Incoming.Release): the delivery's memory
// parses a later datagram instead of a new allocation.
func BenchmarkUDPEchoReleased(b *testing.B) {
	benchUDPSockets(b, func(m *Manager, in *Incoming) {
		m.Send(Target{Proto: UDP, Addr: in.Source, Listener: in.Listener}, in.Msg.Bytes())
		in.Release()
	})
}

func benchUDPSockets(b *testing.B, answer func(*Manager, *Incoming)) {
	counts := []int{1, 2, 4}
	if n := runtime.NumCPU(); n > 4 {
		counts = append(counts, n)
	}
	for _, sockets := range counts {
		b.Run(fmt.Sprintf("sockets=%d", sockets), func(b *testing.B) {
			benchUDP(b, sockets, answer)
		})
	}
}

const (
	benchClients = 8
	benchWindow  = 8
)

func benchUDP(b *testing.B, sockets int, answer func(*Manager, *Incoming)) {
	var m *Manager
	echo := HandlerFunc(func(in *Incoming) { answer(m, in) })
	m = build(b, Config{Listeners: []ListenerConfig{{Proto: UDP, Host: "127.0.0.1"}}, UDPSockets: sockets}, echo)
	if err := m.Start(); err != nil {
		b.Fatal(err)
	}
	dst := m.Listeners()[0].Bound
	clients := make([]*net.UDPConn, benchClients)
	for i := range clients {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	msg := request(UDP, "192.0.2.1:5060", "", "rport")
	var lost atomic.Int64
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	t0 := time.Now()
	var wg sync.WaitGroup
	for i, c := range clients {
		n := b.N / benchClients
		if i < b.N%benchClients {
			n++
		}
		wg.Go(func() { lost.Add(int64(echoClient(c, msg, n))) })
	}
	wg.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(b.N-int(lost.Load()))/elapsed.Seconds(), "dgrams/s")
	b.ReportMetric(float64(lost.Load()), "lost")
}

// echoClient sends n datagrams keeping a window in flight and returns how
// many never came back (a read waits at most 1 s, so loss cannot hang
// the benchmark).
func echoClient(c *net.UDPConn, msg []byte, n int) (lost int) {
	buf := make([]byte, 2048)
	sent, done := 0, 0
	for done < n {
		for sent < n && sent-done < benchWindow {
			c.Write(msg)
			sent++
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(buf); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return n - done
			}
			lost += sent - done // give up on what is in flight
			done = sent
			continue
		}
		done++
	}
	return lost
}

// BenchmarkUDPReadBatch measures the read path alone: recvmmsg into the
// reader's reused buffers and each datagram's source decoded into a
// netip.AddrPort. One op is one datagram; the client's writes are in the
// timing (and would be in allocs/op, but a connected socket's Write
// allocates nothing). timestamp=on asks the kernel for each datagram's
// receive time (SO_TIMESTAMPNS, as listeners do) and decodes it from the
// control data: its cost is the difference, cpu-ns/op the process's CPU.
func BenchmarkUDPReadBatch(b *testing.B) {
	for _, stamp := range []bool{false, true} {
		b.Run(fmt.Sprintf("timestamp=%s", map[bool]string{false: "off", true: "on"}[stamp]), func(b *testing.B) {
			forFamiliesB(b, func(b *testing.B, f family) { benchUDPRead(b, f, stamp) })
		})
	}
}

func benchUDPRead(b *testing.B, f family, stamp bool) {
	srv := udpClient(b, f)
	if stamp {
		rc, err := srv.SyscallConn()
		if err != nil {
			b.Fatal(err)
		}
		rc.Control(func(fd uintptr) { askRecvTimestamp(int(fd)) })
	}
	c, err := net.DialUDP(f.udp, nil, srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	want := addrPort(c.LocalAddr())
	r := newUDPReader(srv, 2048)
	msg := request(UDP, "192.0.2.1:5060", "", "rport")
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for done := 0; done < b.N; {
		sent := min(udpBatch, b.N-done)
		for range sent {
			c.Write(msg)
		}
		for got := 0; got < sent; {
			n, err := r.read()
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				d, src, at := r.datagram(i)
				if src != want || len(d) != len(msg) || (at != 0) != (stamp && runtime.GOOS == "linux") {
					b.Fatalf("datagram %d from %v at %d, want %d bytes from %v, stamped %v", i, src, at, len(msg), want, stamp)
				}
			}
			got += n
		}
		done += sent
	}
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkUDPWriteBatch measures the write path alone: a read batch's
// responses queued and written with sendmmsg when the batch ends. One op
// is one datagram; the peer does not read (the kernel drops what its
// buffer cannot hold, which costs the sender nothing more).
func BenchmarkUDPWriteBatch(b *testing.B) {
	forFamiliesB(b, func(b *testing.B, f family) {
		peer := udpClient(b, f)
		dst := addrPort(peer.LocalAddr())
		s := newUDPSocket(udpClient(b, f), f.host == "127.0.0.1", func(_ netip.AddrPort, err error) { b.Error(err) }, nil)
		msg := response(1)
		b.ReportAllocs()
		b.ResetTimer()
		for done := 0; done < b.N; done += udpBatch {
			s.hold()
			for range min(udpBatch, b.N-done) {
				if err := s.send(msg, dst, true, 0); err != nil {
					b.Fatal(err)
				}
			}
			s.release()
		}
	})
}

// forFamiliesB runs fn as a sub-benchmark per address family, skipping
// IPv6 where ::1 is missing.
func forFamiliesB(b *testing.B, fn func(b *testing.B, f family)) {
	for _, f := range families {
		b.Run(f.name, func(b *testing.B) {
			if f.name == "ipv6" && !hasIPv6() {
				b.Skip("::1 unavailable")
			}
			fn(b, f)
		})
	}
}

// BenchmarkUDPParallelSend measures sends made outside a read batch from
// many goroutines at once, as a registrar's store workers or the B2BUA's
// calls make them. One op is one datagram; syscalls/op is the system
// calls that wrote (sendto or sendmmsg) per datagram, cpu-ns/op the
// process's CPU time (user and system) per datagram, which on a busy
// machine says more than ns/op. queued is a response (the sender moves
// on), sync a request (the sender waits for its write's error). The peer
// does not read.
func BenchmarkUDPParallelSend(b *testing.B) {
	for _, mode := range []struct {
		name  string
		queue bool
	}{{"queued", true}, {"sync", false}} {
		b.Run(mode.name, func(b *testing.B) {
			peer := udpClient(b, families[0])
			dst := addrPort(peer.LocalAddr())
			s := newUDPSocket(udpClient(b, families[0]), true, func(_ netip.AddrPort, err error) { b.Error(err) }, nil)
			msg := response(1)
			b.ReportAllocs()
			b.SetParallelism(4)
			b.ResetTimer()
			cpu0 := cpuTime(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.send(msg, dst, mode.queue, 0); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(s.writes.Load())/float64(b.N), "syscalls/op")
		})
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTCPRoundTrip is a client that REGISTERs over TCP and waits for
// each answer before the next, as sipp does at a low rate: one op is one
// request read, framed, handed to a handler that answers 200, and the
// answer read back. one-connection keeps the connection (sipp's t1 mode,
// a phone); connection-each opens and closes one per request (a
// connection's fixed cost: accept, reader goroutine, buffers, teardown).
// cpu-ns/op is the process's CPU, client included; moving the reader to
// a fresh goroutine after every read (issue 20) showed up there.
func BenchmarkTCPRoundTrip(b *testing.B) {
	for _, mode := range []struct {
		name string
		each bool
	}{{"one-connection", false}, {"connection-each", true}} {
		b.Run(mode.name, func(b *testing.B) {
			m, _ := startAnswering(b, tcpConfig(families[0]))
			dst := m.Listeners()[0].Bound
			msg := request(TCP, "192.0.2.9:5060", "")
			var c net.Conn
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			for range b.N {
				if c == nil {
					c = dialTCP(b, families[0].tcp, dst)
				}
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				readMessage(b, c)
				if mode.each {
					c.Close()
					c = nil
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
