package transport

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"syscall"
)

// Parking an idle WebSocket connection. A goroutine blocked in
// gorilla's NextReader is about 2 KiB deep (gorilla, bufio, crypto/tls,
// the poller), so its stack stays in the 4 KiB class: at 10 000 idle
// connections the largest cost after crypto/tls's own. Parked, the
// connection waits for its socket to become readable on a goroutine
// whose only frames are the poller's, which starts in the 2 KiB class,
// and reading resumes through gorilla once bytes arrive.
//
// Waiting on the socket is only right when no layer above it holds
// bytes of the stream: not gorilla's bufio, not crypto/tls's plaintext
// or raw records. Neither says so, so two thin wrappers follow the
// stream from outside. frameConn, under gorilla, follows WebSocket frame
// boundaries in the bytes it hands up; recordConn, under crypto/tls,
// follows TLS record boundaries. A layer asks the one below for bytes
// only when it needs more than it holds, so when gorilla asks while all
// it was handed ends on a frame boundary, it has consumed all of it and
// is about to read a new frame's header; likewise for crypto/tls and
// records. Only then, and only while the reader waits in NextReader,
// recordConn answers with a temporary error (crypto/tls keeps no
// temporary error, as after a read deadline) and frameConn unwinds
// gorilla with a panic the reader recovers: gorilla keeps any read error
// for good, and at the start of a frame header it has changed nothing.

// wsParkSignal is the panic that unwinds NextReader to park.
type wsParkSignal struct{}

// errParked tells the reader that its connection parked.
var errParked net.Error = parkedError{}

// parkedError is what recordConn answers crypto/tls with when the
// connection parks; temporary, so that crypto/tls reads on later.
type parkedError struct{}

func (parkedError) Error() string   { return "transport: websocket connection parked" }
func (parkedError) Timeout() bool   { return false }
func (parkedError) Temporary() bool { return true }

// wsPark is what a parkable connection's layers share. Only its reading
// goroutine touches it once the connection is a WebSocket.
type wsPark struct {
	inNext bool // the reader waits in NextReader: parking is allowed
	edge   bool // frameConn asked for bytes with nothing buffered above it
	woke   bool // the socket became readable: the next read takes it
	peek   [1]byte
	raw    syscall.RawConn       // the socket, to wait on
	ready  func(fd uintptr) bool // frameConn.readable, made once
}

// frameConn is a WebSocket's connection as gorilla sees it: crypto/tls's
// (WSS) or the socket (WS).
type frameConn struct {
	net.Conn
	park   wsPark
	frames frameCounter
	direct bool // no TLS below: the socket itself
}

// newFrameConn wraps a connection just upgraded to WebSocket, or returns
// nil when it cannot park (not a socket, or TLS not over a recordConn).
func newFrameConn(nc net.Conn) *frameConn {
	if !canPark {
		return nil
	}
	fc := &frameConn{Conn: nc}
	sock := nc
	rc, isTLS := (*recordConn)(nil), false
	if tc, ok := nc.(*tls.Conn); ok {
		if rc, isTLS = tc.NetConn().(*recordConn); !isTLS {
			return nil
		}
		sock = rc.Conn
	}
	sc, ok := sock.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	fc.park.raw, fc.park.ready, fc.direct = raw, fc.readable, !isTLS
	if isTLS {
		rc.park = &fc.park
	}
	return fc
}

// parks reports whether a read from the socket, at a boundary of every
// layer above it (edge), parks instead; the read right after waking
// takes what woke the connection.
func (p *wsPark) parks(edge bool) bool {
	park := edge && p.inNext && !p.woke
	p.woke = false
	return park
}

func (c *frameConn) Read(p []byte) (int, error) {
	edge := c.frames.atEdge()
	if c.direct && c.park.parks(edge) {
		panic(wsParkSignal{})
	}
	c.park.edge = edge
	n, err := c.Conn.Read(p)
	c.park.edge = false
	if err == errParked {
		panic(wsParkSignal{})
	}
	c.frames.count(p[:n])
	return n, err
}

// readable reports whether the socket has bytes (or its end) to read,
// without taking them; RawConn.Read waits for the next edge when not.
func (c *frameConn) readable(fd uintptr) bool {
	return peekReady(fd, c.park.peek[:])
}

// recordConn is the socket under crypto/tls on a WSS listener.
type recordConn struct {
	net.Conn
	park    *wsPark // set once the connection is a WebSocket
	records recordCounter
}

func (c *recordConn) Read(p []byte) (int, error) {
	if c.park != nil && c.park.parks(c.park.edge && c.records.atEdge()) {
		return 0, errParked
	}
	n, err := c.Conn.Read(p)
	c.records.count(p[:n])
	return n, err
}

// frameCounter follows WebSocket frame boundaries (RFC 6455 §5.2) in a
// byte stream, by the lengths in the frame headers alone.
type frameCounter struct {
	got  uint8 // header bytes seen of the frame under way
	need uint8 // its header's length, once its second byte is seen
	ext  uint8 // how many of those carry the extended payload length
	plen uint64
	left uint64 // payload bytes still to come
}

func (f *frameCounter) atEdge() bool { return f.got == 0 && f.left == 0 }

func (f *frameCounter) count(b []byte) {
	for len(b) > 0 {
		if f.left > 0 {
			k := min(uint64(len(b)), f.left)
			f.left -= k
			b = b[k:]
			continue
		}
		x := b[0]
		b = b[1:]
		switch {
		case f.got == 1:
			f.ext, f.plen = 0, uint64(x&0x7f)
			switch f.plen {
			case 126:
				f.ext, f.plen = 2, 0
			case 127:
				f.ext, f.plen = 8, 0
			}
			f.need = 2 + f.ext
			if x&0x80 != 0 { // masked
				f.need += 4
			}
		case f.got >= 2 && f.got < 2+f.ext:
			f.plen = f.plen<<8 | uint64(x)
		}
		f.got++
		if f.got >= 2 && f.got == f.need {
			f.left, f.got, f.plen = f.plen, 0, 0
		}
	}
}

// recordHeaderLen is a TLS record header's length (RFC 8446 §5.1).
const recordHeaderLen = 5

// recordCounter follows TLS record boundaries in a byte stream.
type recordCounter struct {
	got  uint8  // header bytes seen of the record under way
	left uint16 // its body bytes still to come
}

func (r *recordCounter) atEdge() bool { return r.got == 0 }

func (r *recordCounter) count(b []byte) {
	for len(b) > 0 {
		if r.got == recordHeaderLen {
			k := min(len(b), int(r.left))
			r.left -= uint16(k)
			b = b[k:]
			if r.left == 0 {
				r.got = 0
			}
			continue
		}
		switch r.got {
		case 3:
			r.left = uint16(b[0]) << 8
		case 4:
			r.left |= uint16(b[0])
		}
		r.got++
		b = b[1:]
		if r.got == recordHeaderLen && r.left == 0 {
			r.got = 0
		}
	}
}

// wsHijacker hands gorilla the upgraded connection wrapped in a
// frameConn, when it can park.
type wsHijacker struct {
	http.ResponseWriter
}

func (h wsHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nc, brw, err
	}
	if fc := newFrameConn(nc); fc != nil {
		return fc, brw, nil
	}
	return nc, brw, nil
}
