package upstream_test

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/subscriber"
	"github.com/parley-sip/parley/transport"
	"github.com/parley-sip/parley/upstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var listener = &transport.ListenerInfo{Proto: transport.UDP, Bound: netip.MustParseAddrPort("192.0.2.1:5060"), Host: "192.0.2.1", Port: 5060}

type tp struct{}

func (tp) ListenerFor(transport.Proto, netip.Addr) *transport.ListenerInfo { return listener }
func (tp) ChooseProto(dst transport.Target, _ int) transport.Proto         { return dst.Proto }

type ctx struct{}

func (ctx) Terminate() {}

// provider plays a registrar: each REGISTER gets the next of its
// answers, made from the request by a function.
type provider struct {
	mu      sync.Mutex
	got     []*sip.Message
	answers []func(req *sip.Message) *sip.Message
}

func (p *provider) Request(req *sip.Message, _ transport.Target, onResponse func(*sip.Message)) (outbound.ClientTx, error) {
	p.mu.Lock()
	p.got = append(p.got, req)
	var answer func(*sip.Message) *sip.Message
	if len(p.answers) > 0 {
		answer, p.answers = p.answers[0], p.answers[1:]
	}
	p.mu.Unlock()
	if answer == nil {
		answer = status(503, "Nothing Scripted")
	}
	go onResponse(answer(req))
	return ctx{}, nil
}

func (p *provider) requests() []*sip.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*sip.Message(nil), p.got...)
}

func (p *provider) script(answers ...func(*sip.Message) *sip.Message) {
	p.mu.Lock()
	p.answers = append(p.answers, answers...)
	p.mu.Unlock()
}

func status(code int, reason string, extra ...string) func(*sip.Message) *sip.Message {
	return func(req *sip.Message) *sip.Message { return sip.NewResponse(req, code, reason, "p", extra...) }
}

func challenge(code int, alg string, stale bool) func(*sip.Message) *sip.Message {
	h := "WWW-Authenticate"
	if code == 407 {
		h = "Proxy-Authenticate"
	}
	v := `Digest realm="sip.provider.example", nonce="n-` + alg + `", qop="auth", algorithm=` + alg + `, opaque="op"`
	if stale {
		v += ", stale=true"
	}
	return status(code, "Challenge", h, v)
}

// accepts checks the request's credentials as a registrar would, and
// answers 200 granting the lifetime in the Contact, or 403.
func accepts(password string, contactExpires string) func(*sip.Message) *sip.Message {
	return func(req *sip.Message) *sip.Message {
		v := req.Header("Authorization")
		if v == "" {
			v = req.Header("Proxy-Authorization")
		}
		c, err := auth.ParseCredentials(v)
		if err != nil {
			return sip.NewResponse(req, 400, "Bad Credentials", "p")
		}
		ha1 := subscriber.HA1(c.Algorithm, c.Username, c.Realm, password)
		if c.Response != auth.Response(c.Algorithm, ha1, "REGISTER", c.URI, c.Nonce, c.NC, c.CNonce, c.QOP) || c.Opaque != "op" {
			return sip.NewResponse(req, 403, "Wrong Password", "p")
		}
		return sip.NewResponse(req, 200, "OK", "p", "Contact", req.Header("Contact")+";expires="+contactExpires)
	}
}

func account() upstream.Account {
	u, _ := sip.ParseURI("sip:198.51.100.9")
	return upstream.Account{Name: "provider", Registrar: u, Username: "4930123456", Password: "secret", ContactUser: "office", Expires: 600 * time.Second}
}

func newClient(t *testing.T, p *provider, clk clock.Clock, log *slog.Logger) *upstream.Client {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	out := outbound.New(outbound.Config{Transport: tp{}, Transactions: p, Log: log})
	return upstream.New(account(), out, clk, log)
}

func TestRegister(t *testing.T) {
	tests := []struct {
		name    string
		answers []func(*sip.Message) *sip.Message
		granted time.Duration
		err     string
		sent    int
	}{
		{"MD5 challenge", []func(*sip.Message) *sip.Message{challenge(401, "MD5", false), accepts("secret", "120")}, 120 * time.Second, "", 2},
		{"SHA-256 proxy challenge", []func(*sip.Message) *sip.Message{challenge(407, "SHA-256", false), accepts("secret", "300")}, 300 * time.Second, "", 2},
		{"no challenge", []func(*sip.Message) *sip.Message{status(200, "OK", "Expires", "90")}, 90 * time.Second, "", 1},
		{"wrong password", []func(*sip.Message) *sip.Message{challenge(401, "MD5", false), challenge(401, "MD5", false)}, 0, "credentials refused", 2},
		{"stale nonce", []func(*sip.Message) *sip.Message{challenge(401, "MD5", false), challenge(401, "MD5", true), accepts("secret", "60")}, 60 * time.Second, "", 3},
		{"interval too brief", []func(*sip.Message) *sip.Message{status(423, "Interval Too Brief", "Min-Expires", "1200"), status(200, "OK")}, 1200 * time.Second, "", 2},
		{"unsupported challenge", []func(*sip.Message) *sip.Message{status(401, "Unauthorized", "WWW-Authenticate", `Digest realm="r", nonce="n", algorithm=SHA-512-256`)}, 0, "no digest challenge", 1},
		{"no lifetime granted", []func(*sip.Message) *sip.Message{status(200, "OK", "Expires", "0")}, 0, "granted no lifetime", 1},
		{"forbidden", []func(*sip.Message) *sip.Message{status(403, "Forbidden")}, 0, "403 Forbidden", 1},
		{"timeout", []func(*sip.Message) *sip.Message{status(408, "Request Timeout")}, 0, "408", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &provider{}
			p.script(tc.answers...)
			c := newClient(t, p, clock.NewFake(time.Unix(0, 0)), nil)
			got, err := c.Register(context.Background())
			if got != tc.granted || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Register = %v, %v; want %v, error with %q", got, err, tc.granted, tc.err)
			}
			reqs := p.requests()
			if len(reqs) != tc.sent {
				t.Fatalf("%d REGISTERs sent, want %d", len(reqs), tc.sent)
			}
			first, _ := reqs[0].CallID()
			for i, r := range reqs {
				id, _ := r.CallID()
				cs, _ := r.CSeq()
				if id != first || cs.Seq != uint32(i+1) || r.RequestURI() != "sip:198.51.100.9" {
					t.Errorf("REGISTER %d: Call-ID %q CSeq %d URI %s; want one Call-ID, CSeq counting from 1", i, id, cs.Seq, r.RequestURI())
				}
				if got := r.Header("Contact"); got != "<sip:office@192.0.2.1:5060>" {
					t.Errorf("REGISTER %d: Contact %q", i, got)
				}
				if got := r.Header("To"); got != "<sip:4930123456@198.51.100.9>" {
					t.Errorf("REGISTER %d: To %q", i, got)
				}
			}
		})
	}
}

