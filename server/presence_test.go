package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/sip"
)

// watcherUA is a bare UDP user agent that subscribes and answers NOTIFYs.
type watcherUA struct {
	t     *testing.T
	conn  *net.UDPConn
	local string
	srv   netip.AddrPort
	early []*sip.Message // NOTIFYs answered while waiting for a response
}

func (w *watcherUA) send(msg string) {
	w.t.Helper()
	if _, err := w.conn.WriteToUDPAddrPort([]byte(msg), w.srv); err != nil {
		w.t.Fatal(err)
	}
}

// read returns the next message, skipping provisional responses.
func (w *watcherUA) read() *sip.Message {
	w.t.Helper()
	buf := make([]byte, 65536)
	w.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, _, err := w.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			w.t.Fatalf("nothing received: %v", err)
		}
		m, err := sip.Parse(append([]byte(nil), buf[:n]...))
		if err != nil {
			w.t.Fatalf("unparsable message: %v\n%s", err, buf[:n])
		}
		if m.IsRequest() || m.StatusCode() >= 200 {
			return m
		}
	}
}

// notified waits for a NOTIFY, answers it 200 and returns it.
func (w *watcherUA) notified() *sip.Message {
	w.t.Helper()
	m := w.read()
	if m.Method() != "NOTIFY" {
		w.t.Fatalf("got, instead of a NOTIFY:\n%s", m)
	}
	w.conn.WriteToUDPAddrPort(sip.NewResponse(m, 200, "OK", "").Bytes(), w.srv)
	return m
}

// response waits for a response, answering the NOTIFYs that come first
// (a registration's change may reach a subscription at any time, and a
// subscription's first NOTIFY may overtake its 200) and keeping them
// for notifiedWith.
func (w *watcherUA) response() *sip.Message {
	w.t.Helper()
	for {
		m := w.read()
		if !m.IsRequest() {
			return m
		}
		w.conn.WriteToUDPAddrPort(sip.NewResponse(m, 200, "OK", "").Bytes(), w.srv)
		w.early = append(w.early, m)
	}
}

// notifiedWith waits for a NOTIFY of callID whose body holds text,
// answering every NOTIFY.
func (w *watcherUA) notifiedWith(callID, text string) *sip.Message {
	w.t.Helper()
	for {
		var m *sip.Message
		if len(w.early) > 0 {
			m, w.early = w.early[0], w.early[1:]
		} else {
			m = w.notified()
		}
		if m.Header("Call-ID") == callID && strings.Contains(string(m.Body()), text) {
			return m
		}
	}
}

