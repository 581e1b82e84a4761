package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/presence"
	"github.com/parley-sip/parley/presence/internal/schematest"
	"github.com/parley-sip/parley/presence/notify"
	"github.com/parley-sip/parley/presence/pidf"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

var (
	start    = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	listener = &transport.ListenerInfo{Proto: transport.UDP, Bound: netip.MustParseAddrPort("192.0.2.1:5060"), Host: "192.0.2.1", Port: 5060}
)

type wire struct{}

func (wire) Send(transport.Target, []byte) error                             { return nil }
func (wire) ListenerFor(transport.Proto, netip.Addr) *transport.ListenerInfo { return listener }
func (wire) Listeners() []*transport.ListenerInfo                            { return []*transport.ListenerInfo{listener} }
func (wire) ChooseProto(dst transport.Target, _ int) transport.Proto         { return dst.Proto }
func (wire) Request(*sip.Message, transport.Target, func(*sip.Message)) (proxy.ClientTx, error) {
	return nil, fmt.Errorf("no relaying in these tests")
}

// serverTx hands its final response over a channel: a request the
// agent does not take is relayed, and its answer comes from another
// goroutine.
type serverTx struct{ final chan *sip.Message }

func (s *serverTx) Respond(resp *sip.Message) error {
	if resp.StatusCode() >= 200 {
		select {
		case s.final <- resp:
		default: // a second final response is the transaction layer's to drop
		}
	}
	return nil
}

// rig is an agent behind a proxy chain, with the changes it reported.
type rig struct {
	t        *testing.T
	clk      *clock.Fake
	a        *Agent
	p        *proxy.Proxy
	store    *presence.Memory
	mu       sync.Mutex
	changed  []string
	contacts map[string][]string
}

func newRig(t *testing.T) *rig {
	rg := &rig{t: t, clk: clock.NewFake(start), contacts: map[string][]string{}}
	rg.store = presence.NewMemory(rg.clk)
	rg.a = New(Config{Store: rg.store, Clock: rg.clk, Log: slog.New(slog.DiscardHandler),
		Domains: func(d string) bool { return d == "example.com" },
		Contacts: func(_ context.Context, aor string) ([]string, error) {
			rg.mu.Lock()
			defer rg.mu.Unlock()
			return rg.contacts[aor], nil
		},
		Changed: func(r string) {
			rg.mu.Lock()
			rg.changed = append(rg.changed, r)
			rg.mu.Unlock()
		},
		Policy: Policy{MinExpires: time.Minute, MaxExpires: 2 * time.Hour, DefaultExpires: time.Hour}})
	stages, err := proxy.Insert(proxy.DefaultStages(), "location", rg.a.Stage())
	if err != nil {
		t.Fatal(err)
	}
	rg.p = proxy.New(proxy.Config{Domains: func(d string) bool { return d == "example.com" }, Stages: stages, Clock: rg.clk},
		wire{}, wire{}, nil, nil, slog.New(slog.DiscardHandler))
	return rg
}

func (rg *rig) takeChanged() []string {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	c := rg.changed
	rg.changed = nil
	return c
}

