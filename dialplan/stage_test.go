package dialplan_test

import (
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/dialplan"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/subscriber"
	"github.com/parley-sip/parley/transport"
)

var listener = &transport.ListenerInfo{Proto: transport.UDP, Bound: netip.MustParseAddrPort("192.0.2.1:5060"), Host: "192.0.2.1", Port: 5060}

// wire records what the proxy sends; no response ever comes.
type wire struct {
	mu   sync.Mutex
	sent []*sip.Message
	to   []transport.Target
}

func (w *wire) Send(dst transport.Target, msg []byte) error {
	m, err := sip.Parse(append([]byte(nil), msg...))
	w.mu.Lock()
	w.sent, w.to = append(w.sent, m), append(w.to, dst)
	w.mu.Unlock()
	return err
}
func (w *wire) ListenerFor(transport.Proto, netip.Addr) *transport.ListenerInfo { return listener }
func (w *wire) Listeners() []*transport.ListenerInfo                            { return []*transport.ListenerInfo{listener} }
func (w *wire) ChooseProto(dst transport.Target, _ int) transport.Proto         { return dst.Proto }

type clientTx struct{}

func (clientTx) Terminate() {}

func (w *wire) Request(req *sip.Message, dst transport.Target, _ func(*sip.Message)) (proxy.ClientTx, error) {
	return clientTx{}, w.Send(dst, req.Bytes())
}

type serverTx struct{ resps []*sip.Message }

func (s *serverTx) Respond(resp *sip.Message) error {
	s.resps = append(s.resps, resp)
	return nil
}

// ipGateways puts gateway NAME at the address in addrs.
type ipGateways struct {
	addrs map[string]string
	down  map[string]bool
}

func (g ipGateways) Up(name string) bool { return !g.down[name] }
func (g ipGateways) URI(name, user string) (string, bool) {
	a, ok := g.addrs[name]
	return "sip:" + sip.EscapeUser(user) + "@" + a, ok
}

