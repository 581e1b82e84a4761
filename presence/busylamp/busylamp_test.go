package busylamp

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/presence/dialoginfo"
	"github.com/parley-sip/parley/presence/internal/schematest"
	"github.com/parley-sip/parley/presence/notify"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from what the package builds")

var schema = filepath.Join("..", "dialoginfo", "testdata", "schema", "dialog-info.xsd")

// golden compares got with testdata/golden/name and validates the file
// against RFC 4235's schema.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: built\n%s\nwant\n%s", name, got, want)
	}
	schematest.Require(t)
	if out, err := schematest.Validate(schema, path); err != nil {
		t.Errorf("%s does not validate against RFC 4235's schema: %v\n%s", name, err, out)
	}
}

// fakeNotifier plays the notifier's side of the interface: one
// subscription per watched resource, numbered from version 0, and a
// NOTIFY body built at every change it is told of.
type fakeNotifier struct {
	pkg     notify.Package
	version map[string]uint32
	bodies  map[string][][]byte
}

func newFakeNotifier() *fakeNotifier {
	return &fakeNotifier{version: map[string]uint32{}, bodies: map[string][][]byte{}}
}

func (n *fakeNotifier) subscribe(t *testing.T, resource string) {
	t.Helper()
	n.version[resource] = 0
	n.notify(t, resource)
}

func (n *fakeNotifier) changed(resource string) {
	if _, ok := n.version[resource]; ok {
		n.notify(nil, resource)
	}
}

func (n *fakeNotifier) notify(t *testing.T, resource string) {
	v := n.version[resource]
	body, err := n.pkg.Body(notify.Watch{Watcher: "desk@example.com", Resource: resource, Version: v})
	if err != nil {
		panic(fmt.Sprintf("Body(%s): %v", resource, err))
	}
	n.version[resource] = v + 1
	n.bodies[resource] = append(n.bodies[resource], body)
}

var (
	alice = dialoginfo.Party{Identity: "sip:alice@example.com", Display: "Alice", Target: "sip:alice@192.0.2.1:5062"}
	bob   = dialoginfo.Party{Identity: "sip:bob@example.com", Display: "Bob", Target: "sip:bob@192.0.2.2:5064"}
	carol = dialoginfo.Party{Identity: "sip:carol@example.com"}
)

func steps(callID string, from, to dialoginfo.Party, last CallEvent) []CallEvent {
	caller, callee := Leg{Party: from, Tag: "ft1"}, Leg{Party: to}
	ringing := Leg{Party: to, Tag: "tt1"}
	last.CallID, last.Caller, last.Callee = callID, caller, ringing
	return []CallEvent{
		{CallID: callID, Caller: caller, Callee: callee, State: dialoginfo.Trying},
		{CallID: callID, Caller: caller, Callee: ringing, State: dialoginfo.Early},
		{CallID: callID, Caller: caller, Callee: ringing, State: dialoginfo.Confirmed},
		last,
	}
}

// TestCallGolden plays a call from alice to bob while a desk phone
// watches both (and carol, who is not in the call), through a fake
// notifier: each watcher's documents go trying (alice only), early,
// confirmed, terminated, versioned 0, 1, 2, … and valid.
func TestCallGolden(t *testing.T) {
	n := newFakeNotifier()
	tr := New(Config{Clock: clock.NewFake(time.Unix(0, 0)), Changed: n.changed})
	n.pkg = tr
	for _, r := range []string{"alice@example.com", "bob@example.com", "carol@example.com"} {
		n.subscribe(t, r)
	}
	for _, ev := range steps("call-1@192.0.2.1", alice, bob, CallEvent{State: dialoginfo.Terminated, HungUpBy: Callee}) {
		tr.Update(ev)
	}
	want := map[string][]string{
		"alice@example.com": {"0_full", "1_trying", "2_early", "3_confirmed", "4_terminated"},
		"bob@example.com":   {"0_full", "1_early", "2_confirmed", "3_terminated"},
		"carol@example.com": {"0_full"},
	}
	for r, names := range want {
		if len(n.bodies[r]) != len(names) {
			t.Errorf("%s got %d NOTIFYs, want %d", r, len(n.bodies[r]), len(names))
			continue
		}
		for i, name := range names {
			golden(t, fmt.Sprintf("%s_%s.xml", r[:len(r)-len("@example.com")], name), n.bodies[r][i])
		}
	}
}

