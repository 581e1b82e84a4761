package server

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// TestCaptureOnlyWhenRead: with CDRs on, the observer runs in every mode,
// but in mode b2bua without the admin listener or HEP the messages do not
// go to it: every call is the B2BUA's, which reports its own steps, and
// nothing reads the capture or its counters. Each captured message costs
// a copy, a scan and a queue (issue 16's latency at half load).
func TestCaptureOnlyWhenRead(t *testing.T) {
	for _, tt := range []struct {
		name    string
		mode    config.Mode
		admin   string
		hep     string
		capture bool
	}{
		{"b2bua, CDRs only", config.ModeB2BUA, "", "", false},
		{"b2bua with HEP", config.ModeB2BUA, "", "127.0.0.1:9060", true},
		{"stateful, CDRs only: the tracker records proxied calls", config.ModeStateful, "", "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Mode, cfg.Admin.Listen, cfg.HEP.Address = tt.mode, tt.admin, tt.hep
			s := &Server{log: slog.Default(), events: slog.Default(), records: &records{}}
			if err := s.newObservability(cfg); err != nil {
				t.Fatal(err)
			}
			if s.obs == nil {
				t.Fatal("no observer with CDRs on")
			}
			if s.obs.hep != nil {
				defer s.obs.hep.Close()
			}
			// An INVITE: without admin or HEP the observer keeps only
			// what can change a call (observe.Config.CallsOnly).
			msg := []byte("INVITE sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n" +
				"From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n" +
				"Contact: <sip:b@192.0.2.1>\r\n" +
				"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
			m, err := sip.Parse(msg)
			if err != nil {
				t.Fatal(err)
			}
			s.tapReceived(&transport.Incoming{Proto: transport.UDP, Source: netip.MustParseAddrPort("192.0.2.1:5060"), Msg: m})
			if got := s.obs.obs.Stats().Captured; (got > 0) != tt.capture {
				t.Errorf("%d messages captured after one received, want capture %v", got, tt.capture)
			}
		})
	}
}

// TestCaptureSentOnConnection: a response that goes back on the phone's
// connection is captured as sent to the address that connection comes
// from, the one its request was captured from, so the console's ladder
// shows one lifeline for the phone. The Via names another port (a web
// phone's .invalid host has none, so the transport's default was shown:
// a lifeline for an address nobody has).
func TestCaptureSentOnConnection(t *testing.T) {
	for _, proto := range []config.Proto{config.ProtoTCP, config.ProtoWS} {
		t.Run(string(proto), func(t *testing.T) {
			s, _, _ := reloadServer(t, func(c *config.Config) {
				c.Listen = []config.Listener{{Proto: proto, Host: "127.0.0.1", Port: freePort(t)}}
				c.Admin.Listen = "127.0.0.1:0"
			})
			bound := s.Listeners()[0].Bound
			callID := "capture-" + string(proto)
			send, read, mine := dialStream(t, proto, bound)
			sentBy := "127.0.0.1:5999"
			if proto == config.ProtoWS {
				sentBy = "df7jal23ls0d.invalid"
			}
			send("OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/" + strings.ToUpper(string(proto)) + " " + sentBy + ";branch=z9hG4bKcap1\r\n" +
				"From: <sip:b@example.com>;tag=1\r\nTo: <sip:example.com>\r\nCall-ID: " + callID + "\r\nCSeq: 1 OPTIONS\r\n" +
				"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
			if resp := read(); !strings.HasPrefix(resp, "SIP/2.0 200") {
				t.Fatalf("OPTIONS answered %q", firstLine(resp))
			}
			s.obs.obs.Flush()
			msgs := s.obs.obs.CallMessages(callID)
			if len(msgs) != 2 {
				t.Fatalf("%d messages captured, want the OPTIONS and its 200", len(msgs))
			}
			for _, m := range msgs {
				if m.Peer != mine {
					t.Errorf("%s %q captured with peer %s, want the connection's %s", m.Dir, firstLine(m.Text), m.Peer, mine)
				}
				if m.Local != msgs[0].Local {
					t.Errorf("%s %q captured with local %s, the OPTIONS with %s", m.Dir, firstLine(m.Text), m.Local, msgs[0].Local)
				}
			}
		})
	}
}

// dialStream opens a TCP or WS connection to addr and returns a way to
// send one message, to read one, and the connection's own address.
func dialStream(t *testing.T, proto config.Proto, addr netip.AddrPort) (send func(string), read func() string, local netip.AddrPort) {
	t.Helper()
	if proto == config.ProtoWS {
		d := websocket.Dialer{Subprotocols: []string{"sip"}}
		ws, _, err := d.Dial("ws://"+addr.String()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		send = func(m string) {
			if err := ws.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		read = func() string {
			_, b, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		return send, read, ws.LocalAddr().(*net.TCPAddr).AddrPort()
	}
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	send = func(m string) {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	read = func() string {
		b := make([]byte, 4096)
		n, err := c.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		return string(b[:n])
	}
	return send, read, c.LocalAddr().(*net.TCPAddr).AddrPort()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}
