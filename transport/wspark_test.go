package transport

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// clientFrame is one masked WebSocket frame (RFC 6455 §5.2) as a
// client sends it, with the all-zero mask so that the payload reads as
// it is; unmasked, the server's.
func clientFrame(op byte, payload []byte, masked bool) []byte {
	b := []byte{0x80 | op}
	mask := byte(0)
	if masked {
		mask = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, mask|byte(n))
	case n < 1<<16:
		b = append(b, mask|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, mask|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if masked {
		b = append(b, 0, 0, 0, 0)
	}
	return append(b, payload...)
}

// tlsRecord is one TLS record of application data with a body of n bytes.
func tlsRecord(n int) []byte {
	b := []byte{23, 3, 3}
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	return append(b, make([]byte, n)...)
}

// edgesAfter feeds stream to count in chunks of size and returns the
// offsets after which atEdge held.
func edgesAfter(stream []byte, size int, count func([]byte), atEdge func() bool) []int {
	var edges []int
	for off := 0; off < len(stream); off += size {
		end := min(off+size, len(stream))
		count(stream[off:end])
		if atEdge() {
			edges = append(edges, end)
		}
	}
	return edges
}

// The counters find every boundary, whichever way the stream is cut.
func TestStreamCounters(t *testing.T) {
	frames := [][]byte{
		clientFrame(websocket.TextMessage, []byte("hello"), true),
		clientFrame(websocket.PongMessage, nil, true),
		clientFrame(websocket.TextMessage, bytes.Repeat([]byte("a"), 300), true),
		clientFrame(websocket.BinaryMessage, bytes.Repeat([]byte("b"), 70000), true),
		clientFrame(websocket.PingMessage, bytes.Repeat([]byte("c"), 125), false),
		clientFrame(websocket.TextMessage, bytes.Repeat([]byte("d"), 126), false),
	}
	records := [][]byte{tlsRecord(0), tlsRecord(1), tlsRecord(300), tlsRecord(16384 + 256), tlsRecord(5)}
	tests := []struct {
		name  string
		parts [][]byte
		new   func() (func([]byte), func() bool)
	}{
		{"frames", frames, func() (func([]byte), func() bool) {
			var f frameCounter
			return f.count, f.atEdge
		}},
		{"records", records, func() (func([]byte), func() bool) {
			var r recordCounter
			return r.count, r.atEdge
		}},
	}
	for _, tt := range tests {
		stream := bytes.Join(tt.parts, nil)
		var bounds []int
		off := 0
		for _, p := range tt.parts {
			off += len(p)
			bounds = append(bounds, off)
		}
		// Cut byte by byte, the counter stands on an edge after each part and nowhere else.
		count, atEdge := tt.new()
		if got := edgesAfter(stream, 1, count, atEdge); !slices.Equal(got, bounds) {
			t.Errorf("%s, byte by byte: edges after %v, want %v", tt.name, got, bounds)
		}
		for _, size := range []int{2, 3, 7, 128, 4096, len(stream)} {
			count, atEdge := tt.new()
			got := edgesAfter(stream, size, count, atEdge)
			var want []int
			for _, b := range bounds {
				if b%size == 0 || b == len(stream) {
					want = append(want, b)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s, cut every %d bytes: edges after %v, want %v", tt.name, size, got, want)
			}
		}
	}
}

// parkedReaders counts the WebSocket readers parked on their sockets.
func parkedReaders() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "transport.(*wsReader).wait(")
}

// Between messages a connection parks: its reader waits on the socket,
// not inside gorilla and crypto/tls. It reads on however the next bytes
// come: a frame a byte at a time (under WSS, a TLS record a byte, so
// that records end inside frame headers), several frames in one write
// (one record), a ping; a pong answers the ping, and the connection
// parks again.
func TestWSParks(t *testing.T) {
	for _, p := range []Proto{WS, WSS} {
		t.Run(string(p), func(t *testing.T) {
			col := newCollector()
			m := start(t, wsConfig(p, t), col)
			ws := mustDialWS(t, m)
			eventually(t, "the reader parked", func() bool { return parkedReaders() == 1 })
			raw := ws.NetConn() // gorilla's client frames by hand from here
			frame := clientFrame(websocket.TextMessage, request(p, "h.invalid", "one"), true)
			for i := range frame {
				if _, err := raw.Write(frame[i : i+1]); err != nil {
					t.Fatal(err)
				}
			}
			if got := string(col.next(t).Msg.Body()); got != "one" {
				t.Fatalf("body %q, want one", got)
			}
			var batch []byte
			for _, body := range []string{"two", "three"} {
				batch = append(batch, clientFrame(websocket.TextMessage, request(p, "h.invalid", body), true)...)
			}
			batch = append(batch, clientFrame(websocket.PingMessage, []byte("p"), true)...)
			if _, err := raw.Write(batch); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"two", "three"} {
				if got := string(col.next(t).Msg.Body()); got != want {
					t.Fatalf("body %q, want %s", got, want)
				}
			}
			ws.SetReadDeadline(time.Now().Add(wait))
			pong := make(chan string, 1)
			ws.SetPongHandler(func(s string) error { pong <- s; return nil })
			go ws.ReadMessage()
			select {
			case s := <-pong:
				if s != "p" {
					t.Fatalf("pong %q, want p", s)
				}
			case <-time.After(wait):
				t.Fatal("no pong")
			}
			eventually(t, "the reader parked again", func() bool { return parkedReaders() == 1 })
			if st := m.Stats(); st.Open != 1 || st.FramingErrors != 0 {
				t.Fatalf("stats %+v: want one connection open, no framing error", st)
			}
		})
	}
}
