package relay_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/cluster/bus"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/presence"
	"github.com/parley-sip/parley/presence/agent"
	"github.com/parley-sip/parley/presence/busylamp"
	"github.com/parley-sip/parley/presence/dialoginfo"
	"github.com/parley-sip/parley/presence/notify"
	"github.com/parley-sip/parley/presence/registrations"
	"github.com/parley-sip/parley/presence/relay"
	"github.com/parley-sip/parley/registrar"
	"github.com/parley-sip/parley/sip"
)

var start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// sender answers every NOTIFY 200 and keeps them.
type sender struct {
	mu   sync.Mutex
	sent []*sip.Message
	ch   chan struct{}
}

func (s *sender) Do(_ context.Context, req outbound.Request) (*sip.Message, error) {
	s.mu.Lock()
	s.sent = append(s.sent, req.Msg)
	s.mu.Unlock()
	s.ch <- struct{}{}
	return sip.NewResponse(req.Msg, 200, "OK", ""), nil
}

// next waits for the next NOTIFY of event and returns its body.
func (s *sender) next(t *testing.T, event string) string {
	t.Helper()
	for deadline := time.After(5 * time.Second); ; {
		s.mu.Lock()
		for i, m := range s.sent {
			if strings.HasPrefix(m.Header("Event"), event) {
				s.sent = append(s.sent[:i], s.sent[i+1:]...)
				s.mu.Unlock()
				return string(m.Body())
			}
		}
		s.mu.Unlock()
		select {
		case <-s.ch:
		case <-deadline:
			t.Fatalf("no NOTIFY of %s within 5 s", event)
		}
	}
}

// quiet fails if a NOTIFY is sent within a moment.
func (s *sender) quiet(t *testing.T) {
	t.Helper()
	time.Sleep(100 * time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sent) > 0 {
		t.Errorf("unexpected NOTIFY:\n%s", s.sent[0])
	}
}

// shared is what the nodes of a cluster share: the stores.
type shared struct {
	clk  *clock.Fake
	pubs *presence.Memory // PostgreSQL in a cluster
	locs *location.Memory // Redis in a cluster
	hub  *bus.Hub
}

// node is one cluster node's presence server.
type node struct {
	n     *notify.Notifier
	agent *agent.Agent
	regs  *registrations.Package
	lamps *busylamp.Tracker
	relay *relay.Relay
	out   *sender
}

// newNode builds a node whose notifier holds the subscriptions of
// watcher to bob@example.com in each of events.
func newNode(t *testing.T, sh *shared, watcher string, events ...string) *node {
	t.Helper()
	nd := &node{out: &sender{ch: make(chan struct{}, 100)}}
	subs := notify.NewMemory()
	for i, ev := range events {
		id := dialog.ID{CallID: watcher + ev, LocalTag: "l" + string(rune('a'+i)), RemoteTag: "r"}
		subs.Put(context.Background(), notify.Record{
			Dialog: dialog.Info{ID: id, Role: dialog.UAS, State: dialog.Confirmed,
				LocalParty: "<sip:bob@example.com>;tag=" + id.LocalTag, RemoteParty: "<sip:" + watcher + ">;tag=r",
				LocalTarget: "sip:bob@192.0.2.1", RemoteTarget: "sip:" + watcher, RemoteSeq: 1,
				Usages: []dialog.Usage{dialog.Subscription(ev)}},
			Event: ev, Watcher: watcher, Resource: "bob@example.com", Expires: start.Add(time.Hour)})
	}
	nd.n = notify.New(notify.Config{Sender: nd.out, Clock: sh.clk, Store: subs, Log: slog.New(slog.DiscardHandler)})
	changed := func(event, resource string) { nd.relay.Changed(event, resource) }
	nd.agent = agent.New(agent.Config{Store: sh.pubs, Clock: sh.clk,
		Contacts: func(ctx context.Context, aor string) ([]string, error) {
			bs, err := sh.locs.Lookup(ctx, "sip:"+aor, sh.clk.Now())
			var out []string
			for _, b := range bs {
				out = append(out, b.Contact)
			}
			return out, err
		},
		Changed: func(r string) { changed(agent.Event, r) }})
	nd.regs = registrations.New(registrations.Config{Store: sh.locs, Clock: sh.clk,
		Changed: func(r string) { nd.n.Changed(registrations.Event, r) }})
	nd.lamps = busylamp.New(busylamp.Config{Clock: sh.clk, Changed: func(r string) { nd.n.Changed(busylamp.Event, r) }})
	nd.relay = relay.New(relay.Config{Bus: sh.hub.Node(), Notify: nd.n.Changed, Call: nd.lamps.Update,
		Remote: func(event, resource string) {
			if event == agent.Event {
				nd.agent.Stale(resource)
			}
			nd.n.Changed(event, resource)
		},
		Remember: nd.regs.Remember,
		Resume:   func() { nd.agent.ForgetRemoteCalls(); nd.n.ChangedAll() }})
	nd.n.Register(nd.agent)
	nd.n.Register(nd.regs)
	nd.n.Register(nd.lamps)
	if _, err := nd.n.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nd.n.Close)
	return nd
}

