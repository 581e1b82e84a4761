package transport

import (
	"bytes"
	"crypto/tls"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
)

// goroutineID is the running goroutine's number, from its stack's
// first line ("goroutine 42 [running]:").
func goroutineID() int {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	f := bytes.Fields(buf)
	if len(f) < 2 {
		return -1
	}
	n, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return -1
	}
	return n
}

// goroutineAnswerer answers every request 200 and says which goroutine
// handled it.
type goroutineAnswerer struct {
	m   *Manager
	ids chan int
}

func (a *goroutineAnswerer) HandleMessage(in *Incoming) {
	a.ids <- goroutineID()
	a.m.Send(ResponseTarget(in), sip.NewResponse(in.Msg, 200, "", "srv").Bytes())
}

// A TCP or TLS reader keeps its goroutine while messages keep coming
// (moving after every read cost a goroutine and its stack's growth per
// message: issue 20's REGISTER over TCP) and moves to a fresh one once
// the connection has been quiet for streamHopIdle; the connection reads
// on after the move, crypto/tls included.
func TestStreamReaderMovesWhenIdle(t *testing.T) {
	defer func(d time.Duration) { streamHopIdle = d }(streamHopIdle)
	streamHopIdle = 200 * time.Millisecond
	f := families[0]
	for _, proto := range []Proto{TCP, TLS} {
		t.Run(string(proto), func(t *testing.T) {
			a := &goroutineAnswerer{ids: make(chan int, 8)}
			cfg := tcpConfig(f)
			if proto == TLS {
				cfg = tlsConfig(f, filepath.Join(t.TempDir(), "data"))
			}
			a.m = build(t, cfg, a)
			if err := a.m.Start(); err != nil {
				t.Fatal(err)
			}
			var c net.Conn
			if proto == TLS {
				c = dialTLS(t, f, a.m, &tls.Config{InsecureSkipVerify: true})
			} else {
				c = dialTCP(t, f.tcp, a.m.Listeners()[0].Bound)
			}
			ask := func() int {
				t.Helper()
				if _, err := c.Write(request(proto, "192.0.2.9:5060", "")); err != nil {
					t.Fatal(err)
				}
				if r := readMessage(t, c); r.StatusCode() != 200 {
					t.Fatalf("status %d", r.StatusCode())
				}
				return <-a.ids
			}
			first := ask()
			for i := range 3 {
				time.Sleep(20 * time.Millisecond)
				if g := ask(); g != first {
					t.Fatalf("request %d, 20 ms after the one before, handled on goroutine %d, not %d", i+2, g, first)
				}
			}
			time.Sleep(2 * streamHopIdle)
			if g := ask(); g == first {
				t.Errorf("after %v quiet the reader still runs on goroutine %d", 2*streamHopIdle, g)
			}
		})
	}
}
