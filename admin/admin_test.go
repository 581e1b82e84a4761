package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/observe"
)

var t0 = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

const testToken = "0123456789abcdef-test"

// fixture is an admin server over a memory store and an observer.
type fixture struct {
	srv   *Server
	store *location.Memory
	obs   *observe.Observer
	clk   *clock.Fake
}

type users []string

func (u users) ListUsers(context.Context) ([]string, error) {
	if u == nil {
		return nil, errors.New("store down")
	}
	return u, nil
}

func newFixture(t *testing.T, token string, lister UserLister) *fixture {
	t.Helper()
	f := &fixture{store: location.NewMemory(), clk: clock.NewFake(t0)}
	f.obs = observe.New(observe.Config{CaptureMessages: 100, CaptureBytes: 1 << 20, Now: f.clk.Now})
	f.obs.Start()
	t.Cleanup(f.obs.Close)
	f.srv = New(Config{Token: token, Observer: f.obs, Store: f.store, Users: lister,
		Now:    f.clk.Now,
		Stats:  func() any { return map[string]int{"uptime_seconds": 42} },
		Reload: func() any { return map[string][]string{"pending_restart": {"listen"}} },
	})
	return f
}

func (f *fixture) bind(t *testing.T, aor, contact, source string, expires time.Duration) {
	t.Helper()
	_, err := f.store.Update(context.Background(), aor, t0, func(cur []location.Binding) ([]location.Binding, error) {
		return append(cur, location.Binding{Contact: contact, Params: "reg-id=1;+sip.instance=\"<urn:uuid:1>\"", Q: 1000, Expires: t0.Add(expires), CallID: "reg-" + contact,
			CSeq: 1, Transport: "udp", Source: netip.MustParseAddrPort(source), UserAgent: "sipp", Updated: t0}), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// do sends a request to the handler, from a loopback Host unless the
// target says otherwise, with the token when given.
func (f *fixture) do(method, target, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.Host = "127.0.0.1:8080"
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(w, r)
	return w
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("%v in %q", err, w.Body.String())
	}
	return v
}

func TestAuthWithToken(t *testing.T) {
	f := newFixture(t, testToken, nil)
	for _, tt := range []struct {
		path, token string
		want        int
	}{
		{"/api/calls", "", 401},
		{"/api/calls", "wrong-token-0123456", 401},
		{"/api/calls", testToken, 200},
		{"/metrics", "", 401},
		{"/metrics", testToken, 200},
		{"/debug/pprof/", "", 401},
		{"/debug/pprof/", testToken, 200},
		{"/api/stats", testToken + "x", 401},
		{"/api/config", "", 401},
		{"/api/config", testToken, 200},
		{"/api/cdrs", "", 401},
		{"/api/cdrs", testToken, 200},
		// Probes and the console's files need no token.
		{"/healthz", "", 200},
		{"/readyz", "", 200},
		{"/", "", 200},
		{"/app.js", "", 200},
	} {
		w := f.do("GET", tt.path, tt.token)
		if w.Code != tt.want {
			t.Errorf("GET %s with %q: %d, want %d", tt.path, tt.token, w.Code, tt.want)
		}
		if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s: 401 without WWW-Authenticate", tt.path)
		}
	}
	// With a token, any Host may be used: the token is the guard.
	r := httptest.NewRequest("GET", "/api/calls", nil)
	r.Host = "parley.example.com"
	r.Header.Set("Authorization", "Bearer "+testToken)
	w := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("token from a named host: %d", w.Code)
	}
}