// TestReasons checks each way a call ends, as both parties see it.
func TestReasons(t *testing.T) {
	tests := []struct {
		name           string
		end            CallEvent
		caller, callee dialoginfo.Reason
		code           int
	}{
		{"caller hung up", CallEvent{HungUpBy: Caller}, dialoginfo.LocalBye, dialoginfo.RemoteBye, 0},
		{"callee hung up", CallEvent{HungUpBy: Callee}, dialoginfo.RemoteBye, dialoginfo.LocalBye, 0},
		{"bye, sender unknown", CallEvent{Code: 200}, "", "", 0},
		{"cancelled", CallEvent{Code: 487, HungUpBy: Caller}, dialoginfo.Cancelled, dialoginfo.Cancelled, 487},
		{"busy", CallEvent{Code: 486, HungUpBy: Callee}, dialoginfo.Rejected, dialoginfo.Rejected, 486},
		{"no answer", CallEvent{Code: 408}, dialoginfo.Timeout, dialoginfo.Timeout, 408},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New(Config{Clock: clock.NewFake(time.Unix(0, 0))})
			tt.end.State = dialoginfo.Terminated
			for _, ev := range steps("c", alice, bob, tt.end) {
				tr.Update(ev)
			}
			a, b := tr.Dialogs("alice@example.com"), tr.Dialogs("bob@example.com")
			if len(a) != 1 || len(b) != 1 {
				t.Fatalf("dialogs: alice %v, bob %v", a, b)
			}
			if a[0].Reason != tt.caller || b[0].Reason != tt.callee || a[0].Code != tt.code || b[0].Code != tt.code {
				t.Errorf("alice %s %d, bob %s %d; want %s, %s, %d", a[0].Reason, a[0].Code, b[0].Reason, b[0].Code, tt.caller, tt.callee, tt.code)
			}
			if a[0].Direction != dialoginfo.Initiator || b[0].Direction != dialoginfo.Recipient {
				t.Errorf("directions %s, %s", a[0].Direction, b[0].Direction)
			}
		})
	}
}

// TestCalleeOnlyOnceReached checks that a call refused before it rang
// (a 404 from the proxy, say) never lights the callee's lamp.
func TestCalleeOnlyOnceReached(t *testing.T) {
	var changed []string
	tr := New(Config{Clock: clock.NewFake(time.Unix(0, 0)), Changed: func(r string) { changed = append(changed, r) }})
	caller := Leg{Party: alice, Tag: "a"}
	tr.Update(CallEvent{CallID: "c", Caller: caller, Callee: Leg{Party: bob}, State: dialoginfo.Trying})
	tr.Update(CallEvent{CallID: "c", Caller: caller, Callee: Leg{Party: bob}, State: dialoginfo.Terminated, Code: 404})
	if d := tr.Dialogs("bob@example.com"); d != nil {
		t.Errorf("bob has %v", d)
	}
	if want := []string{"alice@example.com", "alice@example.com"}; !slices.Equal(changed, want) {
		t.Errorf("changed %v, want %v", changed, want)
	}
	// A step after the end (a late 200 seen after a CANCEL) changes nothing.
	changed = nil
	tr.Update(CallEvent{CallID: "c", Caller: caller, Callee: Leg{Party: bob, Tag: "b"}, State: dialoginfo.Confirmed})
	if d := tr.Dialogs("alice@example.com"); len(d) != 1 || d[0].State != dialoginfo.Terminated {
		t.Errorf("alice after a late step: %v", d)
	}
	if len(changed) != 1 || changed[0] != "bob@example.com" {
		t.Errorf("changed %v: only bob, whom the late answer reached", changed)
	}
}