// lines counts the log records at each level.
type lines struct {
	mu sync.Mutex
	n  map[slog.Level]int
}

func (l *lines) Enabled(context.Context, slog.Level) bool { return true }
func (l *lines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.n[r.Level]++
	l.mu.Unlock()
	return nil
}
func (l *lines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lines) WithGroup(string) slog.Handler      { return l }
func (l *lines) count(level slog.Level) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[level]
}

// TestRefreshAndBackoff: a registration is refreshed before it expires;
// a failed one is retried after 5 s, then 10 s; the log says each change
// of state once.
func TestRefreshAndBackoff(t *testing.T) {
	p := &provider{}
	clk := clock.NewFake(time.Unix(1000, 0))
	log := &lines{n: map[slog.Level]int{}}
	c := newClient(t, p, clk, slog.New(log))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	step := func(advance time.Duration, answer func(*sip.Message) *sip.Message, want upstream.State, sent int) {
		t.Helper()
		p.script(answer)
		waitFor(t, func() bool { return clk.Pending() > 0 })
		clk.Advance(advance)
		waitFor(t, func() bool { return len(p.requests()) == sent && c.Status().State == want })
	}
	c.Start(ctx)
	step(0, status(200, "OK", "Expires", "120"), upstream.Registered, 1)
	if st := c.Status(); !st.Expires.Equal(time.Unix(1120, 0).UTC()) {
		t.Errorf("Expires = %v, want 120 s from now", st.Expires)
	}
	// Refreshed at 90 s, 30 s before it runs out.
	waitFor(t, func() bool { return clk.Pending() > 0 })
	clk.Advance(89 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if n := len(p.requests()); n != 1 {
		t.Fatalf("%d REGISTERs before the refresh is due", n)
	}
	p.script(status(503, "Service Unavailable"))
	clk.Advance(time.Second)
	waitFor(t, func() bool { return len(p.requests()) == 2 && c.Status().State == upstream.Failed })
	step(5*time.Second, status(500, "Oops"), upstream.Failed, 3)
	step(10*time.Second, status(200, "OK", "Expires", "120"), upstream.Registered, 4)
	if st := c.Status(); st.Failures != 0 || st.LastError != "" {
		t.Errorf("after success: %+v", st)
	}
	if w, i := log.count(slog.LevelWarn), log.count(slog.LevelInfo); w != 1 || i != 2 {
		t.Errorf("logged %d warnings and %d infos, want 1 and 2 (once per change)", w, i)
	}
	cancel()
	waitFor(t, func() bool { return clk.Pending() == 0 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMetrics(t *testing.T) {
	p := &provider{}
	p.script(status(200, "OK"))
	clk := clock.NewFake(time.Unix(0, 0))
	c := newClient(t, p, clk, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs := upstream.Clients{c}
	cs.Start(ctx)
	clk.Advance(0)
	waitFor(t, func() bool { return c.Status().State == upstream.Registered })
	want := `
# HELP parley_trunk_registered 1 while Parley's registration to the trunk's provider is in force, else 0.
# TYPE parley_trunk_registered gauge
parley_trunk_registered{trunk="provider"} 1
`
	if err := testutil.CollectAndCompare(cs, strings.NewReader(want), "parley_trunk_registered"); err != nil {
		t.Error(err)
	}
}

// TestUnregister: a registered account is removed with Expires: 0 when
// the server stops; an unregistered one sends nothing.
func TestUnregister(t *testing.T) {
	p := &provider{}
	p.script(status(200, "OK", "Expires", "120"), challenge(401, "MD5", false), accepts("secret", "0"))
	clk := clock.NewFake(time.Unix(0, 0))
	c := newClient(t, p, clk, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Start(ctx)
	clk.Advance(0)
	waitFor(t, func() bool { return c.Status().State == upstream.Registered })
	upstream.Clients{c}.Unregister(context.Background())
	reqs := p.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d REGISTERs, want the registration and the challenged removal", len(reqs))
	}
	if got := reqs[2].Header("Expires"); got != "0" {
		t.Errorf("removal has Expires %q, want 0", got)
	}
	if c.Status().State == upstream.Registered || clk.Pending() != 0 {
		t.Errorf("after Unregister: %+v, %d timers", c.Status(), clk.Pending())
	}

	idle := newClient(t, &provider{}, clock.NewFake(time.Unix(0, 0)), nil)
	if err := idle.Unregister(context.Background()); err != nil {
		t.Errorf("Unregister of an account never registered: %v", err)
	}
}
