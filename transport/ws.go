package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// SIP over WebSocket (RFC 7118). The framing is gorilla/websocket's:
// it lets the reader goroutine be ours (no goroutine per connection of
// its own), takes fixed buffer sizes and a pool for write buffers, so
// an idle connection holds only its small read buffer, and answers
// pings on the reading goroutine. The HTTP upgrade runs in net/http,
// whose connection goroutine ends once the socket is handed over.

// wsSubprotocol is the subprotocol RFC 7118 §4 registers; a client that
// does not offer it is refused.
const wsSubprotocol = "sip"

// wsReadBuffer is the read buffer each WebSocket keeps: gorilla's
// smallest, the largest control frame payload, which it peeks whole;
// frame headers are shorter. Every open connection holds one (a 128-byte
// allocation), and a message's payload is read past it into the
// message's own bytes.
const wsReadBuffer = 125

// wsWriteBuffers lends write buffers to whichever connection is writing,
// so that idle connections hold none.
var wsWriteBuffers sync.Pool

// wsDriver is SIP over WebSocket, plain (WS) or over TLS (WSS).
type wsDriver struct {
	proto  Proto
	traits Traits
}

// The WebSocket drivers. They have no NAPTR or SRV labels: clients find
// a WebSocket server by its URL, not through DNS (RFC 7118 §5.2).
var (
	wsDriverPlain = &wsDriver{proto: WS, traits: Traits{
		Via: "WS", DefaultPort: 80, Reliable: true, Stream: true, URIParam: "ws",
	}}
	wssDriver = &wsDriver{proto: WSS, traits: Traits{
		Via: "WSS", DefaultPort: 443, Reliable: true, Stream: true, Secure: true, URIParam: "ws",
	}}
)

func (d *wsDriver) Proto() Proto { return d.proto }

// isWebSocket reports whether p is one of the WebSocket protocols.
func isWebSocket(p Proto) bool { return p == WS || p == WSS }

func (d *wsDriver) Traits() Traits { return d.traits }

// listen binds a TCP socket, as for TCP.
func (d *wsDriver) listen(ctx context.Context, m *Manager, l *listener, addr netip.AddrPort) (netip.AddrPort, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, network("tcp", addr.Addr()), addr.String())
	if err != nil {
		return addr, err
	}
	l.ln = ln
	return addrPort(ln.Addr()), nil
}

// serve runs an HTTP server on the listener that upgrades requests to
// WebSocket connections. The Admit hook and the connection limits are
// asked at accept, before any TLS or HTTP work; the handshake, TLS
// included, is bounded by WSHandshakeTimeout and its headers by
// WSMaxRequestBytes.
func (d *wsDriver) serve(m *Manager, l *listener) {
	var ln net.Listener = &admitListener{Listener: l.ln, m: m, records: d.traits.Secure}
	if d.traits.Secure {
		ln = tls.NewListener(ln, m.serverTLS)
	}
	l.http = &http.Server{
		Handler:           newWSUpgrader(m, l, d),
		ReadHeaderTimeout: m.cfg.WSHandshakeTimeout,
		IdleTimeout:       m.cfg.WSHandshakeTimeout,
		MaxHeaderBytes:    m.cfg.WSMaxRequestBytes,
		// No HTTP/2: WebSocket over HTTP/2 (RFC 8441) is not offered,
		// so browsers upgrade an HTTP/1.1 connection.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     log.New(slogWriter{m.log}, "", 0),
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		l.http.Serve(ln)
	}()
}

// admitListener closes at once the connections the Admit hook or the
// connection limits refuse, so that a banned or over-limit source costs
// no handshake. Under TLS, it hands out recordConns, so that the
// connection can park (wspark.go).
type admitListener struct {
	net.Listener
	m       *Manager
	records bool
}

func (a *admitListener) Accept() (net.Conn, error) {
	for {
		nc, err := a.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := addrPort(nc.RemoteAddr()).Addr()
		m := a.m
		switch {
		case m.cfg.Admit != nil && !m.cfg.Admit(ip):
			m.stats.deniedConns.Add(1)
		case m.conns.full(ip, m.cfg.MaxConnections, m.cfg.MaxConnectionsPerIP):
			m.stats.refused.Add(1)
		case a.records:
			return &recordConn{Conn: nc}, nil
		default:
			return nc, nil
		}
		nc.Close()
	}
}

// slogWriter sends net/http's own complaints (TLS handshake errors from
// scanners, mostly) to the debug log instead of stderr.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug("websocket http", "msg", string(bytes.TrimSpace(p)))
	return len(p), nil
}

// wsUpgrader answers the HTTP request of a new WebSocket connection.
type wsUpgrader struct {
	m  *Manager
	l  *listener
	d  *wsDriver
	up websocket.Upgrader
}

func newWSUpgrader(m *Manager, l *listener, d *wsDriver) *wsUpgrader {
	return &wsUpgrader{m: m, l: l, d: d, up: websocket.Upgrader{
		HandshakeTimeout: m.cfg.WSHandshakeTimeout,
		ReadBufferSize:   wsReadBuffer,
		WriteBufferPool:  &wsWriteBuffers,
		Subprotocols:     []string{wsSubprotocol},
		// Checked in ServeHTTP, where a refusal can say why.
		CheckOrigin: func(*http.Request) bool { return true },
	}}
}

