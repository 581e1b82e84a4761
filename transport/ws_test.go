package transport

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-sip/parley/sip"
)

func wsConfig(p Proto, t testing.TB) Config {
	return Config{Listeners: []ListenerConfig{{Proto: p, Host: "127.0.0.1"}},
		DataDir: filepath.Join(t.TempDir(), "data")}
}

// wsURL is the URL of m's first listener.
func wsURL(m *Manager) string {
	l := m.Listeners()[0]
	scheme := "ws://"
	if l.Proto == WSS {
		scheme = "wss://"
	}
	return scheme + l.Bound.String() + "/"
}

// dialWS opens a client WebSocket to m offering protos, with header.
func dialWS(t testing.TB, m *Manager, protos []string, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: protos, HandshakeTimeout: wait,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	ws, resp, err := d.Dial(wsURL(m), header)
	if ws != nil {
		t.Cleanup(func() { ws.Close() })
	}
	return ws, resp, err
}

func mustDialWS(t testing.TB, m *Manager) *websocket.Conn {
	t.Helper()
	ws, _, err := dialWS(t, m, []string{"sip"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ws.Subprotocol() != "sip" {
		t.Fatalf("subprotocol %q, want sip", ws.Subprotocol())
	}
	return ws
}

// readWS reads one WebSocket message and parses it as one SIP message.
func readWS(t testing.TB, ws *websocket.Conn) (int, *sip.Message) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(wait))
	typ, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := sip.Parse(data)
	if err != nil {
		t.Fatalf("%v in %q", err, data)
	}
	return typ, msg
}

// One SIP message per WebSocket message both ways (RFC 7118 §5.1), text
// or binary, and the response goes back on the request's connection.
func TestWSFraming(t *testing.T) {
	for _, p := range []Proto{WS, WSS} {
		t.Run(string(p), func(t *testing.T) {
			m, _ := startAnswering(t, wsConfig(p, t))
			ws := mustDialWS(t, m)
			for i, typ := range []int{websocket.TextMessage, websocket.BinaryMessage} {
				req := request(p, "df7jal23ls0d.invalid", "body")
				if err := ws.WriteMessage(typ, req); err != nil {
					t.Fatal(err)
				}
				rtyp, resp := readWS(t, ws)
				if resp.StatusCode() != 200 || rtyp != websocket.TextMessage {
					t.Fatalf("message %d: %d in a frame of type %d", i, resp.StatusCode(), rtyp)
				}
				v, _ := resp.TopVia()
				if v.Transport != p.ViaName() || v.Received() != "127.0.0.1" {
					t.Errorf("Via %+v: want %s with received", v, p.ViaName())
				}
			}
		})
	}
}

// The connection's read buffer is gorilla's smallest: a client's ping
// with the largest payload a control frame may carry (125 bytes) is
// answered with a pong that echoes it, and SIP messages, larger than the
// buffer, still go both ways around it.
func TestWSLargestControlFrame(t *testing.T) {
	for _, p := range []Proto{WS, WSS} {
		t.Run(string(p), func(t *testing.T) {
			m, _ := startAnswering(t, wsConfig(p, t))
			ws := mustDialWS(t, m)
			payload := strings.Repeat("p", 125)
			pongs := make(chan string, 1)
			ws.SetPongHandler(func(data string) error { pongs <- data; return nil })
			for i := range 2 {
				if err := ws.WriteControl(websocket.PingMessage, []byte(payload), time.Now().Add(wait)); err != nil {
					t.Fatal(err)
				}
				if err := ws.WriteMessage(websocket.TextMessage, request(p, "df7jal23ls0d.invalid", strings.Repeat("b", 600))); err != nil {
					t.Fatal(err)
				}
				if _, resp := readWS(t, ws); resp.StatusCode() != 200 { // the pong is handled inside this read
					t.Fatalf("message %d: %d", i, resp.StatusCode())
				}
				select {
				case got := <-pongs:
					if got != payload {
						t.Fatalf("pong %d carries %d bytes, want the ping's 125", i, len(got))
					}
				case <-time.After(wait):
					t.Fatalf("no pong %d", i)
				}
			}
		})
	}
}

// orderWatcher is a handler that records the bodies it is handed and
// how many of its calls ran at once.
type orderWatcher struct {
	mu      sync.Mutex
	running int
	most    int
	bodies  []string
	done    chan struct{}
	want    int
}