// register binds contact for bob at nd, as its registrar would, and
// hands the change to the relay and the registration package in the
// order the server's wiring does.
func (nd *node) register(t *testing.T, sh *shared, kind registrar.ChangeKind, contact string) {
	t.Helper()
	b := location.Binding{AOR: "sip:bob@example.com", Contact: contact, CallID: "reg-" + contact, CSeq: 1,
		Expires: sh.clk.Now().Add(time.Hour)}
	_, err := sh.locs.Update(context.Background(), b.AOR, sh.clk.Now(), func([]location.Binding) ([]location.Binding, error) {
		if kind == registrar.Removed {
			return nil, nil
		}
		return []location.Binding{b}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := registrar.Change{Kind: kind, AOR: b.AOR, Binding: b}
	nd.relay.Registered(c)
	nd.regs.Watch(c)
	nd.agent.Changed("bob@example.com")
}

// TestTwoNodes: the watcher's subscriptions live at node 1; bob
// publishes, registers and unregisters at node 2, and the watcher hears
// of each from node 1, with the state node 2 made. Node 2, whose
// notifier holds no subscription, sends nothing.
func TestTwoNodes(t *testing.T) {
	sh := &shared{clk: clock.NewFake(start), pubs: presence.NewMemory(clock.NewFake(start)), locs: location.NewMemory(), hub: bus.NewHub()}
	n1 := newNode(t, sh, "alice@example.com", "presence", "reg", "dialog")
	n2 := newNode(t, sh, "carol@example.com")
	if body := n1.out.next(t, "presence"); !strings.Contains(body, "<basic>closed</basic>") {
		t.Fatalf("first NOTIFY, before bob did anything:\n%s", body)
	}
	n1.out.next(t, "reg")
	n1.out.next(t, "dialog")

	// A PUBLISH at node 2: the stage stores it, then says so.
	doc := `<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@example.com">` +
		`<tuple id="t1"><status><basic>open</basic></status><note>lunch at node 2</note></tuple></presence>`
	if _, err := sh.pubs.Publish(context.Background(), presence.Request{Entity: "bob@example.com", Event: agent.Event,
		ContentType: agent.ContentType, Body: []byte(doc), Expires: time.Hour}); err != nil {
		t.Fatal(err)
	}
	n2.agent.Changed("bob@example.com")
	if body := n1.out.next(t, "presence"); !strings.Contains(body, "lunch at node 2") {
		t.Errorf("NOTIFY from node 1 after the PUBLISH at node 2 lacks the note (a stale body?):\n%s", body)
	}

	n2.register(t, sh, registrar.Added, "sip:bob@198.51.100.2")
	if body := n1.out.next(t, "reg"); !strings.Contains(body, `event="registered"`) || !strings.Contains(body, "sip:bob@198.51.100.2") {
		t.Errorf("reg NOTIFY after the REGISTER at node 2:\n%s", body)
	}
	n1.out.next(t, "presence")
	n2.register(t, sh, registrar.Removed, "sip:bob@198.51.100.2")
	// Only node 2's memory of the event, carried over, shows the contact
	// terminated: the store no longer has it.
	if body := n1.out.next(t, "reg"); !strings.Contains(body, `state="terminated"`) || !strings.Contains(body, `event="unregistered"`) {
		t.Errorf("reg NOTIFY after the un-REGISTER at node 2:\n%s", body)
	}
	n1.out.next(t, "presence")
	n2.out.quiet(t)

	// A call bob answers, seen at node 2 and at node 3, which both tell
	// the step: node 1's lamp for bob turns confirmed, once.
	ev := busylamp.CallEvent{CallID: "call-1", State: dialoginfo.Confirmed,
		Caller: busylamp.Leg{Party: dialoginfo.Party{Identity: "sip:carol@example.com"}, Tag: "c1"},
		Callee: busylamp.Leg{Party: dialoginfo.Party{Identity: "sip:bob@example.com"}, Tag: "b1"}}
	n2.lamps.Update(ev)
	n2.relay.Call(ev)
	if body := n1.out.next(t, "dialog"); !strings.Contains(body, "<state>confirmed</state>") || !strings.Contains(body, `call-id="call-1"`) {
		t.Errorf("dialog NOTIFY at node 1 after bob's call at node 2:\n%s", body)
	}
	n3 := newNode(t, sh, "dave@example.com")
	n3.relay.Call(ev)
	n1.out.quiet(t)

	// After a gap in the bus, every subscription is notified afresh.
	sh.hub.Resume()
	n1.out.next(t, "presence")
	n1.out.next(t, "reg")
	n1.out.next(t, "dialog")
	n1.out.quiet(t)
}