// ServeHTTP upgrades a request that offers the sip subprotocol from an
// allowed origin, and refuses anything else with a status that says why.
func (u *wsUpgrader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := u.m
	switch {
	case !websocket.IsWebSocketUpgrade(r):
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "this is a SIP over WebSocket server (RFC 7118): upgrade to websocket with subprotocol sip", http.StatusUpgradeRequired)
		return
	case !offersSIP(r):
		http.Error(w, "the sip WebSocket subprotocol is required (RFC 7118)", http.StatusBadRequest)
		return
	case !m.origins.Load().allows(r.Header.Get("Origin")):
		m.log.Debug("websocket origin refused", "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	ws, err := u.up.Upgrade(wsHijacker{w}, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	c := m.newConn(u.d, ws.NetConn(), u.l.info, true)
	c.ws = ws
	if err := m.register(c); err != nil {
		m.stats.refused.Add(1)
		m.log.Debug("connection refused", "proto", c.proto, "remote", c.remote, "err", err)
		ws.NetConn().Close()
	}
}

// offersSIP reports whether the client offers the sip subprotocol.
func offersSIP(r *http.Request) bool {
	for _, p := range websocket.Subprotocols(r) {
		if p == wsSubprotocol {
			return true
		}
	}
	return false
}

// wsReader is the reading side of one WebSocket connection. Its
// goroutine waits for the next message and handles it (the transaction
// layer, proxy and registrar run on it, growing its stack to 8 KiB).
// Once nothing of the stream is left to read, the connection parks
// (wspark.go): the goroutine ends, and a fresh one, holding only the
// poller's frames, waits on the socket and reads on when bytes arrive.
// A connection that cannot park (a dialed one) hands the reading on to
// a fresh goroutine after each message instead, which waits in gorilla
// in the 4 KiB stack class, not in the size a handled REGISTER left.
// Either way messages are handled one after another, in order.
type wsReader struct {
	m  *Manager
	c  *conn
	fc *frameConn // nil when the connection cannot park (wspark.go)
	// msgEnd is when the message being read must be whole by
	// (TCPMessageTimeout from its first frame); zero between messages.
	// Only the reading goroutine touches it.
	msgEnd time.Time
}

// readConn reads one SIP message per WebSocket message (RFC 7118 §5.1)
// until the connection ends; the peer is pinged every WSPingInterval
// (wsPings).
// Anything received, pongs included, keeps the connection open for two
// more intervals; one message may take TCPMessageTimeout at most, as on
// TCP, however often pongs arrive meanwhile.
func (d *wsDriver) readConn(m *Manager, c *conn) bool {
	r := &wsReader{m: m, c: c}
	r.fc, _ = c.nc.(*frameConn)
	c.ws.SetReadLimit(int64(m.cfg.Limits.MaxSize))
	c.ws.SetPongHandler(r.pong)
	m.wsPings.start()
	return r.read()
}

// resume is read on a fresh goroutine, which ends the connection when
// its reading ends.
func (r *wsReader) resume() {
	if r.read() {
		r.m.connDone(r.c)
	}
}

// read reads until the connection parks, or until a message has been
// handled when it cannot park, and then hands the reading on to a fresh
// goroutine and reports false; true when the connection has ended.
func (r *wsReader) read() (ended bool) {
	m, c := r.m, r.c
	for {
		data, err := r.next()
		if err == errParked {
			go r.wait()
			return false
		}
		if err != nil {
			m.wsEnded(c, err, r.tooSlow())
			return true
		}
		switch {
		case !m.admit(c.remote.Addr()):
			// Refused by the Admit hook: dropped unparsed.
		case isKeepAlive(data):
			// RFC 5626 §3.5.1's CRLF ping, which SIP.js and JsSIP send
			// inside a message: answered with a CRLF pong.
			m.stats.pings.Add(1)
			if c.write(crlf, m.cfg.TCPWriteTimeout) != nil {
				return true
			}
		default:
			m.deliver(data, false, Incoming{
				Proto: c.proto, Source: c.remote, Local: c.local(), Conn: c.id, Listener: c.info,
			})
			if r.fc == nil {
				go r.resume()
				return false
			}
			// Read on: this goroutine ends when the connection parks.
		}
	}
}

// next reads the next message whole within the deadlines.
func (r *wsReader) next() ([]byte, error) {
	r.msgEnd = time.Time{}
	r.alive()
	rd, err := r.nextReader()
	if err != nil {
		return nil, err
	}
	r.msgEnd = time.Now().Add(r.m.cfg.TCPMessageTimeout)
	r.alive()
	return readWSMessage(rd)
}

// nextReader is NextReader, which reports errParked when the connection
// parked instead of waiting for the next frame.
func (r *wsReader) nextReader() (rd io.Reader, err error) {
	if r.fc == nil {
		_, rd, err = r.c.ws.NextReader()
		return rd, err
	}
	park := &r.fc.park
	defer func() {
		park.inNext = false
		if v := recover(); v != nil {
			if v != (wsParkSignal{}) {
				panic(v)
			}
			rd, err = nil, errParked
		}
	}()
	park.inNext = true
	_, rd, err = r.c.ws.NextReader()
	return rd, err
}

// wait is the parked connection's goroutine: it waits until the socket
// is readable, within the read deadline, and then reads on.
func (r *wsReader) wait() {
	park := &r.fc.park
	if err := park.raw.Read(park.ready); err != nil {
		r.m.wsEnded(r.c, err, false)
		r.m.connDone(r.c)
		return
	}
	park.woke = true
	r.resume()
}

// alive sets the read deadline two ping intervals from now, or at the
// end of the message under way when that comes first.
func (r *wsReader) alive() {
	d := time.Now().Add(2 * r.m.cfg.WSPingInterval)
	if !r.msgEnd.IsZero() && r.msgEnd.Before(d) {
		d = r.msgEnd
	}
	r.c.ws.SetReadDeadline(d)
}

func (r *wsReader) pong(string) error {
	r.alive()
	return nil
}

// tooSlow reports whether the message under way ran out of time.
func (r *wsReader) tooSlow() bool {
	return !r.msgEnd.IsZero() && !time.Now().Before(r.msgEnd)
}

// wsReadBuffers are lent to readWSMessage, so that reading a message
// costs one allocation of its exact size, which deliver then owns.
var wsReadBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readWSMessage reads the rest of a data message whole.
func readWSMessage(r io.Reader) ([]byte, error) {
	buf := wsReadBuffers.Get().(*bytes.Buffer)
	defer wsReadBuffers.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}

// isKeepAlive reports whether a message is nothing but CR and LF: a
// keep-alive, never a SIP message.
func isKeepAlive(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// wsEnded counts why a WebSocket connection's reads ended; tooSlow says
// that a message under way had run out of time.
func (m *Manager) wsEnded(c *conn, err error, tooSlow bool) {
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout() // gorilla hides os.ErrDeadlineExceeded
	switch {
	case timeout && tooSlow:
		m.messageTooSlow(c)
	case timeout:
		m.stats.idleClosed.Add(1)
		m.log.Debug("connection closed: no pong", "proto", c.proto, "remote", c.remote)
	case errors.Is(err, websocket.ErrReadLimit):
		m.stats.overflows.Add(1)
		m.log.Debug("connection cut off: message over max size", "proto", c.proto, "remote", c.remote)
	default:
		var ce *websocket.CloseError
		if !errors.As(err, &ce) && !errors.Is(err, net.ErrClosed) {
			m.stats.framingErrors.Add(1)
			m.log.Debug("connection closed: websocket error", "proto", c.proto, "remote", c.remote, "err", err)
		}
	}
}

// writeMessage sends one SIP message as one WebSocket message: a text
// message when it is valid UTF-8, as SIP nearly always is, else binary
// (RFC 7118 §5.1).
func writeMessage(ws *websocket.Conn, b []byte, timeout time.Duration) error {
	ws.SetWriteDeadline(time.Now().Add(timeout))
	typ := websocket.TextMessage
	if !utf8.Valid(b) {
		typ = websocket.BinaryMessage
	}
	return ws.WriteMessage(typ, b)
}

// send writes msg on the connection for dst, found or dialed.
func (d *wsDriver) send(m *Manager, dst Target, msg []byte) error {
	c, err := m.connFor(dst, d)
	if err != nil {
		return err
	}
	if err := c.write(msg, m.cfg.TCPWriteTimeout); err != nil {
		m.forget(c)
		return fmt.Errorf("transport: write %s %s: %w", c.proto, c.remote, err)
	}
	return nil
}

// dial opens a WebSocket connection to dst.Addr (path /, subprotocol
// sip) within DialTimeout, handshakes included. A browser is never
// dialed: its Contact names a .invalid host and it is reached on the
// connection it registered on; dialing serves servers that listen on
// WebSocket.
func (d *wsDriver) dial(m *Manager, dst Target) (*conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.DialTimeout)
	defer cancel()
	addr := unmap(dst.Addr)
	info := m.ListenerFor(dst.Proto, addr.Addr())
	nd := net.Dialer{LocalAddr: localFor(info, addr.Addr())}
	dialer := websocket.Dialer{
		NetDialContext:  nd.DialContext,
		Subprotocols:    []string{wsSubprotocol},
		ReadBufferSize:  wsReadBuffer,
		WriteBufferPool: &wsWriteBuffers,
	}
	scheme := "ws://"
	if d.traits.Secure {
		scheme = "wss://"
		dialer.TLSClientConfig = m.clientConfig(dst)
	}
	ws, resp, err := dialer.DialContext(ctx, scheme+addr.String()+"/", nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	if ws.Subprotocol() != wsSubprotocol {
		ws.Close()
		return nil, fmt.Errorf("transport: %s %s did not accept the sip subprotocol", d.proto, addr)
	}
	c := m.newConn(d, ws.NetConn(), info, false)
	c.ws = ws
	if err := m.register(c); err != nil {
		ws.Close()
		return nil, err
	}
	return c, nil
}
