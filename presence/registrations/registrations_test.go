package registrations

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/presence/internal/schematest"
	"github.com/parley-sip/parley/presence/notify"
	"github.com/parley-sip/parley/registrar"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from what the package builds")

var schema = filepath.Join("..", "reginfo", "testdata", "schema", "reginfo.xsd")

const aor = "sip:alice@example.com"

// world is a location store, the package on it, and a fake notifier
// holding one subscription to alice's registrations: every change the
// package reports becomes the next NOTIFY's body.
type world struct {
	t      *testing.T
	clk    *clock.Fake
	store  *location.Memory
	pkg    *Package
	bodies [][]byte
	told   []string
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, clk: clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)), store: location.NewMemory()}
	t.Cleanup(func() { w.store.Close() })
	w.pkg = New(Config{Store: w.store, Clock: w.clk, Linger: 10 * time.Second, Changed: func(r string) {
		w.told = append(w.told, r)
		w.notify()
	}})
	return w
}

func (w *world) notify() {
	body, err := w.pkg.Body(notify.Watch{Watcher: "alice@example.com", Resource: "alice@example.com", Version: uint32(len(w.bodies))})
	if err != nil {
		w.t.Fatal(err)
	}
	w.bodies = append(w.bodies, body)
}

// register plays the registrar: the store gets the binding set, the
// package the change.
func (w *world) register(kind registrar.ChangeKind, b location.Binding) {
	w.t.Helper()
	now := w.clk.Now()
	_, err := w.store.Update(context.Background(), aor, now, func(cur []location.Binding) ([]location.Binding, error) {
		cur = slices.DeleteFunc(cur, func(o location.Binding) bool { return o.Contact == b.Contact })
		if kind == registrar.Added || kind == registrar.Refreshed {
			cur = append(cur, b)
		}
		return cur, nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.pkg.Watch(registrar.Change{Kind: kind, AOR: aor, Binding: b})
}

func binding(contact string, seq uint32, now time.Time) location.Binding {
	return location.Binding{Contact: contact, CallID: "reg-" + contact[len(contact)-4:], CSeq: seq, Q: 1000,
		Expires: now.Add(time.Hour), Updated: now, Params: `+sip.instance="<urn:uuid:1>";reg-id=1`}
}

// TestLifeOfTwoPhones follows alice's registrations through a desk phone
// and a softphone: registered, refreshed, a second device, one removed,
// one expired, and the linger passing; every document is golden and valid
// against RFC 3680's schema.
func TestLifeOfTwoPhones(t *testing.T) {
	w := newWorld(t)
	w.notify() // the first NOTIFY of the subscription: nothing registered
	desk, soft := "sip:alice@192.0.2.10:5060", "sip:alice@192.0.2.20:5070"
	w.register(registrar.Added, binding(desk, 1, w.clk.Now()))
	w.clk.Advance(5 * time.Second)
	w.register(registrar.Refreshed, binding(desk, 2, w.clk.Now()))
	w.register(registrar.Added, binding(soft, 1, w.clk.Now()))
	w.clk.Advance(20 * time.Second) // past the linger: the events are forgotten
	w.register(registrar.Removed, location.Binding{Contact: soft})
	w.register(registrar.Expired, binding(desk, 2, w.clk.Now()))
	w.clk.Advance(10 * time.Second)
	w.notify() // a refresh of the subscription after the linger
	names := []string{"init", "registered", "refreshed", "second_device", "one_removed", "both_ended", "after_linger"}
	if len(w.bodies) != len(names) {
		t.Fatalf("%d NOTIFYs, want %d", len(w.bodies), len(names))
	}
	for i, name := range names {
		golden(t, fmt.Sprintf("%d_%s.xml", i, name), w.bodies[i])
	}
	if want := slices.Repeat([]string{"alice@example.com"}, 5); !slices.Equal(w.told, want) {
		t.Errorf("told %v, want %v", w.told, want)
	}
}

// TestForgets checks the bounds: changes leave after the linger, and an
// AOR keeps at most MaxPerAOR of them.
func TestForgets(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	p := New(Config{Store: location.NewMemory(), Clock: clk, Linger: time.Minute, MaxPerAOR: 3})
	for i := range 5 {
		p.Watch(registrar.Change{Kind: registrar.Removed, AOR: aor, Binding: location.Binding{Contact: fmt.Sprintf("sip:alice@192.0.2.%d", i)}})
	}
	p.Watch(registrar.Change{Kind: registrar.Removed, AOR: "sip:bob@example.com", Binding: location.Binding{Contact: "sip:bob@192.0.2.9"}})
	p.mu.Lock()
	n := len(p.recent[aor])
	p.mu.Unlock()
	if n != 3 {
		t.Errorf("alice keeps %d changes, want 3", n)
	}
	clk.Advance(time.Minute)
	if _, err := p.Body(notify.Watch{Resource: "bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	left, queued := len(p.recent), p.queue.Len()
	p.mu.Unlock()
	if left != 0 || queued != 0 {
		t.Errorf("after the linger: %d AORs, %d queued", left, queued)
	}
}

// TestExpireInOrder: remembered changes expire oldest first, a few at a
// REGISTER, from a queue that on a busy registrar holds hundreds of
// thousands (fifo.Queue: the rest are not moved each time).
func TestExpireInOrder(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	p := New(Config{Store: location.NewMemory(), Clock: clk, Linger: 10 * time.Second})
	watch := func(aor string) {
		p.Watch(registrar.Change{Kind: registrar.Refreshed, AOR: aor, Binding: location.Binding{Contact: "sip:u@192.0.2.1"}})
	}
	for i := range 100 {
		watch(fmt.Sprintf("sip:u%d@example.com", i))
		clk.Advance(100 * time.Millisecond)
	}
	for _, tt := range []struct {
		advance time.Duration
		left    int // the 100's left, plus the late ones
		first   string
	}{
		{900 * time.Millisecond, 91, "sip:u10@example.com"}, // 10.9 s: the first 10 expired
		{5 * time.Second, 42, "sip:u60@example.com"},        // 15.9 s: 60
	} {
		clk.Advance(tt.advance)
		watch(fmt.Sprintf("sip:late%v@example.com", tt.advance))
		if n, first := p.queue.Len(), p.queue.Front().aor; n != tt.left || first != tt.first || len(p.recent) != tt.left {
			t.Errorf("after %v more: %d queued from %s, %d AORs; want %d from %s", tt.advance, n, first, len(p.recent), tt.left, tt.first)
		}
	}
}

// TestIgnored checks changes the package has no resource for.
func TestIgnored(t *testing.T) {
	var told []string
	p := New(Config{Store: location.NewMemory(), Changed: func(r string) { told = append(told, r) }})
	p.Watch(registrar.Change{Kind: registrar.Added, AOR: "tel:+15551234", Binding: location.Binding{Contact: "sip:x@192.0.2.1"}})
	p.Watch(registrar.Change{Kind: registrar.Added, AOR: "sip:example.com", Binding: location.Binding{Contact: "sip:x@192.0.2.1"}})
	p.Watch(registrar.Change{Kind: 0, AOR: aor, Binding: location.Binding{Contact: "sip:x@192.0.2.1"}})
	if len(told) != 0 {
		t.Errorf("told %v", told)
	}
	var _ notify.Package = p
}

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
		t.Errorf("%s does not validate against RFC 3680's schema: %v\n%s", name, err, out)
	}
}