// TestLoopbackHostCheck: without a token, only requests naming a loopback
// host get through, which defeats DNS rebinding from a web page.
func TestLoopbackHostCheck(t *testing.T) {
	f := newFixture(t, "", nil)
	for host, want := range map[string]int{
		"127.0.0.1:8080": 200, "localhost:8080": 200, "LOCALHOST": 200, "[::1]:8080": 200, "127.0.0.2": 200,
		"evil.example.com:8080": 403, "192.0.2.1:8080": 403, "": 403,
	} {
		r := httptest.NewRequest("GET", "/api/calls", nil)
		r.Host = host
		w := httptest.NewRecorder()
		f.srv.Handler().ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Host %q: %d, want %d", host, w.Code, want)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, "", nil)
	w := f.do("GET", "/", "")
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	if !strings.Contains(w.Body.String(), "<title>Parley console</title>") {
		t.Error("/ is not the console")
	}
	if strings.Contains(w.Header().Get("Content-Security-Policy"), "wss:") {
		t.Error("the console may connect to WebSockets elsewhere")
	}
	// The web phone, and only it, talks to a wss listener on another port.
	phone := f.do("GET", "/phone.html", "")
	if csp := phone.Header().Get("Content-Security-Policy"); phone.Code != 200 || !strings.Contains(csp, "connect-src 'self' wss: ws:") {
		t.Errorf("/phone.html: %d, CSP %q", phone.Code, csp)
	}
	for _, f2 := range []string{"/phone.js", "/jssip.min.js", "/jssip.LICENSE.txt"} {
		if w := f.do("GET", f2, ""); w.Code != 200 {
			t.Errorf("%s: %d", f2, w.Code)
		}
	}
	if w := f.do("GET", "/nope.js", ""); w.Code != 404 {
		t.Errorf("unknown file: %d", w.Code)
	}
}

func TestReadyz(t *testing.T) {
	f := newFixture(t, "", nil)
	f.srv.cfg.Ready = func(context.Context) error { return errors.New("listeners not bound") }
	w := f.do("GET", "/readyz", "")
	if w.Code != 503 || !strings.Contains(w.Body.String(), "listeners not bound") {
		t.Errorf("%d %q", w.Code, w.Body.String())
	}
}

type regList struct {
	Registrations []registration `json:"registrations"`
	Truncated     bool           `json:"truncated"`
}

func contacts(l regList) string {
	var s []string
	for _, r := range l.Registrations {
		s = append(s, r.Contact)
	}
	return strings.Join(s, " ")
}

func TestListRegistrations(t *testing.T) {
	f := newFixture(t, "", nil)
	f.bind(t, "sip:bob@example.com", "sip:bob@192.0.2.20:5062", "192.0.2.20:5062", time.Hour)
	f.bind(t, "sip:bob@example.com", "sip:bob@198.51.100.7:5060;transport=tcp", "198.51.100.7:40000", time.Hour)
	f.bind(t, "sip:alice@example.com", "sip:alice@192.0.2.10:5060", "192.0.2.10:5060", time.Minute)
	for _, tt := range []struct{ query, want string }{
		{"", "sip:alice@192.0.2.10:5060 sip:bob@192.0.2.20:5062 sip:bob@198.51.100.7:5060;transport=tcp"},
		{"aor=BOB", "sip:bob@192.0.2.20:5062 sip:bob@198.51.100.7:5060;transport=tcp"},
		{"contact=transport%3Dtcp", "sip:bob@198.51.100.7:5060;transport=tcp"},
		{"source=192.0.2.", "sip:alice@192.0.2.10:5060 sip:bob@192.0.2.20:5062"},
		{"aor=bob&source=40000", "sip:bob@198.51.100.7:5060;transport=tcp"},
		{"aor=carol", ""},
	} {
		w := f.do("GET", "/api/registrations?"+tt.query, "")
		if got := contacts(decode[regList](t, w)); got != tt.want {
			t.Errorf("?%s: %q, want %q", tt.query, got, tt.want)
		}
	}
	r := decode[regList](t, f.do("GET", "/api/registrations?aor=alice", "")).Registrations[0]
	want := registration{AOR: "sip:alice@example.com", Contact: "sip:alice@192.0.2.10:5060", Params: `reg-id=1;+sip.instance="<urn:uuid:1>"`, Q: 1, Expires: t0.Add(time.Minute),
		ExpiresIn: 60, Transport: "udp", Source: "192.0.2.10:5060", UserAgent: "sipp", CallID: "reg-sip:alice@192.0.2.10:5060",
		CSeq: 1, Updated: t0}
	if fmt.Sprint(r) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", r, want)
	}
}

