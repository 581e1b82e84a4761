package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/parley-sip/parley/sip"
)

// streamReadSize is one read from a connection. Small, because every
// open connection holds one; a busy trunk just reads more often.
const streamReadSize = 4 << 10

var crlf = []byte("\r\n")

// streamDriver is a protocol whose messages travel on TCP connections,
// framed by Content-Length (§18.3): plain TCP, and TLS, which secures
// each connection once it is accepted or dialed.
type streamDriver struct {
	proto  Proto
	traits Traits
}

// The connection drivers.
var (
	tcpDriver = &streamDriver{proto: TCP, traits: Traits{
		Via: "TCP", DefaultPort: 5060, Reliable: true, Stream: true,
		NAPTR: "SIP+D2T", SRVService: "sip", SRVProto: "tcp",
	}}
	tlsDriver = &streamDriver{proto: TLS, traits: Traits{
		Via: "TLS", DefaultPort: 5061, Reliable: true, Stream: true, Secure: true,
		NAPTR: "SIPS+D2T", SRVService: "sips", SRVProto: "tcp",
	}}
)

func (d *streamDriver) Proto() Proto { return d.proto }

func (d *streamDriver) Traits() Traits { return d.traits }

// listen binds a TCP socket. TLS is layered on each accepted connection,
// after the connection limits, so a refused peer costs no handshake.
func (d *streamDriver) listen(ctx context.Context, m *Manager, l *listener, addr netip.AddrPort) (netip.AddrPort, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, network("tcp", addr.Addr()), addr.String())
	if err != nil {
		return addr, err
	}
	l.ln = ln
	return addrPort(ln.Addr()), nil
}

func (d *streamDriver) serve(m *Manager, l *listener) {
	m.wg.Add(1)
	go m.acceptLoop(l, d)
}

// acceptLoop accepts connections until the listener closes.
func (m *Manager) acceptLoop(l *listener, d *streamDriver) {
	defer m.wg.Done()
	var backoff time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if m.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait instead of
			// spinning, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.log.Warn("accept failed", "listener", l.info.Bound, "err", err)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		m.accept(l, d, nc)
	}
}

// accept admits a new connection or closes it at once when a limit says
// so: refusing is cheaper than any answer.
func (m *Manager) accept(l *listener, d *streamDriver, nc net.Conn) {
	if m.cfg.Admit != nil && !m.cfg.Admit(addrPort(nc.RemoteAddr()).Addr()) {
		m.stats.deniedConns.Add(1)
		nc.Close()
		return
	}
	if d.traits.Secure {
		nc = tls.Server(nc, m.serverTLS) // the handshake runs on the connection's goroutine
	}
	c := m.newConn(d, nc, l.info, true)
	if err := m.register(c); err != nil {
		m.stats.refused.Add(1)
		m.log.Debug("connection refused", "proto", c.proto, "remote", c.remote, "err", err)
		nc.Close()
	}
}

func (m *Manager) newConn(d connDriver, nc net.Conn, info *ListenerInfo, accepted bool) *conn {
	return &conn{
		id: ConnID(m.ids.Add(1)), proto: d.Proto(), driver: d, nc: nc,
		remote: addrPort(nc.RemoteAddr()), info: info, accepted: accepted,
	}
}

// register adds c to the table and starts its reading goroutine.
func (m *Manager) register(c *conn) error {
	return m.conns.add(c, m.cfg.MaxConnections, m.cfg.MaxConnectionsPerIP, func() {
		m.wg.Add(1)
		go m.serveConn(c)
	})
}

// forget drops c from the table and closes it; safe to call twice.
func (m *Manager) forget(c *conn) {
	m.conns.remove(c)
	c.close()
}

// serveConn runs one connection: the TLS handshake of an accepted one,
// then reading until the peer leaves, a limit cuts it off or the manager
// closes.
func (m *Manager) serveConn(c *conn) {
	if c.accepted { // counted here, before any message on it can be seen
		m.stats.accepted.Add(1)
	} else {
		m.stats.dialed.Add(1)
	}
	if tc, ok := c.nc.(*tls.Conn); ok && c.accepted {
		if err := m.handshake(tc); err != nil {
			m.log.Debug("tls handshake failed", "remote", c.remote, "err", err)
			m.connDone(c)
			return
		}
	}
	if c.driver.readConn(m, c) {
		m.connDone(c)
	}
}

// connDone closes a connection whose reading has ended and lets Close
// stop waiting for it.
func (m *Manager) connDone(c *conn) {
	m.forget(c)
	m.wg.Done()
}

// handshake bounds an incoming TLS handshake, so that peers that open a
// connection and say nothing do not hold slots.
func (m *Manager) handshake(tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.TLSHandshakeTimeout)
	defer cancel()
	return tc.HandshakeContext(ctx)
}

// streamState is what a connection's reader tracks between reads.
type streamState struct {
	// since is when the incomplete message now buffered began; zero when
	// nothing (or only CRLFs) is buffered.
	since time.Time
	// handled says that messages went to the Handler since the reader
	// last moved to a fresh goroutine.
	handled bool
	// crlfRun counts the CR and LF bytes that end the stream so far: a
	// lone CRLF keep-alive sits in the framer waiting to see whether it is
	// the start of a ping, and must not count as a slow message.
	crlfRun int
}

// update records a read chunk once the framer has taken its messages.
func (st *streamState) update(chunk []byte, buffered int, now time.Time) {
	run := 0
	for i := len(chunk) - 1; i >= 0 && (chunk[i] == '\r' || chunk[i] == '\n'); i-- {
		run++
	}
	if run == len(chunk) {
		st.crlfRun += run
	} else {
		st.crlfRun = run
	}
	switch {
	case buffered <= st.crlfRun:
		st.since = time.Time{}
	case st.since.IsZero():
		st.since = now
	}
}

