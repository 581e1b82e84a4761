package server

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/message"
	"github.com/parley-sip/parley/presence/notify"
	"github.com/parley-sip/parley/presence/watchers"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/subscriber"
	substoretest "github.com/parley-sip/parley/subscriber/storetest"
)

// sendMessage sends bob's MESSAGE to alice from c and returns the final
// response's status line.
func sendMessage(t *testing.T, c *net.UDPConn, srv netip.AddrPort, text string, seq int) string {
	t.Helper()
	id := "msg-" + strconv.Itoa(seq)
	req := "MESSAGE sip:alice@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + c.LocalAddr().String() + ";branch=z9hG4bK-" + id + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=" + id + "\r\nTo: <sip:alice@example.com>\r\n" +
		"Call-ID: " + id + "\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n" +
		"Content-Length: " + strconv.Itoa(len(text)) + "\r\n\r\n" + text
	if _, err := c.WriteToUDPAddrPort([]byte(req), srv); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("no final response to MESSAGE: %v", err)
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if !strings.HasPrefix(line, "SIP/2.0 1") {
			return strings.TrimPrefix(line, "SIP/2.0 ")
		}
	}
}

// TestMessagesWired: with the default config a MESSAGE to alice, a
// subscriber with no phone, is stored (202); messages.store off, a
// reload later, it gets the location stage's 404; alice registers and
// her phone (a UDP socket here) gets the stored one, which is deleted
// once it answers 200.
func TestMessagesWired(t *testing.T) {
	s, srv, _ := reloadServer(t, func(*config.Config) {})
	bob := listenUDP(t, "127.0.0.1")
	if got := sendMessage(t, bob, srv, "kept", 1); got != "202 Accepted" {
		t.Fatalf("MESSAGE to offline alice: %q, want 202 Accepted", got)
	}
	next := *s.Config()
	next.Messages.Store = false
	if err := s.Reload(&next); err != nil {
		t.Fatal(err)
	}
	if got := sendMessage(t, bob, srv, "not kept", 2); got != "404 Not Found" {
		t.Errorf("with messages.store off: %q, want 404 Not Found", got)
	}

	// Alice's phone registers from the socket it then reads the MESSAGE on.
	phone := listenUDP(t, "127.0.0.1")
	local := phone.LocalAddr().String()
	reg := "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-phone;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=ph\r\nTo: <sip:alice@example.com>\r\n" +
		"Call-ID: phone-reg\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@" + local + ">\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
	if _, err := phone.WriteToUDPAddrPort([]byte(reg), srv); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	phone.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, from, err := phone.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("alice's phone got no MESSAGE: %v", err)
		}
		m, err := sip.Parse(append([]byte(nil), buf[:n]...))
		if err != nil || !m.IsRequest() {
			continue
		}
		if m.Method() != "MESSAGE" || string(m.Body()) != "kept" || m.Header("Date") == "" || !strings.Contains(m.Header("From"), "sip:bob@example.com") {
			t.Fatalf("alice's phone got:\n%s", m.Bytes())
		}
		if _, err := phone.WriteToUDPAddrPort(sip.NewResponse(m, 200, "OK", "ph2").Bytes(), from); err != nil {
			t.Fatal(err)
		}
		break
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		n, _, err := s.MessageStore().Totals(context.Background())
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still stored after the phone's 200 (%v)", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWatcherPolicyWired: the policy the server exposes reads the lists
// in the server's database.
func TestWatcherPolicyWired(t *testing.T) {
	s, _, _ := reloadServer(t, func(*config.Config) {})
	p := s.WatcherPolicy()
	if err := p.Store.Put(context.Background(), watchers.Entry{User: "alice@example.com", Watcher: "example.net", List: watchers.Allow}); err != nil {
		t.Fatal(err)
	}
	var a notify.Authorizer = p
	if got := a.Authorize("carol@example.net", "alice@example.com", "presence"); got != notify.Allow {
		t.Errorf("Authorize = %d, want Allow from the list", got)
	}
	if got := a.Authorize("dave@example.org", "alice@example.com", "presence"); got != notify.Pending {
		t.Errorf("Authorize = %d, want Pending", got)
	}
}