func TestListRegistrationsHidesExpiredAndTruncates(t *testing.T) {
	f := newFixture(t, "", nil)
	f.bind(t, "sip:old@example.com", "sip:old@192.0.2.9", "192.0.2.9:5060", time.Minute)
	f.clk.Advance(time.Minute) // expired at exactly now
	if got := contacts(decode[regList](t, f.do("GET", "/api/registrations", ""))); got != "" {
		t.Errorf("expired binding listed: %q", got)
	}
	for i := range maxListed + 1 {
		f.bind(t, fmt.Sprintf("sip:u%d@example.com", i), "sip:x@192.0.2.1", "192.0.2.1:5060", time.Hour)
	}
	l := decode[regList](t, f.do("GET", "/api/registrations", ""))
	if len(l.Registrations) != maxListed || !l.Truncated {
		t.Errorf("%d listed, truncated %v; want %d and true", len(l.Registrations), l.Truncated, maxListed)
	}
}

// downStore is a location store whose writes fail, as Redis's do while
// it is down.
type downStore struct{ *location.Memory }

func (downStore) Update(context.Context, string, time.Time, func([]location.Binding) ([]location.Binding, error)) ([]location.Binding, error) {
	return nil, errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
}

// TestRemoveRegistrationStoreDown: removing a binding while the store
// is down answers 503 naming the store, as /readyz does, not 500.
func TestRemoveRegistrationStoreDown(t *testing.T) {
	f := newFixture(t, "", nil)
	f.srv.cfg.Store = downStore{f.store}
	w := f.do("DELETE", "/api/registrations?aor=sip:bob@example.com&contact=*", "")
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "location store unavailable") {
		t.Errorf("DELETE with the store down: %d %s, want 503 location store unavailable", w.Code, w.Body)
	}
}

func TestRemoveRegistration(t *testing.T) {
	f := newFixture(t, "", nil)
	f.bind(t, "sip:bob@example.com", "sip:bob@192.0.2.20:5062", "192.0.2.20:5062", time.Hour)
	f.bind(t, "sip:bob@example.com", "sip:bob@192.0.2.21:5062", "192.0.2.21:5062", time.Hour)
	f.bind(t, "sip:carol@example.com", "sip:carol@192.0.2.30", "192.0.2.30:5060", time.Hour)
	q := func(aor, contact string) string {
		return "/api/registrations?" + url.Values{"aor": {aor}, "contact": {contact}}.Encode()
	}
	for _, tt := range []struct {
		target string
		code   int
		body   string
	}{
		{q("sip:bob@example.com", "sip:bob@192.0.2.20:5062"), 200, `{"removed":1}`},
		{q("sip:bob@example.com", "sip:bob@192.0.2.20:5062"), 404, "no such binding"},
		{q("sip:nobody@example.com", "sip:x"), 404, "no such binding"},
		{"/api/registrations?aor=sip:bob@example.com", 400, "aor and contact are required"},
		{q("sip:carol@example.com", "*"), 200, `{"removed":1}`},
	} {
		w := f.do("DELETE", tt.target, "")
		if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.body) {
			t.Errorf("DELETE %s: %d %q, want %d %q", tt.target, w.Code, w.Body.String(), tt.code, tt.body)
		}
	}
	if got := contacts(decode[regList](t, f.do("GET", "/api/registrations", ""))); got != "sip:bob@192.0.2.21:5062" {
		t.Errorf("left %q", got)
	}
	if w := f.do("PUT", "/api/registrations", ""); w.Code != 405 {
		t.Errorf("PUT: %d, want 405", w.Code)
	}
}

func TestListUsers(t *testing.T) {
	for _, tt := range []struct {
		lister UserLister
		code   int
		body   string
	}{
		{nil, 200, `{"users":[]}`},
		{users{"carol", "alice", "bob"}, 200, `{"users":["alice","bob","carol"]}`},
		{users(nil), 500, "store down"},
	} {
		f := newFixture(t, "", tt.lister)
		w := f.do("GET", "/api/users", "")
		if w.Code != tt.code || strings.TrimSpace(w.Body.String()) != tt.body && !strings.Contains(w.Body.String(), tt.body) {
			t.Errorf("%v: %d %q, want %d %q", tt.lister, w.Code, w.Body.String(), tt.code, tt.body)
		}
	}
}

