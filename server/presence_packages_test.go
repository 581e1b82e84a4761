package server

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/observe"
	"github.com/parley-sip/parley/presence/busylamp"
	"github.com/parley-sip/parley/presence/dialoginfo"
	"github.com/parley-sip/parley/sip"
)

// TestLampEvent maps each step of a proxied call, as the observer reports
// it, to what busy lamps are told.
func TestLampEvent(t *testing.T) {
	call := observe.Call{CallID: "c1", Caller: `"Alice" <sip:alice@example.com>;tag=a1`, Callee: "<sip:bob@example.com>",
		CallerTag: "a1", CallerTarget: "sip:alice@192.0.2.1", CalleeTarget: "sip:bob@192.0.2.2",
		Branches: []observe.Branch{{Tag: "b1", State: "early"}, {Tag: "b2", State: "early"}}}
	answered := call
	answered.Answered = time.Unix(10, 0)
	answered.Branches = []observe.Branch{{Tag: "b1", State: "confirmed"}, {Tag: "b2", State: "terminated"}}
	tests := []struct {
		name     string
		change   observe.CallChange
		call     observe.Call
		mutate   func(c *observe.Call)
		state    dialoginfo.State
		tag      string
		code     int
		hungUpBy busylamp.Side
	}{
		{"started", observe.CallStarted, call, nil, dialoginfo.Trying, "b2", 0, 0},
		{"rings", observe.CallAlerting, call, nil, dialoginfo.Early, "b2", 0, 0},
		{"answered by the first fork", observe.CallAnswered, answered, nil, dialoginfo.Confirmed, "b1", 0, 0},
		{"callee hung up", observe.CallFinished, answered, func(c *observe.Call) { c.Status, c.HungUpBy = 200, cdr.Callee },
			dialoginfo.Terminated, "b1", 0, busylamp.Callee},
		{"busy", observe.CallFinished, call, func(c *observe.Call) { c.Status, c.HungUpBy = 486, cdr.Callee },
			dialoginfo.Terminated, "b2", 486, busylamp.Callee},
		{"cancelled", observe.CallFinished, call, func(c *observe.Call) { c.Status, c.HungUpBy = 487, cdr.Caller },
			dialoginfo.Terminated, "b2", 487, busylamp.Caller},
		{"timed out by the system", observe.CallFinished, call, func(c *observe.Call) { c.Status, c.HungUpBy = 408, cdr.System },
			dialoginfo.Terminated, "b2", 408, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.call
			if tt.mutate != nil {
				tt.mutate(&c)
			}
			ev, ok := lampEvent(tt.change, &c)
			if !ok {
				t.Fatal("not told")
			}
			want := busylamp.CallEvent{CallID: "c1", State: tt.state, Code: tt.code, HungUpBy: tt.hungUpBy,
				Caller: busylamp.Leg{Tag: "a1", Party: dialoginfo.Party{Identity: "sip:alice@example.com", Display: "Alice", Target: "sip:alice@192.0.2.1"}},
				Callee: busylamp.Leg{Tag: tt.tag, Party: dialoginfo.Party{Identity: "sip:bob@example.com", Target: "sip:bob@192.0.2.2"}}}
			if ev != want {
				t.Errorf("got  %+v\nwant %+v", ev, want)
			}
		})
	}
	if _, ok := lampEvent(0, &call); ok {
		t.Error("a change that is no step was told")
	}
}