func (w *watcherUA) request(method, uri, callID, fromTag, toTag string, cseq int, extra ...string) {
	to := "<" + uri + ">"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	msg := method + " " + uri + " SIP/2.0\r\nVia: SIP/2.0/UDP " + w.local + ";branch=z9hG4bK-" + callID + strconv.Itoa(cseq) + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=" + fromTag + "\r\nTo: " + to + "\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: " + strconv.Itoa(cseq) + " " + method + "\r\n" +
		"Contact: <sip:alice@" + w.local + ">\r\n"
	body := ""
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i] == "body" {
			body = extra[i+1]
			continue
		}
		msg += extra[i] + ": " + extra[i+1] + "\r\n"
	}
	w.send(msg + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

// TestPresenceServer: through a whole server on loopback, alice watches
// bob: closed, then open when bob registers, then away when he
// publishes; the subscription survives a restart and is notified after
// it, and a refresh in its dialog is answered by the new process.
func TestPresenceServer(t *testing.T) {
	cfg := config.Default()
	cfg.Listen = []config.Listener{{Proto: config.ProtoUDP, Host: "127.0.0.1", Port: freePort(t)}}
	cfg.Domains = []string{"example.com"}
	cfg.DataDir = t.TempDir()
	cfg.Admin.Listen = ""
	cfg.Presence.NotifyThrottle = 0
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	conn, local := udpClient(t)
	w := &watcherUA{t: t, conn: conn, local: local, srv: s.Listeners()[0].Bound}

	w.request("SUBSCRIBE", "sip:bob@example.com", "ps1", "a1", "", 1, "Event", "presence", "Expires", "600")
	ok := w.response()
	if ok.StatusCode() != 200 || ok.Header("Expires") != "600" || ok.ToTag() == "" {
		t.Fatalf("SUBSCRIBE answered\n%s", ok)
	}
	n := w.notifiedWith("ps1", "<basic>closed</basic>")
	if !strings.HasPrefix(n.Header("Subscription-State"), "active") {
		t.Errorf("first NOTIFY:\n%s", n)
	}
	if got := register(t, w.srv, "example.com", 600, 1); !strings.HasPrefix(got, "200") {
		t.Fatalf("REGISTER: %s", got)
	}
	// register() registers alice; watch her instead from a second subscription.
	w.request("SUBSCRIBE", "sip:alice@example.com", "ps2", "a2", "", 1, "Event", "presence")
	if r := w.response(); r.StatusCode() != 200 || r.Header("Expires") != "3600" {
		t.Fatalf("second SUBSCRIBE answered\n%s", r)
	}
	w.notifiedWith("ps2", "<basic>open</basic>") // alice registered
	away := `<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" ` +
		`xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:alice@example.com">` +
		`<tuple id="t1"><status><basic>open</basic></status></tuple><dm:person id="p1"><rpid:activities><rpid:away/></rpid:activities></dm:person></presence>`
	w.request("PUBLISH", "sip:alice@example.com", "pp1", "p1", "", 1, "Event", "presence", "Content-Type", "application/pidf+xml", "body", away)
	if r := w.response(); r.StatusCode() != 200 || r.Header("SIP-ETag") == "" {
		t.Fatalf("PUBLISH answered\n%s", r)
	}
	w.notifiedWith("ps2", "away")
	w.request("OPTIONS", "sip:"+w.srv.String(), "po1", "o1", "", 1)
	if r := w.response(); r.StatusCode() != 200 || r.Header("Allow-Events") != "dialog, message-summary, presence, reg" {
		t.Errorf("OPTIONS answered\n%s", r)
	}
	w.request("SUBSCRIBE", "sip:bob@example.com", "ps3", "a3", "", 1, "Event", "conference")
	if r := w.response(); r.StatusCode() != 489 || r.Header("Allow-Events") != "dialog, message-summary, presence, reg" {
		t.Errorf("unknown event answered\n%s", r)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s, err = New(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	// Both subscriptions are notified by the new process.
	states := map[string]bool{}
	for len(states) < 2 {
		n := w.notified()
		if cs, _ := n.CSeq(); cs.Seq < 1<<16 {
			continue // sent before the restart; restored dialogs' CSeqs jump
		}
		states[n.Header("Call-ID")] = strings.HasPrefix(n.Header("Subscription-State"), "active")
		if n.Header("Call-ID") == "ps2" && !strings.Contains(string(n.Body()), "away") {
			t.Errorf("alice's publication did not survive the restart:\n%s", n)
		}
	}
	if !states["ps1"] || !states["ps2"] {
		t.Errorf("after restart, NOTIFYs %v", states)
	}
	w.request("SUBSCRIBE", "sip:bob@127.0.0.1", "ps1", "a1", ok.ToTag(), 2, "Event", "presence", "Expires", "0")
	var r, last *sip.Message
	for r == nil || last == nil { // the NOTIFY may overtake the 200 (RFC 6665 §4.1.2.4)
		m := w.read()
		switch {
		case !m.IsRequest():
			r = m
		case m.Header("Call-ID") == "ps1":
			last = m
		}
		if m.IsRequest() {
			w.conn.WriteToUDPAddrPort(sip.NewResponse(m, 200, "OK", "").Bytes(), w.srv)
		}
	}
	if r.StatusCode() != 200 || last.Header("Subscription-State") != "terminated;reason=timeout" {
		t.Errorf("unsubscribe after restart answered\n%s\nand notified\n%s", r, last)
	}
}
