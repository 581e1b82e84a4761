package proxy_test

// A feature package adds a stage to the request route without proxy
// importing it: these tests are such a package, using only proxy's
// exported API.

import (
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

var listener = &transport.ListenerInfo{Proto: transport.UDP, Bound: netip.MustParseAddrPort("192.0.2.1:5060"), Host: "192.0.2.1", Port: 5060}

// wire is a transport and a transaction layer that record what the
// proxy sends.
type wire struct {
	mu   sync.Mutex
	sent []*sip.Message
}

func (w *wire) Send(_ transport.Target, msg []byte) error {
	m, err := sip.Parse(append([]byte(nil), msg...))
	w.mu.Lock()
	w.sent = append(w.sent, m)
	w.mu.Unlock()
	return err
}

func (w *wire) ListenerFor(transport.Proto, netip.Addr) *transport.ListenerInfo { return listener }
func (w *wire) Listeners() []*transport.ListenerInfo                            { return []*transport.ListenerInfo{listener} }
func (w *wire) ChooseProto(dst transport.Target, _ int) transport.Proto         { return dst.Proto }

type tx struct{}

func (tx) Terminate() {}

func (w *wire) Request(req *sip.Message, dst transport.Target, _ func(*sip.Message)) (proxy.ClientTx, error) {
	return tx{}, w.Send(dst, req.Bytes())
}

// serverTx records the responses to a request.
type serverTx struct{ codes []int }

func (s *serverTx) Respond(resp *sip.Message) error {
	s.codes = append(s.codes, resp.StatusCode())
	return nil
}

func request(t *testing.T, file string) *transport.Incoming {
	t.Helper()
	data, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), "\n", "\r\n")
	m, err := sip.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return &transport.Incoming{Msg: m, Proto: transport.UDP, Source: netip.MustParseAddrPort("198.51.100.7:5060"),
		Local: listener.Bound, Listener: listener}
}

// gateway is a dial plan: every MESSAGE goes to a gateway, whatever the
// location service would say.
var gateway = proxy.StageFunc{StageName: "gateway", Fn: func(r *proxy.Request, next func()) {
	if r.Msg.Method() == "MESSAGE" {
		r.AddTarget(proxy.Target{Dest: transport.Target{Proto: transport.UDP, Addr: netip.MustParseAddrPort("203.0.113.50:5060")}})
	}
	next()
}}

// busyOptions answers OPTIONS itself, before the proxy's local stage.
var busyOptions = proxy.StageFunc{StageName: "busy", Fn: func(r *proxy.Request, next func()) {
	if r.Msg.Method() != "OPTIONS" {
		next()
		return
	}
	if _, _, ok := r.Identity(); ok {
		r.Respond(500, "Authenticated Without Auth") // auth is off here: nobody is
		return
	}
	r.Respond(486, "Busy Here")
}}

func TestStageFromAnotherPackage(t *testing.T) {
	stages, err := proxy.Insert(proxy.DefaultStages(), "location", gateway)
	if err != nil {
		t.Fatal(err)
	}
	if stages, err = proxy.Insert(stages, "local", busyOptions); err != nil {
		t.Fatal(err)
	}
	for _, stateless := range []bool{false, true} {
		w := &wire{}
		cfg := proxy.Config{Domains: func(d string) bool { return d == "example.com" }, Stages: stages, Stateless: stateless}
		var txs proxy.Transactions = w
		if stateless {
			txs = nil
		}
		p := proxy.New(cfg, w, txs, nil, nil, slog.New(slog.DiscardHandler))

		stx := &serverTx{}
		p.ServeRequest(stx, request(t, "options.sip"))
		if len(stx.codes) != 1 || stx.codes[0] != 486 {
			t.Errorf("stateless=%v: OPTIONS answered %v, want [486] from the inserted stage", stateless, stx.codes)
		}
		if stateless {
			p.ServeRequest(nil, request(t, "message.sip"))
		} else {
			p.ServeRequest(&serverTx{}, request(t, "message.sip"))
		}
		if len(w.sent) != 1 || w.sent[0].RequestURI() != "sip:bob@example.com" {
			t.Fatalf("stateless=%v: sent %d messages, want the MESSAGE relayed to the gateway", stateless, len(w.sent))
		}

		got := map[string]proxy.StageStats{}
		for _, st := range p.StageStats() {
			got[st.Name] = st
		}
		for _, c := range []struct {
			stage   string
			outcome proxy.Outcome
			want    uint64
		}{
			{"sanity", proxy.OutcomeNext, 2},
			{"busy", proxy.OutcomeAnswered, 1},
			{"busy", proxy.OutcomeNext, 1},
			{"gateway", proxy.OutcomeNext, 1},
			{"relay", proxy.OutcomeForwarded, 1},
		} {
			if n := got[c.stage].Outcomes[c.outcome]; n != c.want {
				t.Errorf("stateless=%v: stage %s outcome %s = %d, want %d", stateless, c.stage, c.outcome, n, c.want)
			}
		}
		if st := got["busy"]; st.Count != 2 || st.Buckets[len(st.Buckets)-1] > st.Count {
			t.Errorf("stateless=%v: busy latency count %d, buckets %v", stateless, st.Count, st.Buckets)
		}
	}
}

func TestInsertErrors(t *testing.T) {
	if _, err := proxy.Insert(proxy.DefaultStages(), "nowhere", gateway); err == nil || !strings.Contains(err.Error(), `"nowhere"`) {
		t.Errorf("Insert before a missing stage: %v", err)
	}
	if _, err := proxy.Insert(proxy.DefaultStages(), "relay", proxy.StageFunc{StageName: "auth"}); err == nil || !strings.Contains(err.Error(), `"auth"`) {
		t.Errorf("Insert of a repeated name: %v", err)
	}
}