// deadline is the read deadline: idle timeout from now, or the end of
// the message timeout when a message is under way and that comes first.
func (st *streamState) deadline(cfg *Config, now time.Time) time.Time {
	d := now.Add(cfg.TCPIdleTimeout)
	if !st.since.IsZero() {
		if md := st.since.Add(cfg.TCPMessageTimeout); md.Before(d) {
			d = md
		}
	}
	return d
}

// streamHopIdle is how long a reader that has handed messages on waits
// for more on the same goroutine before it moves to a fresh one. A
// connection that carries a message more often than this (a trunk, a
// client registering many AORs) keeps its goroutine: moving after every
// read cost a goroutine, its stack's growth back to what handling needs
// and the scheduler's wake-ups, a quarter of the CPU of 2 000
// REGISTERs/s over one connection (docs/PERFORMANCE.md, issue 20's TCP
// row). A variable for the tests.
var streamHopIdle = time.Second

// streamReader is the reading side of one TCP or TLS connection. Like
// wsReader, it moves to a fresh goroutine once it has handed messages
// to the Handler and then waited streamHopIdle for more, so that an idle
// connection waits on a goroutine no deeper than the read path, not on
// one that handling a message (or the TLS handshake before it) grew to
// 8 KiB or more.
type streamReader struct {
	m   *Manager
	c   *conn
	fr  sip.Framer
	buf []byte
	st  streamState
}

// readConn reads a byte stream and frames it by Content-Length (§18.3)
// until the connection ends.
func (d *streamDriver) readConn(m *Manager, c *conn) bool {
	r := &streamReader{m: m, c: c, fr: sip.Framer{Limits: m.cfg.Limits}, buf: make([]byte, streamReadSize)}
	return r.read()
}

// read reads until, having given the Handler messages, it waits
// streamHopIdle for the next bytes in vain; it then hands the reading on
// to a fresh goroutine and reports false. True when the connection has
// ended.
func (r *streamReader) read() (ended bool) {
	m, c := r.m, r.c
	for {
		hop := r.setDeadline(time.Now())
		n, err := c.nc.Read(r.buf)
		if n > 0 && !m.consume(c, &r.fr, r.buf[:n], &r.st) {
			return true
		}
		switch {
		case err == nil:
		case hop && errors.Is(err, os.ErrDeadlineExceeded):
			// Only the hop's deadline passed: crypto/tls does not keep
			// a timeout, so the connection reads on from the new
			// goroutine.
			r.st.handled = false
			go r.resume()
			return false
		default:
			m.readEnded(c, err, &r.st)
			return true
		}
	}
}

// setDeadline sets the read deadline, brought forward to streamHopIdle
// from now when messages have been handled on this goroutine; it
// reports whether it was brought forward.
func (r *streamReader) setDeadline(now time.Time) (hop bool) {
	d := r.st.deadline(&r.m.cfg, now)
	if r.st.handled {
		if h := now.Add(streamHopIdle); h.Before(d) {
			d, hop = h, true
		}
	}
	r.c.nc.SetReadDeadline(d)
	return hop
}

// resume is read on a fresh goroutine, which ends the connection when
// its reading ends.
func (r *streamReader) resume() {
	if r.read() {
		r.m.connDone(r.c)
	}
}

// consume frames a chunk and delivers its messages; false closes the
// connection.
func (m *Manager) consume(c *conn, fr *sip.Framer, chunk []byte, st *streamState) bool {
	fr.Write(chunk)
	if !m.drain(c, fr, st) {
		return false
	}
	st.update(chunk, fr.Buffered(), time.Now())
	if fr.Buffered() > m.cfg.MaxBuffer {
		// A header that never ends, or a body that trickles in past what
		// one connection may hold.
		m.stats.overflows.Add(1)
		m.log.Debug("connection cut off: incomplete message over max buffer",
			"proto", c.proto, "remote", c.remote, "buffered", fr.Buffered())
		return false
	}
	return true
}

// drain delivers every complete frame and answers pings.
func (m *Manager) drain(c *conn, fr *sip.Framer, st *streamState) bool {
	for {
		f, ok, err := fr.Next()
		switch {
		case err != nil:
			// No Content-Length, or too large: the stream has lost its
			// framing and nothing after this point can be trusted.
			m.stats.framingErrors.Add(1)
			m.log.Debug("connection closed: framing error", "proto", c.proto, "remote", c.remote, "err", err)
			return false
		case !ok:
			return true
		case f.Ping:
			m.stats.pings.Add(1)
			if c.write(crlf, m.cfg.TCPWriteTimeout) != nil {
				return false
			}
		case !m.admit(c.remote.Addr()):
			// Refused by the Admit hook: dropped unparsed; the
			// framing is intact, so the connection stays.
		default:
			m.deliver(f.Message, false, Incoming{
				Proto: c.proto, Source: c.remote, Local: c.local(), Conn: c.id, Listener: c.info,
			})
			st.handled = true
		}
	}
}

// readEnded counts why a connection's reads ended.
func (m *Manager) readEnded(c *conn, err error, st *streamState) {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return // the peer closed, or we did
	}
	if !st.since.IsZero() && time.Since(st.since) >= m.cfg.TCPMessageTimeout {
		m.messageTooSlow(c)
		return
	}
	m.stats.idleClosed.Add(1)
	m.log.Debug("connection closed: idle", "proto", c.proto, "remote", c.remote)
}

// messageTooSlow counts a connection cut off because one message took
// longer than TCPMessageTimeout to arrive.
func (m *Manager) messageTooSlow(c *conn) {
	m.stats.overflows.Add(1)
	m.log.Debug("connection cut off: message too slow", "proto", c.proto, "remote", c.remote)
}