func (o *orderWatcher) HandleMessage(in *Incoming) {
	o.mu.Lock()
	o.running++
	o.most = max(o.most, o.running)
	o.mu.Unlock()
	time.Sleep(time.Millisecond) // long enough for a second call to overlap, were it allowed
	o.mu.Lock()
	defer o.mu.Unlock()
	o.running--
	o.bodies = append(o.bodies, string(in.Msg.Body()))
	if len(o.bodies) == o.want {
		close(o.done)
	}
}

// The messages of one connection are handled one at a time and in the
// order sent, though the reading moves to a fresh goroutine after each.
func TestMessagesInOrder(t *testing.T) {
	const n = 50
	for _, p := range []Proto{WS, WSS, TCP} {
		t.Run(string(p), func(t *testing.T) {
			o := &orderWatcher{done: make(chan struct{}), want: n}
			var send func([]byte) error
			if isWebSocket(p) {
				m := start(t, wsConfig(p, t), o)
				ws := mustDialWS(t, m)
				send = func(b []byte) error { return ws.WriteMessage(websocket.TextMessage, b) }
			} else {
				m := start(t, tcpConfig(families[0]), o)
				c := dialTCP(t, "tcp4", m.Listeners()[0].Bound)
				send = func(b []byte) error { _, err := c.Write(b); return err }
			}
			for i := range n {
				if err := send(request(p, "h.invalid", strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
				if i%10 == 0 {
					time.Sleep(5 * time.Millisecond) // some reads of one message, some of several
				}
			}
			select {
			case <-o.done:
			case <-time.After(wait):
				t.Fatal("not every message was handled")
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			if o.most != 1 {
				t.Errorf("%d messages of one connection handled at once", o.most)
			}
			for i, b := range o.bodies {
				if b != strconv.Itoa(i) {
					t.Fatalf("handled in the order %v", o.bodies)
				}
			}
		})
	}
}

// The handler sees the protocol, the connection and the listener.
func TestWSIncoming(t *testing.T) {
	col := newCollector()
	m := start(t, wsConfig(WS, t), col)
	ws := mustDialWS(t, m)
	ws.WriteMessage(websocket.TextMessage, request(WS, "x.invalid", ""))
	in := col.next(t)
	if in.Proto != WS || in.Conn == 0 || in.Listener != m.Listeners()[0] || !in.Source.Addr().IsLoopback() {
		t.Fatalf("incoming %+v", in)
	}
	// received and rport, unasked, so that a stateless proxy finds the
	// connection again from the Via alone.
	v, _ := in.Msg.TopVia()
	if rport, _ := v.RPort(); v.Received() != "127.0.0.1" || rport != int(in.Source.Port()) {
		t.Errorf("top Via %q: want received and rport of %s", v.String(), in.Source)
	}
	// A request to the client goes on its connection, by ID alone: its
	// address is a browser's ephemeral port.
	out := request(WS, "127.0.0.1", "to the client")
	if err := m.Send(Target{Proto: WS, Conn: in.Conn}, out); err != nil {
		t.Fatal(err)
	}
	if _, msg := readWS(t, ws); string(msg.Body()) != "to the client" {
		t.Fatalf("got %q", msg.Body())
	}
	// As a stateless proxy sends a response: to received and rport, no
	// connection ID. The accepted connection is found by that address.
	rport, _ := v.RPort()
	dst := netip.AddrPortFrom(netip.MustParseAddr(v.Received()), uint16(rport))
	if err := m.Send(Target{Proto: WS, Addr: dst}, request(WS, "127.0.0.1", "by address")); err != nil {
		t.Fatal(err)
	}
	if _, msg := readWS(t, ws); string(msg.Body()) != "by address" {
		t.Fatalf("got %q", msg.Body())
	}
}

// The upgrade refuses what RFC 7118 and the config refuse, each with a
// status that says why.
func TestWSUpgradeRefusals(t *testing.T) {
	cfg := wsConfig(WS, t)
	cfg.WSAllowedOrigins = []string{"https://phone.example.com", "http://127.0.0.1:8000"}
	m := start(t, cfg, newCollector())
	cases := []struct {
		name   string
		protos []string
		origin string
		want   int
	}{
		{"sip offered, no origin", []string{"sip"}, "", http.StatusSwitchingProtocols},
		{"sip among others", []string{"chat", "sip"}, "", http.StatusSwitchingProtocols},
		{"allowed origin", []string{"sip"}, "https://phone.example.com", http.StatusSwitchingProtocols},
		{"allowed origin, default port, other case", []string{"sip"}, "HTTPS://Phone.Example.com:443", http.StatusSwitchingProtocols},
		{"allowed origin with port", []string{"sip"}, "http://127.0.0.1:8000", http.StatusSwitchingProtocols},
		{"no subprotocol", nil, "", http.StatusBadRequest},
		{"other subprotocol", []string{"xmpp"}, "", http.StatusBadRequest},
		{"foreign origin", []string{"sip"}, "https://evil.example.net", http.StatusForbidden},
		{"same host, other port", []string{"sip"}, "http://127.0.0.1:8001", http.StatusForbidden},
		{"opaque origin", []string{"sip"}, "null", http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			if c.origin != "" {
				h.Set("Origin", c.origin)
			}
			_, resp, _ := dialWS(t, m, c.protos, h)
			if resp == nil || resp.StatusCode != c.want {
				t.Fatalf("response %v, want %d", resp, c.want)
			}
		})
	}
	t.Run("origins reloaded", func(t *testing.T) {
		if err := m.SetAllowedOrigins([]string{"https://evil.example.net"}); err != nil {
			t.Fatal(err)
		}
		defer m.SetAllowedOrigins(cfg.WSAllowedOrigins)
		for origin, want := range map[string]int{"https://evil.example.net": 101, "https://phone.example.com": 403} {
			_, resp, _ := dialWS(t, m, []string{"sip"}, http.Header{"Origin": {origin}})
			if resp == nil || resp.StatusCode != want {
				t.Errorf("%s after the change: %v, want %d", origin, resp, want)
			}
		}
		if err := m.SetAllowedOrigins([]string{"https://a.example/path"}); err == nil {
			t.Error("an origin with a path was taken")
		}
	})
	t.Run("plain GET", func(t *testing.T) {
		resp, err := http.Get("http://" + m.Listeners()[0].Bound.String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUpgradeRequired {
			t.Fatalf("status %d, want 426", resp.StatusCode)
		}
	})
	t.Run("headers over the bound", func(t *testing.T) {
		h := http.Header{"Cookie": {strings.Repeat("c", DefaultWSMaxRequestBytes+5000)}}
		_, resp, _ := dialWS(t, m, []string{"sip"}, h)
		if resp == nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("response %v, want 431", resp)
		}
	})
}

// A message over the size limit cuts the connection off.
func TestWSMessageTooLarge(t *testing.T) {
	cfg := wsConfig(WS, t)
	cfg.Limits = sip.Limits{MaxSize: 2000, MaxHeaders: 100, MaxLineLength: 1000}
	m := start(t, cfg, newCollector())
	ws := mustDialWS(t, m)
	ws.WriteMessage(websocket.TextMessage, request(WS, "x.invalid", strings.Repeat("b", 3000)))
	ws.SetReadDeadline(time.Now().Add(wait))
	if _, _, err := ws.ReadMessage(); err == nil {
		t.Fatal("connection still open")
	}
	eventually(t, "overflow counted", func() bool { return m.Stats().Overflows == 1 })
}

// Per-IP and total limits, and the Admit hook, refuse before any
// handshake: the client sees the connection close.
func TestWSConnectionLimits(t *testing.T) {
	t.Run("per IP", func(t *testing.T) {
		cfg := wsConfig(WSS, t)
		cfg.MaxConnectionsPerIP = 2
		m := start(t, cfg, newCollector())
		mustDialWS(t, m)
		mustDialWS(t, m)
		eventually(t, "two open", func() bool { return m.Stats().Open == 2 })
		if _, _, err := dialWS(t, m, []string{"sip"}, nil); err == nil {
			t.Fatal("third connection from one IP accepted")
		}
		if m.Stats().Refused == 0 {
			t.Error("refusal not counted")
		}
	})
	t.Run("admit", func(t *testing.T) {
		cfg := wsConfig(WS, t)
		cfg.Admit = func(netip.Addr) bool { return false }
		m := start(t, cfg, newCollector())
		if _, _, err := dialWS(t, m, []string{"sip"}, nil); err == nil {
			t.Fatal("connection from a refused source accepted")
		}
		if m.Stats().DeniedConns != 1 {
			t.Errorf("denied %d, want 1", m.Stats().DeniedConns)
		}
	})
	t.Run("handshake timeout", func(t *testing.T) {
		cfg := wsConfig(WS, t)
		cfg.WSHandshakeTimeout = 100 * time.Millisecond
		m := start(t, cfg, newCollector())
		c, err := net.Dial("tcp", m.Listeners()[0].Bound.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("GET / HTTP/1.1\r\n")) // and never the rest
		expectClosed(t, c, wait)
	})
}

// The server pings; a client that answers keeps its connection, one
// that stops reading (and so answering) loses it after two intervals.
// At 50 ms (100 ms of grace, five 10 ms ticks a round) the answering
// client was lost in a third of the runs under -race on a loaded machine:
// the ticks' lateness added up over a round (wsPings.tick now keeps to
// its schedule), and a pong could be late by more than the grace.
func TestWSPing(t *testing.T) {
	cfg := wsConfig(WS, t)
	cfg.WSPingInterval = 500 * time.Millisecond
	m := start(t, cfg, newCollector())
	ws := mustDialWS(t, m)
	pings := make(chan struct{}, 16)
	ws.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(wait))
	})
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	// The silent client's bytes are read below the WebSocket layer, which
	// alone would answer a ping: it sees the pings and the close, and
	// never says a word.
	silent := mustDialWS(t, m).NetConn()
	expectClosed(t, silent, wait)
	for range 4 { // four intervals: past the two the silent peer got
		select {
		case <-pings:
		case <-time.After(wait):
			t.Fatal("no ping")
		}
	}
	if st := m.Stats(); st.Open != 1 || st.IdleClosed != 1 {
		t.Fatalf("%d open, %d closed as silent; want the answering client open, the silent one closed", st.Open, st.IdleClosed)
	}
}