var (
	parleyAddr = netip.MustParseAddrPort("127.0.0.1:5060")
	aliceAddr  = netip.MustParseAddrPort("127.0.0.1:5070")
	bobAddr    = netip.MustParseAddrPort("127.0.0.1:5080")
)

func sipMsg(first, callID, cseq, toTag string) []byte {
	to := "<sip:bob@example.com>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	return []byte(first + "\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\nFrom: <sip:alice@example.com>;tag=a\r\n" +
		"To: " + to + "\r\nCall-ID: " + callID + "\r\nCSeq: 1 " + cseq + "\r\nContent-Length: 0\r\n\r\n")
}

// call captures the start of a call and its answer as Parley sees them.
func (f *fixture) call(callID string) {
	f.obs.Capture(observe.Received, "udp", parleyAddr, aliceAddr, sipMsg("INVITE sip:bob@example.com SIP/2.0", callID, "INVITE", ""))
	f.obs.Capture(observe.Sent, "udp", parleyAddr, bobAddr, sipMsg("INVITE sip:bob@127.0.0.1:5080 SIP/2.0", callID, "INVITE", ""))
	f.obs.Capture(observe.Received, "udp", parleyAddr, bobAddr, sipMsg("SIP/2.0 200 OK", callID, "INVITE", "b"))
	f.obs.Capture(observe.Sent, "udp", parleyAddr, aliceAddr, sipMsg("SIP/2.0 200 OK", callID, "INVITE", "b"))
	f.obs.Flush()
}

func TestCallsAndLadder(t *testing.T) {
	f := newFixture(t, "", nil)
	f.call("a/b@host") // a Call-ID with a slash must still address its ladder
	f.call("other@host")

	calls := decode[struct {
		Active []call `json:"active"`
		Recent []call `json:"recent"`
	}](t, f.do("GET", "/api/calls", ""))
	if len(calls.Active) != 2 || len(calls.Recent) != 0 {
		t.Fatalf("calls %+v", calls)
	}
	c := calls.Active[0]
	if c.CallID != "a/b@host" || c.State != observe.CallEstablished || c.Caller != "<sip:alice@example.com>" ||
		c.Source != aliceAddr.String() || c.DurationSeconds != 0 {
		t.Errorf("call %+v", c)
	}

	w := f.do("GET", "/api/calls/"+url.PathEscape("a/b@host")+"/messages", "")
	ladder := decode[struct {
		CallID   string    `json:"call_id"`
		Messages []message `json:"messages"`
	}](t, w)
	if ladder.CallID != "a/b@host" || len(ladder.Messages) != 4 {
		t.Fatalf("ladder %s with %d messages: %s", ladder.CallID, len(ladder.Messages), w.Body.String())
	}
	m := ladder.Messages[1]
	if m.Direction != "sent" || m.Src != parleyAddr.String() || m.Dst != bobAddr.String() || m.Local != parleyAddr.String() ||
		m.Peer != bobAddr.String() || m.Method != "INVITE" || m.FirstLine != "INVITE sip:bob@127.0.0.1:5080 SIP/2.0" ||
		!strings.HasPrefix(m.Text, "INVITE sip:bob@127.0.0.1:5080") || m.Seq != 2 {
		t.Errorf("message %+v", m)
	}
	if r := ladder.Messages[2]; r.Status != 200 || r.CSeqMethod != "INVITE" || r.Method != "" {
		t.Errorf("response %+v", r)
	}
	if w := f.do("GET", "/api/calls/unknown/messages", ""); !strings.Contains(w.Body.String(), `"messages":[]`) {
		t.Errorf("unknown call: %s", w.Body.String())
	}
}

func TestStats(t *testing.T) {
	f := newFixture(t, "", nil)
	f.call("c1")
	st := decode[struct {
		Server  map[string]int `json:"server"`
		Capture observe.Stats  `json:"capture"`
	}](t, f.do("GET", "/api/stats", ""))
	if st.Server["uptime_seconds"] != 42 || st.Capture.Captured != 4 || st.Capture.ActiveCalls != 1 || st.Capture.CaptureMessages != 100 {
		t.Errorf("stats %+v", st)
	}
}