// TestLinger checks that a terminated dialog stays for the linger, then
// leaves, and the user with it, while a live one stays.
func TestLinger(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	tr := New(Config{Clock: clk, Linger: 10 * time.Second})
	for _, ev := range steps("c1", alice, bob, CallEvent{State: dialoginfo.Terminated, HungUpBy: Caller}) {
		tr.Update(ev)
	}
	tr.Update(CallEvent{CallID: "c2", Caller: Leg{Party: carol, Tag: "x"}, Callee: Leg{Party: alice, Tag: "y"}, State: dialoginfo.Confirmed})
	clk.Advance(9 * time.Second)
	if u, d := tr.Len(); u != 3 || d != 4 {
		t.Fatalf("before the linger: %d users, %d dialogs; want 3, 4", u, d)
	}
	clk.Advance(time.Second)
	body, err := tr.Body(notify.Watch{Resource: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(body, []byte("<dialog ")) {
		t.Errorf("bob's document after the linger still holds a dialog:\n%s", body)
	}
	if u, d := tr.Len(); u != 2 || d != 2 {
		t.Errorf("after the linger: %d users, %d dialogs; want 2 (alice's call from carol), 2", u, d)
	}
	if d := tr.Dialogs("alice@example.com"); len(d) != 1 || d[0].CallID != "c2" {
		t.Errorf("alice keeps %v, want the live call c2", d)
	}
}

// TestLingerInOrder: lingering entries expire oldest first, a few at an
// update, from a queue that on a busy server holds tens of thousands
// (fifo.Queue: the rest are not moved each time).
func TestLingerInOrder(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	tr := New(Config{Clock: clk, Linger: 10 * time.Second, MaxPerUser: 200})
	for i := range 100 {
		for _, ev := range steps(fmt.Sprintf("c%d", i), alice, bob, CallEvent{State: dialoginfo.Terminated, HungUpBy: Caller}) {
			tr.Update(ev)
		}
		clk.Advance(100 * time.Millisecond)
	}
	live := CallEvent{CallID: "live", Caller: Leg{Party: carol, Tag: "x"}, Callee: Leg{Party: alice}, State: dialoginfo.Trying}
	for _, tt := range []struct {
		advance time.Duration
		left    int
		first   string
	}{
		{0, 198, "c1"},                       // 10.0 s: the first call, ended at 0, just expired
		{900 * time.Millisecond, 180, "c10"}, // 10.9 s: the first 10 expired
		{5 * time.Second, 80, "c60"},         // 15.9 s: 60
	} {
		clk.Advance(tt.advance)
		tr.Update(live)
		if n, first := tr.ended.Len(), tr.ended.Front().callID; n != tt.left || first != tt.first {
			t.Errorf("at %v: %d entries lingering, first of %s; want %d, first of %s", clk.Now().Sub(time.Unix(0, 0)), n, first, tt.left, tt.first)
		}
		if d := tr.Dialogs("bob@example.com"); len(d) != tt.left/2 {
			t.Errorf("at %v: bob keeps %d dialogs, want %d", clk.Now().Sub(time.Unix(0, 0)), len(d), tt.left/2)
		}
	}
}

// TestMaxPerUser checks the bound on one user's dialogs: the oldest
// terminated one makes room first, then the oldest of all.
func TestMaxPerUser(t *testing.T) {
	tr := New(Config{Clock: clock.NewFake(time.Unix(0, 0)), MaxPerUser: 3})
	confirm := func(id string) {
		tr.Update(CallEvent{CallID: id, Caller: Leg{Party: alice, Tag: id}, Callee: Leg{Party: carol, Tag: "t"}, State: dialoginfo.Confirmed})
	}
	confirm("c1")
	confirm("c2")
	tr.Update(CallEvent{CallID: "c2", Caller: Leg{Party: alice, Tag: "c2"}, Callee: Leg{Party: carol, Tag: "t"}, State: dialoginfo.Terminated})
	confirm("c3")
	confirm("c4") // c2, terminated, goes
	confirm("c5") // c1, the oldest, goes
	var ids []string
	for _, d := range tr.Dialogs("alice@example.com") {
		ids = append(ids, d.CallID)
	}
	if want := []string{"c3", "c4", "c5"}; !slices.Equal(ids, want) {
		t.Errorf("alice keeps %v, want %v", ids, want)
	}
}

// TestResourceOf checks the mapping of identities to resources.
func TestResourceOf(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"sip:alice@Example.COM;user=phone", "alice@example.com", true},
		{"sips:201@pbx.example.com:5061", "201@pbx.example.com", true},
		{"sip:%61lice@example.com", "alice@example.com", true},
		{"sip:example.com", "", false},
		{"tel:+15551234", "", false},
		{"not a uri", "", false},
		{"", "", false},
	} {
		got, ok := ResourceOf(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ResourceOf(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestInterface pins the tracker to the notifier's interface.
func TestInterface(t *testing.T) {
	var p notify.Package = New(Config{})
	if p.Event() != "dialog" || p.ContentType() != "application/dialog-info+xml" {
		t.Errorf("event %q, type %q", p.Event(), p.ContentType())
	}
}

// TestLiveFirst checks the order of a document: the new call ringing
// before the one that just ended, whatever their age.
func TestLiveFirst(t *testing.T) {
	tr := New(Config{Clock: clock.NewFake(time.Unix(0, 0))})
	for _, ev := range steps("old", alice, bob, CallEvent{State: dialoginfo.Terminated, HungUpBy: Caller}) {
		tr.Update(ev)
	}
	tr.Update(CallEvent{CallID: "new", Caller: Leg{Party: carol, Tag: "c"}, Callee: Leg{Party: bob, Tag: "b2"}, State: dialoginfo.Early})
	body, err := tr.Body(notify.Watch{Resource: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	early, ended := bytes.Index(body, []byte(`call-id="new"`)), bytes.Index(body, []byte(`call-id="old"`))
	if early < 0 || ended < 0 || early > ended {
		t.Errorf("the ringing call is not first:\n%s", body)
	}
	if d := tr.Dialogs("bob@example.com"); len(d) != 2 || d[0].CallID != "old" {
		t.Errorf("Dialogs keeps the age order: %v", d)
	}
}
