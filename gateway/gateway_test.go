package gateway_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/gateway"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/sip"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// sender answers each Do with the next of its answers: a status code,
// or 0 for a transport error.
type sender struct {
	calls   chan *sip.Message
	answers chan int
}

func newSender() *sender {
	return &sender{calls: make(chan *sip.Message, 10), answers: make(chan int, 10)}
}

func (s *sender) Do(ctx context.Context, req outbound.Request) (*sip.Message, error) {
	s.calls <- req.Msg
	select {
	case code := <-s.answers:
		if code == 0 {
			return nil, outbound.ErrUnreachable
		}
		return sip.NewResponse(req.Msg, code, "X", "t"), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func newSet(t *testing.T, s gateway.Sender, clk clock.Clock, cfgs ...gateway.Config) *gateway.Set {
	t.Helper()
	set, err := gateway.New(cfgs, gateway.Options{Sender: s, Clock: clk, FromHost: "example.com", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestParseAddressAndURI(t *testing.T) {
	tests := []struct{ address, transport, user, want string }{
		{"sip:sip.provider.example", "", "+4930123", "sip:+4930123@sip.provider.example"},
		{"192.0.2.50:5080", "udp", "0301234", "sip:0301234@192.0.2.50:5080;transport=udp"},
		{"sip:[2001:db8::1]:5070;transport=tcp", "tls", "1", "sip:1@[2001:db8::1]:5070;transport=tls"},
		{"sip:old@gw.example;lr", "", "a b", "sip:a%20b@gw.example;lr"},
	}
	for _, tc := range tests {
		set := newSet(t, newSender(), clock.NewFake(time.Unix(0, 0)), gateway.Config{Name: "g", Address: tc.address, Transport: tc.transport})
		if got, _ := set.URI("g", tc.user); got != tc.want {
			t.Errorf("URI of %q (%q) for %q = %q, want %q", tc.address, tc.transport, tc.user, got, tc.want)
		}
	}
	if _, err := gateway.ParseAddress("sip:", ""); err == nil {
		t.Error("ParseAddress(sip:) succeeded")
	}
	set := newSet(t, newSender(), clock.NewFake(time.Unix(0, 0)))
	if _, ok := set.URI("nope", "1"); ok {
		t.Error("URI of an unknown gateway")
	}
}

func TestCredentials(t *testing.T) {
	set := newSet(t, newSender(), clock.NewFake(time.Unix(0, 0)),
		gateway.Config{Name: "acct", Address: "192.0.2.50", Username: "4930", Password: "pw"},
		gateway.Config{Name: "ip", Address: "192.0.2.51"})
	if u, p, ok := set.Credentials("acct"); !ok || u != "4930" || p != "pw" {
		t.Errorf("Credentials(acct) = %q, %q, %v", u, p, ok)
	}
	for _, name := range []string{"ip", "nope"} {
		if _, _, ok := set.Credentials(name); ok {
			t.Errorf("Credentials(%s) ok", name)
		}
	}
}

func TestSource(t *testing.T) {
	set := newSet(t, newSender(), clock.NewFake(time.Unix(0, 0)),
		gateway.Config{Name: "v4", Address: "192.0.2.50:5080"},
		gateway.Config{Name: "v6", Address: "sip:[2001:db8::1]"},
		gateway.Config{Name: "named", Address: "sip.provider.example", Sources: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/28")}})
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.50", "v4"}, {"::ffff:192.0.2.50", "v4"}, {"2001:db8::1", "v6"}, {"192.0.2.51", ""},
		{"198.51.100.15", "named"}, {"198.51.100.16", ""},
	} {
		got, ok := set.Source(netip.MustParseAddr(tc.addr))
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("Source(%s) = %q, %v; want %q", tc.addr, got, ok, tc.want)
		}
	}
}

// TestPing: any answer of the gateway's own proves it alive; a
// timeout, a transport error and 503 mark it down.
func TestPing(t *testing.T) {
	tests := []struct {
		code int
		up   bool
	}{{200, true}, {404, true}, {405, true}, {503, false}, {408, false}, {0, false}}
	for _, tc := range tests {
		s := newSender()
		set := newSet(t, s, clock.NewFake(time.Unix(0, 0)), gateway.Config{Name: "g", Address: "192.0.2.50"})
		s.answers <- tc.code
		err := set.Ping(context.Background(), "g")
		if (err == nil) != tc.up || set.Up("g") != tc.up {
			t.Errorf("answer %d: Ping = %v, Up = %v; want up %v", tc.code, err, set.Up("g"), tc.up)
		}
		req := <-s.calls
		if req.Method() != "OPTIONS" || req.RequestURI() != "sip:192.0.2.50" || req.FromTag() == "" {
			t.Errorf("ping is %s %s with From tag %q", req.Method(), req.RequestURI(), req.FromTag())
		}
		cs, err := req.CSeq()
		if id, _ := req.CallID(); err != nil || cs.Method != "OPTIONS" || id == "" {
			t.Errorf("ping CSeq %+v (%v), Call-ID %q", cs, err, id)
		}
	}
}

// TestPingsOnTheClock: pings run every interval of the clock; a gateway
// that misses one is down until it answers again.
func TestPingsOnTheClock(t *testing.T) {
	s := newSender()
	clk := clock.NewFake(time.Unix(1000, 0))
	set := newSet(t, s, clk, gateway.Config{Name: "g", Address: "192.0.2.50", PingInterval: 30 * time.Second},
		gateway.Config{Name: "quiet", Address: "192.0.2.51"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	set.Start(ctx)

	for i, step := range []struct {
		code int
		up   bool
	}{{200, true}, {0, false}, {503, false}, {404, true}} {
		if i > 0 {
			waitPending(t, clk)
			clk.Advance(30 * time.Second)
		} else {
			clk.Advance(0)
		}
		select {
		case <-s.calls:
		case <-time.After(5 * time.Second):
			t.Fatalf("ping %d not sent", i)
		}
		s.answers <- step.code
		waitFor(t, func() bool { return set.Up("g") == step.up })
	}
	st := set.States()
	if len(st) != 2 || st[0].Pings != 4 || st[0].Failed != 2 || !st[0].Up || st[0].Since.IsZero() {
		t.Errorf("States = %+v", st)
	}
	if st[1].Pings != 0 || !st[1].Up {
		t.Errorf("a gateway without ping_interval: %+v, want never pinged and up", st[1])
	}
	waitPending(t, clk)
	cancel()
	waitFor(t, func() bool { return clk.Pending() == 0 })
}

func waitPending(t *testing.T, clk *clock.Fake) {
	t.Helper()
	waitFor(t, func() bool { return clk.Pending() > 0 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMetrics(t *testing.T) {
	s := newSender()
	set := newSet(t, s, clock.NewFake(time.Unix(0, 0)), gateway.Config{Name: "a", Address: "192.0.2.50"}, gateway.Config{Name: "b", Address: "192.0.2.51"})
	s.answers <- 0
	_ = set.Ping(context.Background(), "b")
	want := `
# HELP parley_gateway_up 1 while the gateway is in service (answering pings, or not pinged), 0 while it is skipped.
# TYPE parley_gateway_up gauge
parley_gateway_up{gateway="a"} 1
parley_gateway_up{gateway="b"} 0
`
	if err := testutil.CollectAndCompare(set, strings.NewReader(want), "parley_gateway_up"); err != nil {
		t.Error(err)
	}
}

// FuzzParseAddress: no address panics, and one that parses gives URIs
// that parse back.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"sip:gw.example", "192.0.2.1:5080", "sip:[2001:db8::1];transport=tcp", "sips:a@b:1", "sip:", ":", "[::1"} {
		f.Add(s, "udp")
	}
	f.Fuzz(func(t *testing.T, address, transport string) {
		u, err := gateway.ParseAddress(address, transport)
		if err != nil {
			return
		}
		if _, err := sip.ParseURI(u.String()); err != nil && transport == "" {
			t.Fatalf("ParseAddress(%q) = %q, which does not parse: %v", address, u.String(), err)
		}
	})
}

// resolver answers with the address it holds now.
type resolver struct{ addr atomic.Pointer[netip.Addr] }

func (r *resolver) ResolveHost(context.Context, string) (netip.Addr, error) {
	if a := r.addr.Load(); a != nil {
		return *a, nil
	}
	return netip.Addr{}, errors.New("no such host")
}

// TestSourceFollowsDNS: a gateway named by a host name is recognised
// by the address the name has now, looked up at start and before each
// ping.
func TestSourceFollowsDNS(t *testing.T) {
	s := newSender()
	res := &resolver{}
	first, second := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")
	res.addr.Store(&first)
	clk := clock.NewFake(time.Unix(0, 0))
	set, err := gateway.New([]gateway.Config{{Name: "p", Address: "sip.provider.example", PingInterval: time.Minute}},
		gateway.Options{Sender: s, Resolver: res, Clock: clk, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	set.Start(ctx)
	waitFor(t, func() bool { _, ok := set.Source(first); return ok })
	res.addr.Store(&second)
	waitFor(t, func() bool { return clk.Pending() > 0 })
	clk.Advance(0)
	<-s.calls
	s.answers <- 200
	waitFor(t, func() bool { _, ok := set.Source(second); return ok })
	if _, ok := set.Source(first); ok {
		t.Error("the old address is still the gateway's")
	}
	res.addr.Store(nil)
	waitFor(t, func() bool { return clk.Pending() > 0 })
	clk.Advance(time.Minute)
	<-s.calls
	s.answers <- 200
	waitFor(t, func() bool { return clk.Pending() > 0 })
	if _, ok := set.Source(second); !ok {
		t.Error("a failed lookup forgot the address")
	}
}

// lockedBuffer is a log sink for handlers written to from several
// goroutines (the start's lookup and the pings).
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// TestUnresolvableHostLoggedOnce: a host name that never resolves is
// looked up at start and before every ping, but logged once, as the
// README promises of each change; once it resolves, that is logged, and
// a later failure is not (the address known is kept).
func TestUnresolvableHostLoggedOnce(t *testing.T) {
	s := newSender()
	res := &resolver{}
	logs := &lockedBuffer{}
	clk := clock.NewFake(time.Unix(0, 0))
	set, err := gateway.New([]gateway.Config{{Name: "p", Address: "sip.provider.example", PingInterval: time.Minute}},
		gateway.Options{Sender: s, Resolver: res, Clock: clk, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	set.Start(ctx)
	addr := netip.MustParseAddr("198.51.100.1")
	for i, step := range []struct {
		resolves           bool
		failures, resolved int
	}{{false, 1, 0}, {false, 1, 0}, {false, 1, 0}, {true, 1, 1}, {false, 1, 1}} {
		if step.resolves {
			res.addr.Store(&addr)
		} else {
			res.addr.Store(nil)
		}
		waitPending(t, clk)
		clk.Advance(time.Minute)
		<-s.calls
		s.answers <- 200
		waitPending(t, clk)
		if n, m := logs.count("cannot resolve its host"), logs.count("host resolved"); n != step.failures || m != step.resolved {
			t.Errorf("ping %d: %d failure and %d resolved lines, want %d and %d:\n%s", i, n, m, step.failures, step.resolved, logs)
		}
	}
}

// TestPingTimeoutNamesOptions: a ping nobody answers is logged as such,
// not as Go's "context deadline exceeded".
func TestPingTimeoutNamesOptions(t *testing.T) {
	s := newSender()
	set := newSet(t, s, clock.NewFake(time.Unix(0, 0)), gateway.Config{Name: "g", Address: "192.0.2.50", PingInterval: 30 * time.Second})
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	err := set.Ping(ctx, "g")
	if err == nil || !strings.Contains(err.Error(), "no answer to OPTIONS within 30s") || strings.Contains(err.Error(), "deadline") {
		t.Errorf("Ping without an answer = %v, want \"no answer to OPTIONS within 30s\"", err)
	}
	if set.Up("g") {
		t.Error("a gateway that does not answer stays up")
	}
}