func TestConfigState(t *testing.T) {
	f := newFixture(t, "", nil)
	st := decode[map[string][]string](t, f.do("GET", "/api/config", ""))
	if got := st["pending_restart"]; len(got) != 1 || got[0] != "listen" {
		t.Errorf("/api/config %+v", st)
	}
	f.srv.cfg.Reload = nil
	if w := f.do("GET", "/api/config", ""); w.Code != 404 {
		t.Errorf("without Reload: %d, want 404", w.Code)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	f := newFixture(t, testToken, nil)
	f.call("c1")
	body := f.do("GET", "/metrics", testToken).Body.String()
	for _, want := range []string{
		`parley_sip_requests_total{direction="received",method="INVITE"} 1`,
		`parley_sip_responses_total{class="2xx",direction="sent",method="INVITE"} 1`,
		"parley_calls_active 1",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestStream reads the live events over a real connection, then checks
// that Shutdown ends the stream rather than waiting for the client.
func TestStream(t *testing.T) {
	f := newFixture(t, "", nil)
	f.srv.cfg.Listen = "127.0.0.1:0"
	if err := f.srv.Start(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + f.srv.Addr().String()
	resp, err := http.Get(base + "/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "event: ") || strings.HasPrefix(line, "data: ") {
				events <- line
			}
		}
		close(events)
	}()
	deadline := time.After(5 * time.Second)
	// The handler subscribes before it sends the headers, so this message
	// is streamed.
	f.obs.Capture(observe.Received, "udp", parleyAddr, aliceAddr, sipMsg("INVITE sip:bob@example.com SIP/2.0", "live", "INVITE", ""))
	want := []string{"event: message", `"call_id":"live"`, "event: call", `"state":"trying"`}
	for _, w := range want {
		select {
		case got, ok := <-events:
			if !ok || !strings.Contains(got, w) {
				t.Fatalf("got %q, want %q", got, w)
			}
		case <-deadline:
			t.Fatalf("no %q within 5s", w)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an open stream: %v", err)
	}
	for range events {
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still serving after Shutdown")
	}
}

func TestStreamLimit(t *testing.T) {
	f := newFixture(t, "", nil)
	for range maxStreams {
		f.srv.streams <- struct{}{}
	}
	if w := f.do("GET", "/api/stream", ""); w.Code != 503 {
		t.Errorf("stream past the limit: %d", w.Code)
	}
}

func TestStartFails(t *testing.T) {
	s := New(Config{Listen: "127.0.0.1:99999"})
	if err := s.Start(); err == nil {
		t.Error("Start with a bad port succeeded")
	}
	if s.Addr() != nil {
		t.Error("Addr without a listener")
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestRegistrationNode: in a cluster each binding shows the node that
// holds its flow, read from the Path that node stored.
func TestRegistrationNode(t *testing.T) {
	f := newFixture(t, "", nil)
	for _, b := range []location.Binding{
		{Contact: "sip:bob@192.0.2.20:5062", Path: []string{"<sip:ft.x@10.0.0.2:5060;lr;ob;node=n2>"}},
		{Contact: "sip:bob@192.0.2.21:5062", Path: []string{"<sip:edge.example.net;lr>"}},
		{Contact: "sip:bob@192.0.2.22:5062"},
	} {
		_, err := f.store.Update(context.Background(), "sip:bob@example.com", t0, func(cur []location.Binding) ([]location.Binding, error) {
			b.Expires, b.Q = t0.Add(time.Hour), 1000
			return append(cur, b), nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	nodes := map[string]string{}
	for _, r := range decode[regList](t, f.do("GET", "/api/registrations?aor=bob", "")).Registrations {
		nodes[r.Contact] = r.Node
	}
	want := map[string]string{"sip:bob@192.0.2.20:5062": "n2", "sip:bob@192.0.2.21:5062": "", "sip:bob@192.0.2.22:5062": ""}
	if fmt.Sprint(nodes) != fmt.Sprint(want) {
		t.Errorf("nodes %v, want %v", nodes, want)
	}
}