// publish sends a PUBLISH made from testdata/publish.sip with edits
// (header → value, "" removes) and body, and returns the answer.
func (rg *rig) publish(body string, edits ...string) *sip.Message {
	rg.t.Helper()
	data, err := os.ReadFile("testdata/publish.sip")
	if err != nil {
		rg.t.Fatal(err)
	}
	m, err := sip.Parse([]byte(strings.ReplaceAll(string(data), "\n", "\r\n")))
	if err != nil {
		rg.t.Fatal(err)
	}
	for i := 0; i+1 < len(edits); i += 2 {
		if edits[i+1] == "" {
			m.RemoveHeader(edits[i])
		} else {
			m.SetHeader(edits[i], edits[i+1])
		}
	}
	if body != "" {
		ctype := ContentType
		if i := slices.Index(edits, "Content-Type"); i >= 0 {
			ctype = edits[i+1]
		}
		m.SetBody(ctype, []byte(body))
	}
	if m, err = sip.Parse(m.Bytes()); err != nil {
		rg.t.Fatal(err)
	}
	tx := &serverTx{final: make(chan *sip.Message, 1)}
	rg.p.ServeRequest(tx, &transport.Incoming{Msg: m, Proto: transport.UDP,
		Source: netip.MustParseAddrPort("198.51.100.7:47210"), Local: listener.Bound, Listener: listener})
	select {
	case resp := <-tx.final:
		return resp
	case <-time.After(5 * time.Second):
		rg.t.Fatal("no final response within 5 s")
		return nil
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPublish walks one publication through RFC 3903: initial, refresh,
// modify, a stale entity-tag, removal; and what is refused.
func TestPublish(t *testing.T) {
	rg := newRig(t)
	open := readFile(t, "baresip_open.xml")
	r := rg.publish(open)
	etag := r.Header("SIP-ETag")
	if r.StatusCode() != 200 || etag == "" || r.Header("Expires") != "3600" {
		t.Fatalf("initial PUBLISH answered\n%s", r)
	}
	if c := rg.takeChanged(); !slices.Equal(c, []string{"alice@example.com"}) {
		t.Errorf("changed %q", c)
	}
	// A refresh: a new entity-tag, nothing for watchers.
	r = rg.publish("", "SIP-If-Match", etag, "Expires", "9999")
	if r.StatusCode() != 200 || r.Header("SIP-ETag") == etag || r.Header("Expires") != "7200" {
		t.Fatalf("refresh answered\n%s", r)
	}
	if c := rg.takeChanged(); len(c) != 0 {
		t.Errorf("a refresh changed %q", c)
	}
	if c := rg.publish("", "SIP-If-Match", etag).StatusCode(); c != 412 {
		t.Errorf("the old entity-tag: %d, want 412", c)
	}
	pubs, _ := rg.store.List(t.Context(), "alice@example.com", Event)
	etag = pubs[0].ETag
	away := strings.Replace(open, "<rpid:activities/>", "<rpid:activities><rpid:away/></rpid:activities>", 1)
	r = rg.publish(away, "SIP-If-Match", etag)
	if r.StatusCode() != 200 || len(rg.takeChanged()) != 1 {
		t.Fatalf("modify answered\n%s", r)
	}
	// baresip publishes again without SIP-If-Match: a second publication.
	if c := rg.publish(open).StatusCode(); c != 200 {
		t.Errorf("second initial PUBLISH: %d", c)
	}
	r = rg.publish("", "SIP-If-Match", r.Header("SIP-ETag"), "Expires", "0")
	if r.StatusCode() != 200 || r.Header("Expires") != "0" {
		t.Fatalf("removal answered\n%s", r)
	}
	if pubs, _ := rg.store.List(t.Context(), "alice@example.com", Event); len(pubs) != 1 {
		t.Errorf("%d publications left, want 1", len(pubs))
	}
	if acc, ref := rg.a.Publications(); acc != 5 || ref != 1 {
		t.Errorf("Publications() = %d accepted, %d refused; want 5, 1", acc, ref)
	}
}

func TestPublishRefused(t *testing.T) {
	open := readFile(t, "baresip_open.xml")
	tests := []struct {
		name   string
		body   string
		edits  []string
		code   int
		header [2]string
	}{
		{"too brief", open, []string{"Expires", "10"}, 423, [2]string{"Min-Expires", "60"}},
		{"malformed Expires", open, []string{"Expires", "x"}, 400, [2]string{}},
		{"no body", "", nil, 400, [2]string{}},
		{"initial with Expires 0", open, []string{"Expires", "0"}, 400, [2]string{}},
		{"unknown entity-tag", "", []string{"SIP-If-Match", "nope"}, 412, [2]string{}},
		{"malformed entity-tag", "", []string{"SIP-If-Match", "a b"}, 400, [2]string{}},
		{"not PIDF", "<x/>", []string{"Content-Type", "application/xpidf+xml"}, 415, [2]string{"Accept", ContentType}},
		{"broken PIDF", "<presence", nil, 400, [2]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rg := newRig(t)
			r := rg.publish(tt.body, tt.edits...)
			if r.StatusCode() != tt.code || (tt.header[0] != "" && r.Header(tt.header[0]) != tt.header[1]) {
				t.Errorf("answered\n%s", r)
			}
			if pubs, _ := rg.store.List(t.Context(), "alice@example.com", Event); len(pubs) != 0 || len(rg.takeChanged()) != 0 {
				t.Error("a refused PUBLISH changed the state")
			}
			if acc, ref := rg.a.Publications(); acc != 0 || ref != 1 {
				t.Errorf("Publications() = %d accepted, %d refused; want 0, 1", acc, ref)
			}
		})
	}
	// Not ours: another event package, another domain.
	rg := newRig(t)
	for _, edits := range [][]string{{"Event", "message-summary"}, {"Event", ""}} {
		if r := rg.publish(open, edits...); r != nil && r.StatusCode() == 200 {
			t.Errorf("%v: the agent took it", edits)
		}
	}
	if pubs, _ := rg.store.List(t.Context(), "alice@example.com", Event); len(pubs) != 0 {
		t.Error("stored a PUBLISH of another package")
	}
}

// TestBody: the NOTIFY body follows registrations, publications and
// calls, is cached until a change, and validates against the schemas.
func TestBody(t *testing.T) {
	rg := newRig(t)
	w := notify.Watch{Watcher: "bob@example.com", Resource: "alice@example.com"}
	body := func() *pidf.Document {
		t.Helper()
		b, err := rg.a.Body(w)
		if err != nil {
			t.Fatal(err)
		}
		validate(t, b)
		d, err := pidf.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := body(); d.Basic() != pidf.Closed || d.Entity != "sip:alice@example.com" {
		t.Errorf("nobody registered: %+v", d)
	}
	rg.contacts["alice@example.com"] = []string{"sip:alice@198.51.100.7:47210"}
	if d := body(); d.Basic() != pidf.Closed {
		t.Error("the cached body changed without Changed")
	}
	rg.a.Changed("alice@example.com")
	if d := body(); d.Basic() != pidf.Open {
		t.Errorf("registered: %+v", d)
	}
	rg.publish(strings.Replace(readFile(t, "baresip_open.xml"), "<rpid:activities/>", "<rpid:activities><rpid:away/></rpid:activities>", 1))
	if d := body(); !slices.Contains(d.Activities(), pidf.Away) {
		t.Errorf("published away: %+v", d)
	}
	rg.a.Call("alice@example.com", "c1", true)
	rg.a.Call("alice@example.com", "c2", true)
	rg.a.Call("alice@example.com", "c2", true) // told twice: still one call
	rg.a.Call("alice@example.com", "c2", false)
	if d := body(); !slices.Contains(d.Activities(), pidf.OnThePhone) {
		t.Errorf("in a call: %+v", d)
	}
	rg.a.Call("alice@example.com", "c1", false)
	if d := body(); slices.Contains(d.Activities(), pidf.OnThePhone) {
		t.Errorf("after the call: %+v", d)
	}
	// The publication lapses: the sweep tells the watchers.
	rg.takeChanged()
	rg.clk.Advance(time.Hour + time.Second)
	rg.a.Sweep(t.Context())
	if c := rg.takeChanged(); !slices.Equal(c, []string{"alice@example.com"}) {
		t.Errorf("lapsed publication: changed %q", c)
	}
	if d := body(); slices.Contains(d.Activities(), pidf.Away) {
		t.Errorf("lapsed publication still shown: %+v", d)
	}
}

func validate(t *testing.T, doc []byte) {
	t.Helper()
	schematest.Require(t)
	file := filepath.Join(t.TempDir(), "notify.xml")
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := schematest.Validate(filepath.Join("..", "pidf", "testdata", "schema", "presence.xsd"), file); err != nil {
		t.Errorf("NOTIFY body does not validate: %v\n%s\n%s", err, out, doc)
	}
}

// TestMaxPublications: initial PUBLISHes past the bound replace the
// user's oldest publication.
func TestMaxPublications(t *testing.T) {
	rg := newRig(t)
	open := readFile(t, "baresip_open.xml")
	var first string
	for i := range MaxPublications + 3 {
		r := rg.publish(open)
		if r.StatusCode() != 200 {
			t.Fatalf("PUBLISH %d answered %d", i, r.StatusCode())
		}
		if i == 0 {
			first = r.Header("SIP-ETag")
		}
		rg.clk.Advance(time.Second) // orders them by modification
	}
	pubs, _ := rg.store.List(t.Context(), "alice@example.com", Event)
	if len(pubs) != MaxPublications {
		t.Errorf("%d publications, want %d", len(pubs), MaxPublications)
	}
	if c := rg.publish("", "SIP-If-Match", first).StatusCode(); c != 412 {
		t.Errorf("the oldest publication is still there: refresh answered %d", c)
	}
}

// TestSetCall: calls are a set by Call-ID, local or told by another
// node; after a gap in the cluster bus the remote ones go, the local
// ones stay. SetCall reports only changes of the on-the-phone state.
func TestSetCall(t *testing.T) {
	a := New(Config{Store: presence.NewMemory(clock.NewFake(start))})
	const u = "alice@example.com"
	for i, tt := range []struct {
		callID      string
		on, remote  bool
		changed, in bool
	}{
		{"c1", true, true, true, true},    // told by another node
		{"c1", true, true, false, true},   // told again by a third
		{"c2", true, false, false, true},  // a call of ours too
		{"c1", false, true, false, true},  // c1 ends; c2 goes on
		{"c2", false, false, true, false}, // the last ends
		{"c3", false, true, false, false}, // the end of a call never seen
		{"c4", true, true, true, true},
		{"c4", true, false, false, true}, // seen here too: ours now
	} {
		if got := a.SetCall(u, tt.callID, tt.on, tt.remote); got != tt.changed || a.inCall(u) != tt.in {
			t.Errorf("step %d: changed %v, in a call %v; want %v, %v", i, got, a.inCall(u), tt.changed, tt.in)
		}
	}
	a.SetCall("bob@example.com", "c5", true, true)
	a.ForgetRemoteCalls()
	if !a.inCall(u) || a.inCall("bob@example.com") {
		t.Errorf("after ForgetRemoteCalls: alice %v (a call of ours), bob %v (a remote one)", a.inCall(u), a.inCall("bob@example.com"))
	}
}