// TestMessageMetricsAndAPI: a stored message shows in /metrics and in
// /api/messages of the admin listener (memory engine: any user of our
// domains, there being no subscriber database).
func TestMessageMetricsAndAPI(t *testing.T) {
	s := startServer(t, testConfig(t))
	base := "http://" + s.obs.admin.Addr().String()
	bob := listenUDP(t, "127.0.0.1")
	if got := sendMessage(t, bob, s.Listeners()[0].Bound, "for later", 1); got != "202 Accepted" {
		t.Fatalf("MESSAGE: %q", got)
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{"parley_messages_stored 1", "parley_messages_delivered_total 0", "parley_messages_expired_total 0",
		`parley_stage_requests_total{outcome="answered",stage="message"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, body := get(t, base+"/api/messages?user=alice@example.com"); code != 200 || !strings.Contains(body, `"body":"for later"`) {
		t.Errorf("/api/messages: %d %s", code, body)
	}
}

// TestMessagesOnPostgres: with storage.engine postgres the messages and
// the watcher lists live in the same database as the subscribers.
func TestMessagesOnPostgres(t *testing.T) {
	dsn := substoretest.PostgresDSN(t)
	users, err := subscriber.Open(context.Background(), "postgres", "", dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := users.Put(context.Background(), subscriber.New("alice", "example.com", "pw")); err != nil {
		t.Fatal(err)
	}
	users.Close()
	s, srv, _ := reloadServer(t, func(c *config.Config) { c.Storage.Engine, c.Storage.DSN = config.EnginePostgres, dsn })
	if got := sendMessage(t, listenUDP(t, "127.0.0.1"), srv, "in postgres", 1); got != "202 Accepted" {
		t.Fatalf("MESSAGE: %q", got)
	}
	if _, ok := s.MessageStore().(*message.SQL); !ok {
		t.Errorf("message store is %T, want the SQL engine", s.MessageStore())
	}
	ms, err := s.MessageStore().Pending(context.Background(), "alice@example.com")
	if err != nil || len(ms) != 1 || string(ms[0].Body) != "in postgres" {
		t.Errorf("Pending = %v, %v", ms, err)
	}
	if _, ok := s.WatcherPolicy().Store.(*watchers.SQL); !ok {
		t.Errorf("watcher store is %T, want the SQL engine", s.WatcherPolicy().Store)
	}
}

// TestWatcherListChangesHeard: a change through the admin API reaches
// the watchWatcherLists listeners (the notifier's Reauthorize).
func TestWatcherListChangesHeard(t *testing.T) {
	cfg := testConfig(t)
	s, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	heard := make(chan string, 4)
	s.watchWatcherLists(func(user string) { heard <- user })
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	base := "http://" + s.obs.admin.Addr().String()
	req, _ := http.NewRequest("PUT", base+"/api/watchers?user=bob@example.com&watcher=example.net&list=allow", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case u := <-heard:
		if u != "bob@example.com" {
			t.Errorf("heard %q", u)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no listener heard of the change")
	}
}

// TestWatcherListChangesFromAnotherProcess: a change written to the
// database by another process (`parley watchers`, here a second store
// on the same file) reaches the listeners within a few seconds.
func TestWatcherListChangesFromAnotherProcess(t *testing.T) {
	heard := make(chan string, 4)
	cfg := config.Default()
	cfg.Listen = []config.Listener{{Proto: config.ProtoUDP, Host: "127.0.0.1", Port: 0}}
	cfg.Domains, cfg.DataDir, cfg.Admin.Listen = []string{"example.com"}, t.TempDir(), ""
	s, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.watchWatcherLists(func(user string) { heard <- user })
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	other, err := watchers.Open(context.Background(), "sqlite", cfg.DataDir, "", clock.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Put(context.Background(), watchers.Entry{User: "bob@example.com", Watcher: "example.net", List: watchers.Block}); err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-heard:
		if u != "bob@example.com" {
			t.Errorf("heard %q", u)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not hear of the other process's change")
	}
}
