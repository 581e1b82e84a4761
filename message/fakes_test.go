package message_test

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

var listener = &transport.ListenerInfo{Proto: transport.UDP, Bound: netip.MustParseAddrPort("192.0.2.1:5060"), Host: "192.0.2.1", Port: 5060}

// phones is a transport and a transaction layer whose phones answer
// every request with the code set for their address (200 when unset).
type phones struct {
	mu    sync.Mutex
	codes map[netip.AddrPort]int
	sent  []*sip.Message
	dsts  []netip.AddrPort
}

func (w *phones) Send(transport.Target, []byte) error { return nil }
func (w *phones) ListenerFor(transport.Proto, netip.Addr) *transport.ListenerInfo {
	return listener
}
func (w *phones) Listeners() []*transport.ListenerInfo { return []*transport.ListenerInfo{listener} }
func (w *phones) ChooseProto(dst transport.Target, _ int) transport.Proto {
	return dst.Proto
}

type clientTx struct{}

func (clientTx) Terminate() {}

func (w *phones) Request(req *sip.Message, dst transport.Target, onResponse func(*sip.Message)) (proxy.ClientTx, error) {
	w.mu.Lock()
	w.sent = append(w.sent, req)
	w.dsts = append(w.dsts, dst.Addr)
	code := w.codes[dst.Addr]
	w.mu.Unlock()
	if code == 0 {
		code = 200
	}
	go onResponse(sip.NewResponse(req, code, "", "phone"))
	return clientTx{}, nil
}

func (w *phones) requests() []*sip.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*sip.Message(nil), w.sent...)
}

// answers records the responses to a request.
type answers struct {
	mu    sync.Mutex
	resps []*sip.Message
	final chan struct{}
}

func newAnswers() *answers { return &answers{final: make(chan struct{})} }

func (a *answers) Respond(resp *sip.Message) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.resps = append(a.resps, resp)
	if resp.StatusCode() >= 200 {
		close(a.final)
	}
	return nil
}

// wait returns the final response.
func (a *answers) wait(t *testing.T) *sip.Message {
	t.Helper()
	select {
	case <-a.final:
	case <-time.After(5 * time.Second):
		t.Fatal("no final response")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.resps[len(a.resps)-1]
}

// load reads a SIP message from testdata, with CRLF line ends, after
// replacing each old with its new in the text.
func load(t *testing.T, file string, replace ...string) *sip.Message {
	t.Helper()
	data, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer(replace...).Replace(string(data))
	head, body, _ := strings.Cut(text, "\n\n")
	head = strings.ReplaceAll(head, "\n", "\r\n")
	if body != "" {
		body = strings.TrimSuffix(body, "\n")
	}
	text = head + "\r\n\r\n" + body
	m, err := sip.Parse([]byte(text))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return m
}

func incoming(m *sip.Message) *transport.Incoming {
	return &transport.Incoming{Msg: m, Proto: transport.UDP, Source: netip.MustParseAddrPort("198.51.100.7:5060"),
		Local: listener.Bound, Listener: listener}
}

// users is a subscriber database of a fixed set.
type users map[string]bool

func (u users) Exists(_ context.Context, user, domain string) (bool, error) {
	return u[user+"@"+domain], nil
}