// The one timer pings every connection, whatever its slot, once per
// interval: more connections than slots, each answering, all get their
// pings and none is closed as silent.
func TestWSPingsEveryConnection(t *testing.T) {
	cfg := wsConfig(WS, t)
	cfg.WSPingInterval = 200 * time.Millisecond
	m := start(t, cfg, newCollector())
	const n = 25 // more than the 20 slots a 200 ms interval is cut into
	var mu sync.Mutex
	pings := make([]int, n)
	for i := range n {
		ws := mustDialWS(t, m)
		ws.SetPingHandler(func(data string) error {
			mu.Lock()
			pings[i]++
			mu.Unlock()
			return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(wait))
		})
		go func() {
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
	}
	eventually(t, "three pings on every connection", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Min(pings) >= 3
	})
	if st := m.Stats(); st.Open != n || st.IdleClosed != 0 {
		t.Fatalf("%d open, %d closed as silent; want all %d open", st.Open, st.IdleClosed, n)
	}
}

// A message that trickles in, one fragment at a time, is cut off after
// TCPMessageTimeout as on TCP, though the client's pongs keep the
// connection alive meanwhile.
func TestWSSlowMessageTimeout(t *testing.T) {
	cfg := wsConfig(WS, t)
	cfg.WSPingInterval = 100 * time.Millisecond
	cfg.TCPMessageTimeout = 300 * time.Millisecond
	col := newCollector()
	m := start(t, cfg, col)
	nc := mustDialWS(t, m).NetConn()
	// Client frames, masked with a zero key: the first fragment of a text
	// message, then one-byte continuations, each with a pong after it.
	frame := func(op byte, payload string) []byte {
		return append([]byte{op, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := nc.Write(frame(0x01, "OPTIONS sip:x@example.com SIP/2.0\r\n")); err != nil {
			return
		}
		for range 200 { // 4 s at most
			if _, err := nc.Write(append(frame(0x00, "V"), frame(0x8A, "")...)); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	t0 := time.Now()
	expectClosed(t, nc, wait)
	if d := time.Since(t0); d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("cut off after %v, want about 300ms", d)
	}
	<-done
	eventually(t, "the overflow count", func() bool { return m.Stats().Overflows == 1 })
	if s := m.Stats(); s.IdleClosed != 0 {
		t.Errorf("counted as idle: %+v", s)
	}
	col.none(t, 10*time.Millisecond)
}

// A CRLF keep-alive in a message is answered with a CRLF, and handed to
// nobody.
func TestWSKeepAlive(t *testing.T) {
	col := newCollector()
	m := start(t, wsConfig(WS, t), col)
	ws := mustDialWS(t, m)
	ws.WriteMessage(websocket.TextMessage, []byte("\r\n\r\n"))
	ws.SetReadDeadline(time.Now().Add(wait))
	_, data, err := ws.ReadMessage()
	if err != nil || string(data) != "\r\n" {
		t.Fatalf("%q, %v; want a CRLF", data, err)
	}
	col.none(t, 50*time.Millisecond)
	if m.Stats().Pings != 1 {
		t.Errorf("pings %d", m.Stats().Pings)
	}
}

// Send dials a WebSocket server, with the sip subprotocol, and its
// response comes back on that connection.
func TestWSDial(t *testing.T) {
	for _, p := range []Proto{WS, WSS} {
		t.Run(string(p), func(t *testing.T) {
			srv, _ := startAnswering(t, wsConfig(p, t))
			col := newCollector()
			cfg := wsConfig(p, t)
			cfg.TLSInsecureSkipVerify = true
			cli := start(t, cfg, col)
			l := cli.Listeners()[0]
			req := request(p, hostPort(netip.AddrPortFrom(l.Bound.Addr(), uint16(l.Port))), "")
			if err := cli.Send(Target{Proto: p, Addr: srv.Listeners()[0].Bound}, req); err != nil {
				t.Fatal(err)
			}
			if in := col.next(t); in.Msg.StatusCode() != 200 || in.Proto != p {
				t.Fatalf("got %+v", in)
			}
			if cli.Stats().Dialed != 1 {
				t.Errorf("dialed %d", cli.Stats().Dialed)
			}
		})
	}
}

func TestNormalizeOrigin(t *testing.T) {
	cases := []struct{ in, want string }{
		{"https://app.example.com", "https://app.example.com"},
		{"HTTPS://App.Example.COM:443", "https://app.example.com"},
		{"http://app.example.com:80/", "http://app.example.com"},
		{"http://127.0.0.1:8000", "http://127.0.0.1:8000"},
		{"https://[::1]:8443", "https://[::1]:8443"},
		{" https://a.example ", "https://a.example"},
		{"null", ""},
		{"app.example.com", ""},
		{"https://app.example.com/path", ""},
		{"https://user@app.example.com", ""},
		{"https://app.example.com?q", ""},
		{"https://", ""},
		{"", ""},
	}
	for _, c := range cases {
		got, err := NormalizeOrigin(c.in)
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("NormalizeOrigin(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// An origin that normalises is a fixed point, so a header and a config
// entry naming one site always compare equal.
func FuzzNormalizeOrigin(f *testing.F) {
	for _, s := range []string{"https://app.example.com", "HTTP://[::1]:80", "null", "https://a:b@c/d?e#f", "ws://x:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeOrigin(s)
		if err != nil {
			return
		}
		again, err := NormalizeOrigin(n)
		if err != nil || again != n {
			t.Fatalf("%q → %q → %q, %v", s, n, again, err)
		}
		if p, err := newOriginPolicy([]string{s}); err != nil || !p.allows(n) {
			t.Fatalf("policy of %q refuses its own origin", s)
		}
	})
}

// WSS serves the TLS certificate and follows it: the self-signed one
// from the data directory (verifiable with its tls.crt), then files that
// UseTLSFiles switches to, re-read when they change, as TLS does.
func TestWSSCertificate(t *testing.T) {
	dir := t.TempDir()
	cfg := wsConfig(WSS, t)
	cfg.DataDir = filepath.Join(dir, "data")
	m, _ := startAnswering(t, cfg)
	served := func(tc *tls.Config) (*x509.Certificate, error) {
		d := websocket.Dialer{Subprotocols: []string{"sip"}, HandshakeTimeout: wait, TLSClientConfig: tc}
		ws, _, err := d.Dial(wsURL(m), nil)
		if err != nil {
			return nil, err
		}
		defer ws.Close()
		return ws.NetConn().(*tls.Conn).ConnectionState().PeerCertificates[0], nil
	}
	if _, err := served(&tls.Config{RootCAs: poolFromFile(t, SelfSignedCertFile(cfg.DataDir)), ServerName: "127.0.0.1"}); err != nil {
		t.Fatalf("the self-signed certificate does not verify: %v", err)
	}
	certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	first := writePair(t, certPath, keyPath, "127.0.0.1")
	if err := m.UseTLSFiles(certPath, keyPath); err != nil {
		t.Fatal(err)
	}
	insecure := &tls.Config{InsecureSkipVerify: true}
	if c, err := served(insecure); err != nil || !c.Equal(first) {
		t.Fatalf("not serving the configured certificate: %v", err)
	}
	second := writePair(t, certPath, keyPath, "127.0.0.1")
	future := time.Now().Add(time.Minute)
	os.Chtimes(certPath, future, future)
	os.Chtimes(keyPath, future, future)
	if c, err := served(insecure); err != nil || !c.Equal(second) {
		t.Fatalf("certificate not reloaded after the files changed: %v", err)
	}
}
