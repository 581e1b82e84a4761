package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

var (
	start    = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	listener = &transport.ListenerInfo{Proto: transport.UDP, Bound: netip.MustParseAddrPort("192.0.2.1:5060"), Host: "192.0.2.1", Port: 5060}
	source   = netip.MustParseAddrPort("198.51.100.7:5060")
)

// sent is one NOTIFY the fake sender got, waiting for its answer.
type sent struct {
	req   outbound.Request
	reply chan result
}

type result struct {
	code int
	err  error
}

// fakeSender hands each NOTIFY to the test, which answers it.
type fakeSender struct{ out chan sent }

func (f *fakeSender) Do(ctx context.Context, req outbound.Request) (*sip.Message, error) {
	s := sent{req: req, reply: make(chan result, 1)}
	select {
	case f.out <- s:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-s.reply:
		if r.err != nil {
			return nil, r.err
		}
		return sip.NewResponse(req.Msg, r.code, "", ""), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pkg is an event package whose state is a counter per resource.
type pkg struct {
	mu    sync.Mutex
	state map[string]int
	gone  map[string]bool
}

func (p *pkg) Event() string       { return "presence" }
func (p *pkg) ContentType() string { return "application/pidf+xml" }
func (p *pkg) Body(w Watch) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gone[w.Resource] {
		return nil, ErrNoResource
	}
	return fmt.Appendf(nil, "%s sees %s state %d version %d", w.Watcher, w.Resource, p.state[w.Resource], w.Version), nil
}

func (p *pkg) set(resource string, v int) {
	p.mu.Lock()
	p.state[resource] = v
	p.mu.Unlock()
}

// rig is a notifier behind a real proxy chain, a fake clock and sender.
type rig struct {
	t     *testing.T
	clk   *clock.Fake
	out   *fakeSender
	n     *Notifier
	p     *proxy.Proxy
	pkg   *pkg
	store Store
}

type wire struct{}

func (wire) Send(transport.Target, []byte) error                             { return nil }
func (wire) ListenerFor(transport.Proto, netip.Addr) *transport.ListenerInfo { return listener }
func (wire) Listeners() []*transport.ListenerInfo                            { return []*transport.ListenerInfo{listener} }
func (wire) ChooseProto(dst transport.Target, _ int) transport.Proto         { return dst.Proto }
func (wire) Request(*sip.Message, transport.Target, func(*sip.Message)) (proxy.ClientTx, error) {
	return nil, fmt.Errorf("no relaying in these tests")
}

func newRig(t *testing.T, pol Policy, store Store) *rig {
	t.Helper()
	if store == nil {
		store = NewMemory()
	}
	return rigWith(t, pol, store)
}

// rigWith is newRig with store as given: nil runs the notifier storeless.
func rigWith(t *testing.T, pol Policy, store Store) *rig {
	t.Helper()
	rg := &rig{t: t, clk: clock.NewFake(start), out: &fakeSender{out: make(chan sent, 16)},
		pkg: &pkg{state: map[string]int{}, gone: map[string]bool{}}, store: store}
	rg.n = New(Config{Sender: rg.out, Clock: rg.clk, Store: store, Policy: pol,
		Domains: func(d string) bool { return d == "example.com" || d == "example.org" },
		Log:     slog.New(slog.DiscardHandler), RetryWait: time.Second, Retries: 2})
	rg.n.Register(rg.pkg)
	stages, err := proxy.Insert(proxy.DefaultStages(), "location", rg.n.Stage())
	if err != nil {
		t.Fatal(err)
	}
	if stages, err = proxy.Insert(stages, "route", rg.n.DialogStage()); err != nil {
		t.Fatal(err)
	}
	// The watchers sit on a trusted network, so that a request the
	// notifier passes on reaches the relay rather than the relay check.
	trusted := func(netip.Addr) bool { return true }
	rg.p = proxy.New(proxy.Config{Domains: rg.n.cfg.Domains, Stages: stages, Clock: rg.clk, RelayTrusted: trusted}, wire{}, wire{}, nil, nil,
		slog.New(slog.DiscardHandler))
	t.Cleanup(rg.n.Close)
	return rg
}

// serverTx keeps the responses to a request.
type serverTx struct {
	mu    sync.Mutex
	resps []*sip.Message
}

func (s *serverTx) Respond(resp *sip.Message) error {
	s.mu.Lock()
	s.resps = append(s.resps, resp)
	s.mu.Unlock()
	return nil
}

// serve runs a request through the chain and returns its final response.
func (rg *rig) serve(m *sip.Message) *sip.Message {
	rg.t.Helper()
	tx := &serverTx{}
	rg.p.ServeRequest(tx, &transport.Incoming{Msg: m, Proto: transport.UDP, Source: source, Local: listener.Bound, Listener: listener})
	tx.mu.Lock()
	defer tx.mu.Unlock()
	for _, r := range tx.resps {
		if r.StatusCode() >= 200 {
			return r
		}
	}
	rg.t.Fatalf("no final response to\n%s", m)
	return nil
}

// notify waits for the next NOTIFY, answers it with code and returns it.
func (rg *rig) notify(code int) *sip.Message {
	rg.t.Helper()
	s := rg.next()
	s.reply <- result{code: code}
	rg.settle()
	return s.req.Msg
}

func (rg *rig) next() sent {
	rg.t.Helper()
	select {
	case s := <-rg.out.out:
		return s
	case <-time.After(5 * time.Second):
		rg.t.Fatal("no NOTIFY sent")
		return sent{}
	}
}

// quiet checks that no NOTIFY is sent.
func (rg *rig) quiet() {
	rg.t.Helper()
	select {
	case s := <-rg.out.out:
		rg.t.Fatalf("unexpected NOTIFY\n%s", s.req.Msg)
	case <-time.After(50 * time.Millisecond):
	}
}

// settle waits for the NOTIFY goroutines to apply their responses (and
// remove what they end); one that sends the next NOTIFY at once is left
// waiting in the fake sender.
func (rg *rig) settle() {
	deadline := time.Now().Add(5 * time.Second)
	for rg.n.Sending() > len(rg.out.out) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// load reads a message from testdata with edits: header name → value
// ("" removes it).
func load(t *testing.T, file string, edits ...string) *sip.Message {
	t.Helper()
	data, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := sip.Parse([]byte(strings.ReplaceAll(string(data), "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(edits); i += 2 {
		switch {
		case edits[i] == "Request-URI":
			m.SetRequestURI(edits[i+1])
		case edits[i+1] == "":
			m.RemoveHeader(edits[i])
		default:
			m.SetHeader(edits[i], edits[i+1])
		}
	}
	m, err = sip.Parse(m.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// watcher is the subscriber's side of a subscription dialog, for
// building its refreshes.
func watcher(t *testing.T, sub, resp *sip.Message) *dialog.Dialog {
	t.Helper()
	d, err := dialog.NewTable(dialog.Config{}).NewUAC(sub, resp)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func refresh(t *testing.T, w *dialog.Dialog, expires string) *sip.Message {
	t.Helper()
	m, err := w.NewRequest("SUBSCRIBE", "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK"+dialog.NewTag(),
		"Event", "presence", "Expires", expires)
	if err != nil {
		t.Fatal(err)
	}
	m, _ = sip.Parse(m.Bytes())
	return m
}

func header(m *sip.Message, name string) string { return m.Header(name) }

// rebuild returns m with another method in its start line and CSeq.
func rebuild(t *testing.T, method string, m *sip.Message) *sip.Message {
	t.Helper()
	text := string(m.Bytes())
	_, rest, _ := strings.Cut(text, " ")
	out, err := sip.Parse([]byte(method + " " + rest))
	if err != nil {
		t.Fatal(err)
	}
	return out
}