// TestPresencePackagesServed: through a whole server on loopback, alice's
// phone watches its own registrations and voicemail. reg goes init, then
// active with the contact registered; message-summary says no messages
// until a trusted voicemail system's NOTIFY, which Parley answers 200 and
// relays; after a restart a new subscription still gets the summary.
func TestPresencePackagesServed(t *testing.T) {
	cfg := config.Default()
	cfg.Listen = []config.Listener{{Proto: config.ProtoUDP, Host: "127.0.0.1", Port: freePort(t)}}
	cfg.Domains = []string{"example.com"}
	cfg.DataDir = t.TempDir()
	cfg.Admin.Listen = ""
	cfg.Presence.NotifyThrottle = 0
	cfg.Security.Trusted = []string{"127.0.0.1/32"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func() (*Server, *watcherUA) {
		s, err := New(cfg, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		conn, local := udpClient(t)
		return s, &watcherUA{t: t, conn: conn, local: local, srv: s.Listeners()[0].Bound}
	}
	s, w := start()

	// A subscription's first NOTIFY may overtake its 200 (RFC 6665), so
	// responses and NOTIFYs are taken in any order.
	w.request("SUBSCRIBE", "sip:alice@example.com", "reg1", "r1", "", 1, "Event", "reg", "Accept", "application/reginfo+xml")
	if r := w.response(); r.StatusCode() != 200 {
		t.Fatalf("SUBSCRIBE to reg answered\n%s", r)
	}
	if n := w.notifiedWith("reg1", `state="init"`); n.Header("Content-Type") != "application/reginfo+xml" ||
		!strings.Contains(string(n.Body()), `<registration aor="sip:alice@example.com"`) || !strings.Contains(string(n.Body()), `version="0"`) {
		t.Errorf("first reg NOTIFY:\n%s", n)
	}
	if got := register(t, w.srv, "example.com", 600, 1); !strings.HasPrefix(got, "200") {
		t.Fatalf("REGISTER: %s", got)
	}
	if n := w.notifiedWith("reg1", `state="active" event="registered"`); !strings.Contains(string(n.Body()), `version="1"`) {
		t.Errorf("reg NOTIFY after REGISTER:\n%s", n)
	}

	w.request("SUBSCRIBE", "sip:alice@example.com", "mwi1", "m1", "", 1, "Event", "message-summary")
	if r := w.response(); r.StatusCode() != 200 {
		t.Fatalf("SUBSCRIBE to message-summary answered\n%s", r)
	}
	if n := w.notifiedWith("mwi1", "Messages-Waiting"); string(n.Body()) != "Messages-Waiting: no\r\n" {
		t.Errorf("first message-summary NOTIFY:\n%s", n)
	}
	conn, local := udpClient(t)
	vm := &watcherUA{t: t, conn: conn, local: local, srv: w.srv}
	vm.request("NOTIFY", "sip:alice@example.com", "vm1", "v1", "", 1, "Event", "message-summary",
		"Content-Type", "application/simple-message-summary", "body", "Messages-Waiting: yes\r\nVoice-Message: 3/1\r\n")
	if r := vm.read(); r.StatusCode() != 200 {
		t.Fatalf("the voicemail system's NOTIFY answered\n%s", r)
	}
	const waiting = "Messages-Waiting: yes\r\nVoice-Message: 3/1 (0/0)\r\n"
	if n := w.notifiedWith("mwi1", "Messages-Waiting"); string(n.Body()) != waiting || n.Header("Event") != "message-summary" {
		t.Errorf("message-summary NOTIFY after the voicemail's:\n%s", n)
	}

	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, w = start()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	// The restored subscriptions may be notified first; the new one's
	// NOTIFY is known by its Call-ID.
	w.request("SUBSCRIBE", "sip:alice@example.com", "mwi2", "m2", "", 1, "Event", "message-summary")
	for got := false; !got; {
		m := w.read()
		switch {
		case m.Method() == "NOTIFY" && m.Header("Call-ID") == "mwi2":
			w.conn.WriteToUDPAddrPort(sip.NewResponse(m, 200, "OK", "").Bytes(), w.srv)
			if string(m.Body()) != waiting {
				t.Errorf("after a restart, a new subscription got\n%s", m)
			}
			got = true
		case m.Method() == "NOTIFY":
			w.conn.WriteToUDPAddrPort(sip.NewResponse(m, 200, "OK", "").Bytes(), w.srv)
		}
	}
}
