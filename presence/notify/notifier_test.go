package notify

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/transport"
)

var pol = Policy{MinExpires: time.Minute, MaxExpires: time.Hour, DefaultExpires: 10 * time.Minute}

// TestSubscribeAnswers: what a new SUBSCRIBE is answered with, and the
// first NOTIFY's Subscription-State when one is sent.
func TestSubscribeAnswers(t *testing.T) {
	tests := []struct {
		name   string
		edits  []string
		code   int
		want   map[string]string // response headers
		notify string            // the first NOTIFY's Subscription-State; "" none
		body   bool
	}{
		{"active", nil, 200, map[string]string{"Expires": "600", "Allow-Events": "presence"}, "active;expires=600", true},
		{"no Expires takes the default", []string{"Expires", ""}, 200, map[string]string{"Expires": "600"}, "active;expires=600", true},
		{"too long is cut to the maximum", []string{"Expires", "86400"}, 200, map[string]string{"Expires": "3600"}, "active;expires=3600", true},
		{"too brief", []string{"Expires", "30"}, 423, map[string]string{"Min-Expires": "60"}, "", false},
		{"malformed Expires", []string{"Expires", "soon"}, 400, nil, "", false},
		{"unknown event", []string{"Event", "conference"}, 489, map[string]string{"Allow-Events": "presence"}, "", false},
		{"no event", []string{"Event", ""}, 489, map[string]string{"Allow-Events": "presence"}, "", false},
		{"event in any case, with parameters", []string{"Event", "Presence;id=1"}, 200, nil, "active;expires=600", true},
		{"not acceptable", []string{"Accept", "application/xpidf+xml"}, 406, map[string]string{"Accept": "application/pidf+xml"}, "", false},
		{"accept with a wildcard", []string{"Accept", "application/*;q=0.5"}, 200, nil, "active;expires=600", true},
		{"unsupported extension", []string{"Require", "foo"}, 420, map[string]string{"Unsupported": "foo"}, "", false},
		{"no Contact", []string{"Contact", ""}, 400, nil, "", false},
		{"two Contacts", []string{"Contact", "<sip:a@192.0.2.7>, <sip:b@192.0.2.8>"}, 400, nil, "", false},
		{"store down", []string{"Call-ID", "fail-store"}, 503, map[string]string{"Retry-After": "5"}, "", false},
		{"another domain's watcher is pending", []string{"From", "<sip:eve@example.org>;tag=e1"}, 202, nil, "pending;expires=600", false},
		{"fetch", []string{"Expires", "0"}, 200, map[string]string{"Expires": "0"}, "terminated;reason=timeout", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rg := newRig(t, pol, failingStore{NewMemory()})
			resp := rg.serve(load(t, "subscribe.sip", tt.edits...))
			if resp.StatusCode() != tt.code {
				t.Fatalf("answered %d %s, want %d", resp.StatusCode(), resp.Reason(), tt.code)
			}
			for k, v := range tt.want {
				if got := header(resp, k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if tt.notify == "" {
				rg.quiet()
				if rg.n.Len() != 0 {
					t.Errorf("%d subscriptions after a refusal", rg.n.Len())
				}
				return
			}
			if resp.ToTag() == "" || !strings.Contains(header(resp, "Contact"), "sip:bob@192.0.2.1:5060") {
				t.Errorf("2xx without a tag or our Contact:\n%s", resp)
			}
			n := rg.notify(200)
			if got := header(n, "Subscription-State"); got != tt.notify {
				t.Errorf("Subscription-State %q, want %q", got, tt.notify)
			}
			if got := len(n.Body()) > 0; got != tt.body {
				t.Errorf("NOTIFY body %q, want one: %v", n.Body(), tt.body)
			}
			if tt.body && header(n, "Content-Type") != "application/pidf+xml" {
				t.Errorf("Content-Type %q", header(n, "Content-Type"))
			}
			if n.ToTag() != "w1" && n.ToTag() != "e1" || n.FromTag() != resp.ToTag() || n.RequestURI() == "" {
				t.Errorf("NOTIFY not in the dialog:\n%s", n)
			}
		})
	}
}

// TestNotOurs: SUBSCRIBE and PUBLISH for users of other domains, and
// other methods, go on to the next stages.
func TestNotOurs(t *testing.T) {
	rg := newRig(t, pol, nil)
	// relayed: the wire refuses to send, which the relay answers 503
	if c := rg.serve(load(t, "subscribe.sip", "Request-URI", "sip:bob@203.0.113.9")).StatusCode(); c != 500 && c != 503 {
		t.Errorf("a SUBSCRIBE for another domain answered %d, want the relay's failure", c)
	}
	if rg.n.Len() != 0 {
		t.Error("the notifier took a SUBSCRIBE for another domain")
	}
	rg.quiet()
	// A desk phone with Parley's address as its domain: bob of the
	// watcher's domain.
	if r := rg.serve(load(t, "subscribe.sip", "Request-URI", "sip:bob@192.0.2.1:5060")); r.StatusCode() != 200 {
		t.Errorf("SUBSCRIBE to bob at Parley's address: %d", r.StatusCode())
	} else if b := string(rg.notify(200).Body()); !strings.Contains(b, "sees bob@example.com") {
		t.Errorf("watched %q, want bob@example.com", b)
	}
	pub := load(t, "subscribe.sip", "CSeq", "1 PUBLISH")
	pub.SetRequestURI("sip:bob@example.com")
	if c := rg.serve(rebuild(t, "PUBLISH", pub)).StatusCode(); c != 489 {
		t.Errorf("a PUBLISH no package took: %d, want 489", c)
	}
}

// TestFirstNotifyVersion: the first NOTIFY says version 0, each next one
// counts up; a change of state is sent to every subscription to the
// resource.
func TestChangedFanOut(t *testing.T) {
	rg := newRig(t, pol, nil)
	for _, tag := range []string{"w1", "w2", "w3"} {
		rg.serve(load(t, "subscribe.sip", "From", "<sip:alice@example.com>;tag="+tag, "Call-ID", "c-"+tag))
		if b := string(rg.notify(200).Body()); !strings.HasSuffix(b, "state 0 version 0") {
			t.Errorf("first body %q", b)
		}
	}
	rg.pkg.set("bob@example.com", 7)
	rg.n.Changed("presence", "bob@example.com")
	rg.n.Changed("presence", "carol@example.com") // nobody watches carol
	for range 3 {
		if b := string(rg.notify(200).Body()); !strings.HasSuffix(b, "state 7 version 1") {
			t.Errorf("after the change: %q", b)
		}
	}
	rg.quiet()
}

// TestThrottle: while a NOTIFY is in flight and for Throttle after it,
// changes wait and go out as one NOTIFY with the latest state.
func TestThrottle(t *testing.T) {
	p := pol
	p.Throttle = 5 * time.Second
	rg := newRig(t, p, nil)
	rg.serve(load(t, "subscribe.sip"))
	first := rg.next()
	for i := 1; i <= 5; i++ {
		rg.pkg.set("bob@example.com", i)
		rg.n.Changed("presence", "bob@example.com")
	}
	rg.quiet() // the first is still in flight
	first.reply <- result{code: 200}
	rg.settle()
	rg.quiet() // throttled
	rg.clk.Advance(4 * time.Second)
	rg.quiet()
	rg.clk.Advance(time.Second)
	if b := string(rg.notify(200).Body()); !strings.HasSuffix(b, "state 5 version 1") {
		t.Errorf("throttled NOTIFY %q, want the latest state", b)
	}
	rg.quiet()
}

// TestRefreshUnsubscribe: an in-dialog SUBSCRIBE refreshes (a NOTIFY at
// once, the new expiry in it); Expires 0 ends it with a last NOTIFY.
func TestRefreshUnsubscribe(t *testing.T) {
	rg := newRig(t, pol, nil)
	sub := load(t, "subscribe.sip")
	resp := rg.serve(sub)
	rg.notify(200)
	w := watcher(t, sub, resp)
	rg.clk.Advance(100 * time.Second)
	r := rg.serve(refresh(t, w, "1200"))
	if r.StatusCode() != 200 || header(r, "Expires") != "1200" || r.ToTag() != resp.ToTag() {
		t.Fatalf("refresh answered\n%s", r)
	}
	if got := header(rg.notify(200), "Subscription-State"); got != "active;expires=1200" {
		t.Errorf("after refresh: %q", got)
	}
	if c := rg.serve(refresh(t, w, "10")).StatusCode(); c != 423 {
		t.Errorf("too brief a refresh: %d", c)
	}
	// The old expiry passes: nothing happens.
	rg.clk.Advance(600 * time.Second)
	rg.quiet()
	if r := rg.serve(refresh(t, w, "0")); r.StatusCode() != 200 || header(r, "Expires") != "0" {
		t.Fatalf("unsubscribe answered\n%s", r)
	}
	n := rg.notify(200)
	if got := header(n, "Subscription-State"); got != "terminated;reason=timeout" || len(n.Body()) == 0 {
		t.Errorf("unsubscribe NOTIFY: %q body %q", got, n.Body())
	}
	if rg.n.Len() != 0 || rg.n.table.Len() != 0 {
		t.Errorf("%d subscriptions, %d dialogs left", rg.n.Len(), rg.n.table.Len())
	}
	if r := rg.serve(refresh(t, w, "600")); r.StatusCode() != 481 {
		t.Errorf("refresh of an ended subscription: %d", r.StatusCode())
	}
}

// TestExpiry: a subscription nobody refreshes ends at its expiry with
// terminated;reason=timeout, and leaves the store.
func TestExpiry(t *testing.T) {
	rg := newRig(t, pol, nil)
	rg.serve(load(t, "subscribe.sip"))
	rg.notify(200)
	if recs, _ := rg.store.List(t.Context()); len(recs) != 1 {
		t.Fatalf("%d records stored", len(recs))
	}
	rg.clk.Advance(599 * time.Second)
	rg.quiet()
	rg.clk.Advance(time.Second)
	if got := header(rg.notify(200), "Subscription-State"); got != "terminated;reason=timeout" {
		t.Errorf("at expiry: %q", got)
	}
	if recs, _ := rg.store.List(t.Context()); rg.n.Len() != 0 || len(recs) != 0 {
		t.Errorf("%d subscriptions, %d records after expiry", rg.n.Len(), len(recs))
	}
}

// TestNotifyFailures: what a NOTIFY's response does to its subscription.
func TestNotifyFailures(t *testing.T) {
	tests := []struct {
		name    string
		answers []result // to the first NOTIFY and its retries
		alive   bool
	}{
		{"481 ends it", []result{{code: 481}}, false},
		{"489 ends the usage", []result{{code: 489}}, false},
		{"403 fails only the transaction", []result{{code: 403}}, true},
		{"a 500 is retried", []result{{code: 500}, {code: 200}}, true},
		{"a timeout is retried", []result{{code: 408}, {err: errors.New("unreachable")}, {code: 200}}, true},
		{"retries run out", []result{{code: 408}, {code: 503}, {code: 408}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rg := newRig(t, pol, nil)
			rg.serve(load(t, "subscribe.sip"))
			var seqs []uint32
			for i, a := range tt.answers {
				if i > 0 {
					rg.clk.Advance(time.Second << (i - 1)) // the back-off
				}
				s := rg.next()
				cs, _ := s.req.Msg.CSeq()
				seqs = append(seqs, cs.Seq)
				s.reply <- a
				rg.settle()
			}
			rg.clk.Advance(10 * time.Second)
			rg.quiet()
			if alive := rg.n.Len() == 1; alive != tt.alive {
				t.Errorf("alive %v, want %v", alive, tt.alive)
			}
			for i := 1; i < len(seqs); i++ {
				if seqs[i] <= seqs[i-1] {
					t.Errorf("retry CSeqs %v not increasing", seqs)
				}
			}
		})
	}
}

// TestBlockAndNoResource: a blocked watcher's subscription ends with
// reason=rejected; a resource the package does not know with noresource.
func TestBlockAndNoResource(t *testing.T) {
	rg := newRig(t, pol, nil)
	rg.n.cfg.Authorizer = authorizerFunc(func(w, r, e string) Decision { return Block })
	if c := rg.serve(load(t, "subscribe.sip")).StatusCode(); c != 200 {
		t.Fatalf("blocked SUBSCRIBE answered %d", c)
	}
	n := rg.notify(200)
	if got := header(n, "Subscription-State"); got != "terminated;reason=rejected" || len(n.Body()) != 0 {
		t.Errorf("blocked: %q body %q", got, n.Body())
	}
	rg.n.cfg.Authorizer = nil
	rg.pkg.gone["bob@example.com"] = true
	rg.serve(load(t, "subscribe.sip", "Call-ID", "other"))
	if got := header(rg.notify(200), "Subscription-State"); got != "terminated;reason=noresource" {
		t.Errorf("no resource: %q", got)
	}
	if rg.n.Len() != 0 {
		t.Errorf("%d subscriptions left", rg.n.Len())
	}
}

type authorizerFunc func(w, r, e string) Decision

func (f authorizerFunc) Authorize(w, r, e string) Decision { return f(w, r, e) }

// TestOrphanRefresh: a refresh of a subscription Parley does not have
// (lost in a restart with a memory store) gets 481 so that the phone
// subscribes again.
func TestOrphanRefresh(t *testing.T) {
	rg := newRig(t, pol, nil)
	sub := load(t, "subscribe.sip")
	resp := rg.serve(sub)
	rg.notify(200)
	w := watcher(t, sub, resp)
	other := newRig(t, pol, nil)
	if c := other.serve(refresh(t, w, "600")).StatusCode(); c != 481 {
		t.Errorf("orphan refresh: %d, want 481", c)
	}
	viaUs := refresh(t, w, "600")
	viaUs.PrependHeader("Route", "<sip:192.0.2.1:5060;lr>")
	if c := other.serve(viaUs).StatusCode(); c != 481 {
		t.Errorf("orphan refresh routed through Parley: %d, want 481", c)
	}
}

// TestRestore: subscriptions come back from the store after a restart,
// are notified of the current state, refreshed in their dialog, and
// expire when they would have.
func TestRestore(t *testing.T) {
	for _, engine := range []string{"memory", "sqlite"} {
		t.Run(engine, func(t *testing.T) { testRestore(t, engine) })
	}
}

func testRestore(t *testing.T, engine string) {
	dir := t.TempDir()
	open := func() Store {
		if engine == "memory" {
			return nil
		}
		s, err := OpenSQL(t.Context(), "sqlite", dir, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	store := open()
	if store == nil {
		store = NewMemory()
	}
	rg := newRig(t, pol, store)
	sub := load(t, "subscribe.sip")
	resp := rg.serve(sub)
	first := rg.notify(200)
	rg.serve(load(t, "subscribe.sip", "Call-ID", "gone", "Expires", "60"))
	rg.notify(200)
	rg.n.Close()
	if engine != "memory" {
		store.Close()
		store = open()
	}

	again := newRig(t, pol, store)
	again.clk.Advance(120 * time.Second) // the second one expired meanwhile
	n, err := again.n.Restore(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("restored %d, %v", n, err)
	}
	note := again.notify(200)
	cs1, _ := first.CSeq()
	cs2, _ := note.CSeq()
	if cs2.Seq <= cs1.Seq || note.FromTag() != resp.ToTag() || header(note, "Subscription-State") != "active;expires=480" {
		t.Errorf("after restore:\n%s", note)
	}
	w := watcher(t, sub, resp)
	if c := again.serve(refresh(t, w, "600")).StatusCode(); c != 200 {
		t.Errorf("refresh after restore: %d", c)
	}
	again.notify(200)
	again.clk.Advance(600 * time.Second)
	if got := header(again.notify(200), "Subscription-State"); got != "terminated;reason=timeout" {
		t.Errorf("expiry after restore: %q", got)
	}
	if recs, _ := store.List(t.Context()); len(recs) != 0 {
		t.Errorf("%d records left", len(recs))
	}
}

// TestWithoutStore: a notifier with no store (the memory engine's) makes,
// refreshes and expires subscriptions, and restores none.
func TestWithoutStore(t *testing.T) {
	rg := rigWith(t, pol, nil)
	if n, err := rg.n.Restore(t.Context()); err != nil || n != 0 {
		t.Fatalf("restored %d, %v", n, err)
	}
	sub := load(t, "subscribe.sip")
	resp := rg.serve(sub)
	if resp.StatusCode() != 200 {
		t.Fatalf("SUBSCRIBE answered %d", resp.StatusCode())
	}
	if got := header(rg.notify(200), "Subscription-State"); got != "active;expires=600" {
		t.Errorf("first NOTIFY: %q", got)
	}
	if c := rg.serve(refresh(t, watcher(t, sub, resp), "300")).StatusCode(); c != 200 {
		t.Errorf("refresh: %d", c)
	}
	if got := header(rg.notify(200), "Subscription-State"); got != "active;expires=300" {
		t.Errorf("NOTIFY after the refresh: %q", got)
	}
	rg.clk.Advance(300 * time.Second)
	if got := header(rg.notify(200), "Subscription-State"); got != "terminated;reason=timeout" {
		t.Errorf("expiry: %q", got)
	}
	rg.settle()
	if n := rg.n.Len(); n != 0 {
		t.Errorf("%d subscriptions left after the expiry", n)
	}
}

// TestReauthorize: a pending watcher the user then allows gets the state;
// one the user then blocks is ended with reason=rejected.
func TestReauthorize(t *testing.T) {
	rg := newRig(t, pol, nil)
	decision := Pending
	rg.n.cfg.Authorizer = authorizerFunc(func(w, r, e string) Decision { return decision })
	if c := rg.serve(load(t, "subscribe.sip")).StatusCode(); c != 202 {
		t.Fatalf("pending SUBSCRIBE answered %d", c)
	}
	if n := rg.notify(200); len(n.Body()) != 0 {
		t.Errorf("pending NOTIFY with a body %q", n.Body())
	}
	rg.n.Reauthorize("carol@example.com")
	rg.quiet()
	decision = Allow
	rg.n.Reauthorize("bob@example.com")
	if n := rg.notify(200); header(n, "Subscription-State") != "active;expires=600" || len(n.Body()) == 0 {
		t.Errorf("allowed:\n%s", n)
	}
	decision = Block
	rg.n.Reauthorize("bob@example.com")
	if got := header(rg.notify(200), "Subscription-State"); got != "terminated;reason=rejected" {
		t.Errorf("blocked: %q", got)
	}
	if rg.n.Len() != 0 {
		t.Errorf("%d subscriptions left", rg.n.Len())
	}
}

// TestMaxSubscriptions: past the bound, a new SUBSCRIBE gets 503; a
// refresh of one held still works.
func TestMaxSubscriptions(t *testing.T) {
	rg := newRig(t, pol, nil)
	rg.n.cfg.MaxSubscriptions = 1
	sub := load(t, "subscribe.sip")
	resp := rg.serve(sub)
	rg.notify(200)
	if r := rg.serve(load(t, "subscribe.sip", "Call-ID", "second")); r.StatusCode() != 503 || header(r, "Retry-After") == "" {
		t.Errorf("over the bound:\n%s", r)
	}
	if c := rg.serve(refresh(t, watcher(t, sub, resp), "600")).StatusCode(); c != 200 {
		t.Errorf("refresh at the bound: %d", c)
	}
}

// TestTerminate: a package ends the subscriptions to a resource; the
// deactivated ones carry the state, as a timeout's do.
func TestTerminate(t *testing.T) {
	for _, reason := range []string{ReasonDeactivated, ReasonNoResource} {
		rg := newRig(t, pol, nil)
		rg.serve(load(t, "subscribe.sip"))
		rg.notify(200)
		rg.n.Terminate("presence", "carol@example.com", reason)
		rg.quiet()
		rg.n.Terminate("Presence", "bob@example.com", reason)
		n := rg.notify(200)
		if got := header(n, "Subscription-State"); got != "terminated;reason="+reason || (len(n.Body()) > 0) != (reason == ReasonDeactivated) {
			t.Errorf("%s: %q body %q", reason, got, n.Body())
		}
		if rg.n.Len() != 0 {
			t.Errorf("%s: %d subscriptions left", reason, rg.n.Len())
		}
	}
}

// failingStore refuses the subscriptions of the Call-ID "fail-store", as
// a database that is down would.
type failingStore struct{ *Memory }

func (f failingStore) Put(ctx context.Context, r Record) error {
	if r.Dialog.ID.CallID == "fail-store" {
		return errors.New("database is down")
	}
	return f.Memory.Put(ctx, r)
}

// TestClosedConnection: a SUBSCRIBE that came over TCP is notified on its
// connection; once that connection cannot be reached any more, the NOTIFY
// goes to the dialog's remote target (the Contact) at once, and so do the
// NOTIFYs after it. A UDP flow that fails is retried as before.
func TestClosedConnection(t *testing.T) {
	tests := []struct {
		name     string
		proto    transport.Proto
		fallback bool
	}{
		{"tcp falls back to the contact", transport.TCP, true},
		{"tls falls back to the contact", transport.TLS, true},
		{"udp keeps its flow", transport.UDP, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rg := newRig(t, pol, nil)
			tx := &serverTx{}
			sub := load(t, "subscribe.sip", "Via", "SIP/2.0/"+string(tt.proto)+" 198.51.100.7:5060;branch=z9hG4bKsub1")
			rg.p.ServeRequest(tx, &transport.Incoming{Msg: sub, Proto: tt.proto, Source: source, Conn: 7,
				Local: listener.Bound, Listener: listener})
			first := rg.next()
			if first.req.Dest.Proto != tt.proto || first.req.Dest.Conn != 7 {
				t.Fatalf("first NOTIFY to %+v, want the SUBSCRIBE's connection", first.req.Dest)
			}
			first.reply <- result{err: errors.New("connection refused")}
			if !tt.fallback {
				rg.settle()
				rg.quiet() // the retry waits its back-off
				return
			}
			again := rg.next()
			if again.req.Dest.Proto != "" {
				t.Errorf("fallback NOTIFY to %+v, want the remote target", again.req.Dest)
			}
			if got := again.req.Msg.RequestURI(); got != "sip:alice@198.51.100.7:5060" {
				t.Errorf("fallback Request-URI %q, want the Contact", got)
			}
			again.reply <- result{code: 200}
			rg.settle()
			rg.pkg.set("bob@example.com", 1)
			rg.n.Changed("presence", "bob@example.com")
			next := rg.next()
			next.reply <- result{code: 200}
			rg.settle()
			if next.req.Dest.Proto != "" {
				t.Errorf("later NOTIFY to %+v, want the remote target", next.req.Dest)
			}
			if rg.n.Len() != 1 {
				t.Errorf("%d subscriptions, want 1", rg.n.Len())
			}
		})
	}
}

// TestStats: subscriptions are counted by event package while held, and
// NOTIFYs by whether they were answered 2xx.
func TestStats(t *testing.T) {
	rg := newRig(t, pol, nil)
	want := func(subs int, delivered, failed uint64) {
		t.Helper()
		st := rg.n.Stats()
		if st.Subscriptions["presence"] != subs || len(st.Subscriptions) != 1 || st.Delivered != delivered || st.Failed != failed {
			t.Errorf("Stats() = %+v; want %d presence subscriptions, %d delivered, %d failed", st, subs, delivered, failed)
		}
	}
	want(0, 0, 0)
	rg.serve(load(t, "subscribe.sip"))
	rg.notify(200)
	want(1, 1, 0)
	rg.serve(load(t, "subscribe.sip", "Call-ID", "sub2@198.51.100.7", "From", "<sip:carol@example.com>;tag=w2"))
	rg.notify(403) // fails that NOTIFY only
	want(2, 1, 1)
	rg.pkg.set("bob@example.com", 1)
	rg.n.Changed("presence", "bob@example.com")
	rg.notify(481)
	rg.notify(481)
	want(0, 1, 3)
}

// TestRestoreOwnNode: nodes of a cluster share one subscription table;
// each restores only the subscriptions it holds, and leaves the others'
// in the store for their node.
func TestRestoreOwnNode(t *testing.T) {
	store := NewMemory()
	n1 := newRig(t, pol, store)
	n1.n.cfg.Node = "n1"
	n1.serve(load(t, "subscribe.sip"))
	n1.notify(200)
	n1.n.Close()
	for _, tt := range []struct {
		node string
		want int
	}{{"n2", 0}, {"", 0}, {"n1", 1}} {
		rg := newRig(t, pol, store)
		rg.n.cfg.Node = tt.node
		if n, err := rg.n.Restore(t.Context()); err != nil || n != tt.want {
			t.Errorf("node %q restored %d, %v; want %d", tt.node, n, err, tt.want)
		}
		if recs, _ := store.List(t.Context()); len(recs) != 1 || recs[0].Node != "n1" {
			t.Errorf("after node %q's restore the store holds %+v", tt.node, recs)
		}
		if tt.want == 0 {
			rg.n.Close()
		}
	}
}

// TestSubscribeUnknownUser: with Known set (passwords on), a SUBSCRIBE
// for a user who is no subscriber, a desk phone's busy lamp key set to a
// mistyped extension, is answered 404 rather than shown as an idle user
// forever; a lookup that fails is 503, and a subscriber is subscribed.
func TestSubscribeUnknownUser(t *testing.T) {
	tests := []struct {
		name  string
		known bool
		err   error
		code  int
		subs  int
	}{
		{"a subscriber", true, nil, 200, 1},
		{"no such user", false, nil, 404, 0},
		{"subscriber database down", false, errors.New("database is locked"), 503, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rg := newRig(t, pol, nil)
			var asked string
			rg.n.cfg.Known = func(_ context.Context, resource string) (bool, error) {
				asked = resource
				return tt.known, tt.err
			}
			resp := rg.serve(load(t, "subscribe.sip"))
			if resp.StatusCode() != tt.code {
				t.Fatalf("answered %d %s, want %d", resp.StatusCode(), resp.Reason(), tt.code)
			}
			if asked != "bob@example.com" {
				t.Errorf("Known asked of %q, want bob@example.com", asked)
			}
			if tt.code == 503 && header(resp, "Retry-After") == "" {
				t.Errorf("503 without Retry-After:\n%s", resp)
			}
			if tt.code == 200 {
				rg.notify(200)
			} else {
				rg.quiet()
			}
			if rg.n.Len() != tt.subs {
				t.Errorf("%d subscriptions, want %d", rg.n.Len(), tt.subs)
			}
		})
	}
}