func incoming(t *testing.T, file, source string) *transport.Incoming {
	t.Helper()
	data, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := sip.Parse([]byte(strings.ReplaceAll(string(data), "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	return &transport.Incoming{Msg: m, Proto: transport.UDP, Source: netip.MustParseAddrPort(source), Local: listener.Bound, Listener: listener}
}

func TestStage(t *testing.T) {
	const phone, provider = "192.0.2.7:5062", "203.0.113.50:5060"
	tests := []struct {
		name, file, source string
		down               map[string]bool
		dids               dialplan.DIDs
		answer             string // the stage's own answer, or
		sentURI, sentTo    string // where the request was relayed
	}{
		{name: "to the first gateway", file: "invite-phone.sip", source: phone,
			sentURI: "sip:+49301234567@203.0.113.50:5060", sentTo: "203.0.113.50:5060"},
		{name: "first gateway down", file: "invite-phone.sip", source: phone, down: map[string]bool{"provider": true},
			sentURI: "sip:+49301234567@198.51.100.60:5060", sentTo: "198.51.100.60:5060"},
		{name: "every gateway down", file: "invite-phone.sip", source: phone, down: map[string]bool{"provider": true, "backup": true},
			answer: "503 No Gateway Available"},
		{name: "DID in To", file: "invite-gateway.sip", source: provider, dids: dialplan.DIDs{"+4930123456": "alice@192.0.2.30"},
			sentURI: "sip:alice@192.0.2.30", sentTo: "192.0.2.30:5060"},
		{name: "unknown DID", file: "invite-gateway.sip", source: provider, dids: dialplan.DIDs{"+4930999": "bob@192.0.2.31"},
			answer: "404 Unknown DID"},
		{name: "provider keepalive", file: "options-gateway.sip", source: provider, dids: dialplan.DIDs{"+4930999": "bob@192.0.2.31"},
			answer: "200 OK"},
		{name: "gateway calls are never routed out again", file: "invite-gateway.sip", source: provider, dids: dialplan.DIDs{},
			answer: "404 Not Found"}, // by location: the "everything" route does not take it
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gws := ipGateways{addrs: map[string]string{"provider": "203.0.113.50:5060", "backup": "198.51.100.60:5060"}, down: tc.down}
			stage := dialplan.NewStage(func(src netip.Addr) (string, bool) {
				return "provider", src == netip.MustParseAddr("203.0.113.50")
			}, dialplan.Table{
				Plan: dialplan.New([]dialplan.Rule{
					{Name: "national", Regex: regexp.MustCompile(`^0[1-9]`), CountryCode: "49", Gateways: []string{"provider", "backup"}},
					{Name: "everything", Regex: regexp.MustCompile(`.`), Gateways: []string{"provider"}},
				}, gws),
				DIDs: tc.dids,
			})
			stages, err := proxy.Insert(proxy.DefaultStages(), "location", stage)
			if err != nil {
				t.Fatal(err)
			}
			w := &wire{}
			cfg := proxy.Config{Domains: func(d string) bool { return d == "example.com" }, Stages: stages,
				RelayTrusted: func(a netip.Addr) bool { return a == netip.MustParseAddr("203.0.113.50") || officeLAN(a) }}
			p := proxy.New(cfg, w, w, nil, nil, slog.New(slog.DiscardHandler))
			stx := &serverTx{}
			p.ServeRequest(stx, incoming(t, tc.file, tc.source))
			if tc.answer != "" {
				if len(stx.resps) != 1 || stx.resps[0].StatusCode() < 200 ||
					tc.answer != strings.Join([]string{itoa(stx.resps[0].StatusCode()), stx.resps[0].Reason()}, " ") {
					t.Fatalf("answered %v, want %s", statuses(stx.resps), tc.answer)
				}
				return
			}
			if len(w.sent) != 1 {
				t.Fatalf("sent %d requests (answered %v), want 1", len(w.sent), statuses(stx.resps))
			}
			if got := w.sent[0].RequestURI(); got != tc.sentURI {
				t.Errorf("relayed to %s, want %s", got, tc.sentURI)
			}
			if tc.sentTo != "" && w.to[0].Addr.String() != tc.sentTo {
				t.Errorf("sent to %s, want %s", w.to[0].Addr, tc.sentTo)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// seen is what the stage after the dialplan's got of a request.
// officeLAN is security.trusted of an office without passwords: its
// phones' network, 192.0.2.0/24, from which calls go out through the
// gateways (a caller from elsewhere is refused, TestStageStrangers).
func officeLAN(a netip.Addr) bool { return netip.MustParsePrefix("192.0.2.0/24").Contains(a) }

type seen struct {
	uri     string
	targets int
}

// withObserver puts stage before location, and after it a stage that
// notes what it gets in the returned seen and answers 299.
func withObserver(t *testing.T, stage proxy.Stage) ([]proxy.Stage, *seen) {
	t.Helper()
	got := &seen{targets: -1}
	next := proxy.StageFunc{StageName: "next", Fn: func(r *proxy.Request, _ func()) {
		got.uri, got.targets = r.Msg.RequestURI(), len(r.Targets)
		r.Respond(299, "Seen")
	}}
	stages, err := proxy.Insert(proxy.DefaultStages(), "location", stage)
	if err == nil {
		stages, err = proxy.Insert(stages, "location", next)
	}
	if err != nil {
		t.Fatal(err)
	}
	return stages, got
}

// phoneInvite is invite-phone.sip from source, with replace's pairs of
// old and new strings applied.
func phoneInvite(t *testing.T, source string, replace ...string) *transport.Incoming {
	t.Helper()
	in := incoming(t, "invite-phone.sip", source)
	m, err := sip.Parse([]byte(strings.NewReplacer(replace...).Replace(string(in.Msg.Bytes()))))
	if err != nil {
		t.Fatal(err)
	}
	in.Msg = m
	return in
}

func statuses(rs []*sip.Message) []string {
	var out []string
	for _, r := range rs {
		out = append(out, itoa(r.StatusCode())+" "+r.Reason())
	}
	return out
}

// TestStageUpdate: a new table applies to the requests that follow.
func TestStageUpdate(t *testing.T) {
	gws := ipGateways{addrs: map[string]string{"provider": "203.0.113.50:5060", "backup": "198.51.100.60:5060"}}
	plan := func(gw string) *dialplan.Dialplan {
		return dialplan.New([]dialplan.Rule{{Name: "national", Prefix: "0", Gateways: []string{gw}}}, gws)
	}
	stage := dialplan.NewStage(nil, dialplan.Table{Plan: plan("provider")})
	stages, err := proxy.Insert(proxy.DefaultStages(), "location", stage)
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{}
	p := proxy.New(proxy.Config{Domains: func(d string) bool { return d == "example.com" }, Stages: stages, RelayTrusted: officeLAN}, w, w, nil, nil, slog.New(slog.DiscardHandler))
	for i, gw := range []string{"provider", "backup"} {
		stage.Update(dialplan.Table{Plan: plan(gw)})
		if stage.Table().Plan == nil {
			t.Fatal("Table lost the plan")
		}
		p.ServeRequest(&serverTx{}, incoming(t, "invite-phone.sip", "192.0.2.7:5062"))
		if len(w.sent) != i+1 || w.to[i].Addr.String() != gws.addrs[gw] {
			t.Fatalf("after the update to %s: sent to %v", gw, w.to)
		}
	}
}

// TestStageB2BUARoutes: an INVITE on a b2bua route passes on untouched
// for the B2BUA's stage after this one, unless every gateway is down
// (503 here, since the B2BUA would only see no plan); another method on
// such a route is proxied to the gateways; a local route is rewritten
// whatever its b2bua flag says, for the location stage.
func TestStageB2BUARoutes(t *testing.T) {
	tests := []struct {
		name, method, dialled string
		down                  bool
		answer                string // the dialplan stage's own answer, or
		uri                   string // the Request-URI the next stage sees
		targets               int    // and the targets it sees
	}{
		{name: "INVITE passes on", method: "INVITE", dialled: "0301234567", uri: "sip:0301234567@example.com"},
		{name: "every gateway down", method: "INVITE", dialled: "0301234567", down: true, answer: "503 No Gateway Available"},
		{name: "MESSAGE is proxied", method: "MESSAGE", dialled: "0301234567", uri: "sip:0301234567@example.com", targets: 1},
		{name: "local route rewritten", method: "INVITE", dialled: "*201", uri: "sip:201@example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gws := ipGateways{addrs: map[string]string{"provider": "203.0.113.50:5060"}, down: map[string]bool{"provider": tc.down}}
			stage := dialplan.NewStage(nil, dialplan.Table{Plan: dialplan.New([]dialplan.Rule{
				{Name: "extensions", Regex: regexp.MustCompile(`^\*?(2\d\d)$`), Replace: "$1", Local: true, B2BUA: true},
				{Name: "national", Prefix: "0", CountryCode: "49", Gateways: []string{"provider"}, B2BUA: true},
			}, gws)})
			stages, seen := withObserver(t, stage)
			w := &wire{}
			p := proxy.New(proxy.Config{Domains: func(d string) bool { return d == "example.com" }, Stages: stages, RelayTrusted: officeLAN}, w, w, nil, nil, slog.New(slog.DiscardHandler))
			stx := &serverTx{}
			p.ServeRequest(stx, phoneInvite(t, "192.0.2.7:5062", "0301234567", tc.dialled, "INVITE", tc.method))
			if tc.answer != "" {
				if len(stx.resps) != 1 || itoa(stx.resps[0].StatusCode())+" "+stx.resps[0].Reason() != tc.answer {
					t.Fatalf("answered %v, want %s", statuses(stx.resps), tc.answer)
				}
				return
			}
			if seen.uri != tc.uri || seen.targets != tc.targets {
				t.Errorf("next stage saw %q with %d targets, want %q with %d", seen.uri, seen.targets, tc.uri, tc.targets)
			}
		})
	}
}

// TestStageStrangers: with passwords on, another domain's caller is let
// in unchallenged to reach local users (auth.allow_unauthenticated_to_local),
// so a local route takes its call, but a route to gateways would have it
// call out on the office's trunk account: it is refused, b2bua route or
// not, gateways up or down. A caller the auth stage vouched for (here: a
// trusted source) still goes out. With passwords off the stage cannot
// tell the office's phones from strangers by their From, so only a
// caller on a trusted network (security.trusted) goes out; any other
// still reaches extensions.
func TestStageStrangers(t *testing.T) {
	const stranger = "<sip:mallory@evil.example>;tag=m1"
	const office = "<sip:bob@example.com>;tag=b1"
	tests := []struct {
		name, from, dialled string
		trusted, b2bua      bool
		down                bool
		passwordsOff        bool
		relayTrusted        bool   // on a security.trusted network
		answer              string // the stage's own answer, or
		uri                 string // the Request-URI the next stage sees
	}{
		{name: "stranger to a gateway", from: stranger, dialled: "0301234567", answer: "403 Relaying Denied"},
		{name: "stranger on a b2bua route", from: stranger, dialled: "0301234567", b2bua: true, answer: "403 Relaying Denied"},
		{name: "stranger, every gateway down", from: stranger, dialled: "0301234567", down: true, answer: "403 Relaying Denied"},
		{name: "stranger to an extension", from: stranger, dialled: "*201", uri: "sip:201@example.com"},
		{name: "trusted source to a gateway", from: stranger, dialled: "0301234567", trusted: true, b2bua: true, uri: "sip:0301234567@example.com"},
		{name: "passwords off, an office name to a gateway", from: office, dialled: "0301234567", passwordsOff: true, answer: "403 Relaying Denied"},
		{name: "passwords off, a b2bua route", from: office, dialled: "0301234567", passwordsOff: true, b2bua: true, answer: "403 Relaying Denied"},
		{name: "passwords off, to an extension", from: stranger, dialled: "*201", passwordsOff: true, uri: "sip:201@example.com"},
		{name: "passwords off, trusted network to a gateway", from: office, dialled: "0301234567", passwordsOff: true, relayTrusted: true, uri: "sip:0301234567@example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gws := ipGateways{addrs: map[string]string{"provider": "203.0.113.50:5060"}, down: map[string]bool{"provider": tc.down}}
			stage := dialplan.NewStage(nil, dialplan.Table{Plan: dialplan.New([]dialplan.Rule{
				{Name: "extensions", Regex: regexp.MustCompile(`^\*?(2\d\d)$`), Replace: "$1", Local: true},
				{Name: "national", Prefix: "0", CountryCode: "49", Gateways: []string{"provider"}, B2BUA: tc.b2bua},
			}, gws)})
			stages, seen := withObserver(t, stage)
			cfg := proxy.Config{Domains: func(d string) bool { return d == "example.com" }, Stages: stages,
				Auth:         auth.NewAuthenticator(subscriber.NewMemory(), []byte("0123456789abcdef0123456789abcdef")),
				AuthPolicy:   auth.Policies{Default: auth.Policy{AllowUnauthenticatedToLocal: true}},
				Trusted:      func(netip.Addr) bool { return tc.trusted },
				RelayTrusted: func(netip.Addr) bool { return tc.relayTrusted }}
			if tc.passwordsOff {
				cfg.Auth = nil
			}
			w := &wire{}
			p := proxy.New(cfg, w, w, nil, nil, slog.New(slog.DiscardHandler))
			stx := &serverTx{}
			p.ServeRequest(stx, phoneInvite(t, "198.51.100.9:5060", "0301234567", tc.dialled, `"Alice" <sip:alice@example.com>;tag=a1`, tc.from))
			got := statuses(stx.resps)
			if tc.answer != "" {
				if len(got) != 1 || got[0] != tc.answer {
					t.Fatalf("answered %v, want %s", got, tc.answer)
				}
				return
			}
			if seen.uri != tc.uri {
				t.Errorf("next stage saw %q (answered %v), want %q", seen.uri, got, tc.uri)
			}
		})
	}
}
