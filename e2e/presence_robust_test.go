package e2e

import (
	"bufio"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPublishOnlyOwnPresence: with authentication on, alice may publish
// her own presence (407, credentials, 200) and gets 403 for bob's.
func TestPublishOnlyOwnPresence(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	data := t.TempDir()
	addUser(t, data, "alice", "alice-pw-1")
	addUser(t, data, "bob", "bob-pw-22")
	cfg := writeConfig(t, "auth:\n  enabled: true\n  algorithms: [MD5]\n")
	p := startParley(t, "--config", cfg, "--data-dir", data)
	if code := runSipp(t, "-sf", scenario("publish_auth.xml"), "-s", "alice", "-au", "alice", "-ap", "alice-pw-1",
		"-set", "expect_forbidden", "0", "-set", "publisher", "alice", p.Addr); code != 0 {
		t.Errorf("alice publishing her own presence: sipp exited %d, want 0 (a 200)", code)
	}
	if code := runSipp(t, "-sf", scenario("publish_auth.xml"), "-s", "bob", "-au", "alice", "-ap", "alice-pw-1",
		"-set", "expect_forbidden", "1", "-set", "publisher", "alice", p.Addr); code != 0 {
		t.Errorf("alice publishing bob's presence: sipp exited %d, want 0 (a 403)", code)
	}
}

// streamUA reads and writes SIP over one TCP connection.
type streamUA struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func newStreamUA(t *testing.T, conn net.Conn) *streamUA {
	return &streamUA{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// read returns the next message framed by its Content-Length, skipping
// provisional responses and keep-alive CRLFs.
func (u *streamUA) read(within time.Duration) string {
	u.t.Helper()
	u.conn.SetReadDeadline(time.Now().Add(within))
	for {
		tp := textproto.NewReader(u.r)
		var head strings.Builder
		length := 0
		for {
			line, err := tp.ReadLine()
			if err != nil {
				u.t.Fatalf("reading from %s: %v", u.conn.RemoteAddr(), err)
			}
			if line == "" {
				if head.Len() == 0 {
					continue // a keep-alive
				}
				break
			}
			if n, v, ok := strings.Cut(line, ":"); ok && (strings.EqualFold(n, "Content-Length") || n == "l") {
				length, _ = strconv.Atoi(strings.TrimSpace(v))
			}
			head.WriteString(line + "\r\n")
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(u.r, body); err != nil {
			u.t.Fatalf("reading a body: %v", err)
		}
		msg := head.String() + "\r\n" + string(body)
		if !strings.HasPrefix(msg, "SIP/2.0 1") {
			return msg
		}
	}
}

func (u *streamUA) write(msg string) {
	u.t.Helper()
	if _, err := u.conn.Write([]byte(msg)); err != nil {
		u.t.Fatal(err)
	}
}

// TestNotifyAfterConnectionClosed: a watcher subscribes over TCP and
// closes that connection; bob's next change still reaches it, on a new
// connection parley opens to the subscription's Contact.
func TestNotifyAfterConnectionClosed(t *testing.T) {
	p := startParley(t, "--config", writeConfig(t, "presence:\n  notify_throttle: 0s\n"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	w := newStreamUA(t, conn)
	local := conn.LocalAddr().String()
	w.write("SUBSCRIBE sip:bob@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP " + local + ";branch=z9hG4bK-tcpsub-1\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=tcpw\r\nTo: <sip:bob@example.com>\r\n" +
		"Call-ID: tcp-closed-1\r\nCSeq: 1 SUBSCRIBE\r\n" +
		"Contact: <sip:alice@" + ln.Addr().String() + ";transport=tcp>\r\nEvent: presence\r\n" +
		"Accept: application/pidf+xml\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n")
	var ok, first bool
	for !ok || !first {
		msg := w.read(5 * time.Second)
		switch {
		case strings.HasPrefix(msg, "SIP/2.0 200"):
			ok = true
		case strings.HasPrefix(msg, "NOTIFY "):
			first = true
			w.write(okFor(msg))
		default:
			t.Fatalf("SUBSCRIBE answered\n%s", msg)
		}
	}
	conn.Close()

	u := newSipUA(t, p.Addr)
	publish := "PUBLISH sip:bob@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + u.local + ";branch=z9hG4bK-tcppub-1;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=pb\r\nTo: <sip:bob@example.com>\r\n" +
		"Call-ID: tcp-closed-pub\r\nCSeq: 1 PUBLISH\r\nEvent: presence\r\nExpires: 300\r\n"
	pidf := `<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@example.com">` +
		`<tuple id="t1"><status><basic>open</basic></status><note>back on a new connection</note></tuple></presence>`
	publish += "Content-Type: application/pidf+xml\r\nContent-Length: " + strconv.Itoa(len(pidf)) + "\r\n\r\n" + pidf
	if _, err := u.conn.WriteToUDPAddrPort([]byte(publish), u.srv); err != nil {
		t.Fatal(err)
	}
	u.expect("PUBLISH", "SIP/2.0 200")

	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	back, err := ln.Accept()
	if err != nil {
		t.Fatalf("no connection to the Contact after the watcher's own closed: %v", err)
	}
	defer back.Close()
	c := newStreamUA(t, back)
	for {
		msg := c.read(5 * time.Second)
		if !strings.HasPrefix(msg, "NOTIFY ") || headerOf(msg, "Call-ID") != "tcp-closed-1" {
			t.Fatalf("got, instead of the subscription's NOTIFY:\n%s", msg)
		}
		c.write(okFor(msg))
		if strings.Contains(msg, "back on a new connection") {
			break
		}
	}
}
