package message_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/message"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/registrar"
	"github.com/parley-sip/parley/sip"
)

// phone answers each MESSAGE with the next of its codes (200 once they
// run out), and may hold every answer until release is closed.
type phone struct {
	mu      sync.Mutex
	codes   []int
	got     []*sip.Message
	release chan struct{}
	entered chan struct{}
}

func (p *phone) send(ctx context.Context, req outbound.Request) (*sip.Message, error) {
	p.mu.Lock()
	p.got = append(p.got, req.Msg)
	code := 200
	if len(p.codes) > 0 {
		code, p.codes = p.codes[0], p.codes[1:]
	}
	p.mu.Unlock()
	if p.release != nil {
		p.entered <- struct{}{}
		<-p.release
	}
	if code == 0 {
		return nil, errors.New("transport failure")
	}
	return sip.NewResponse(req.Msg, code, "", "ph"), nil
}

func (p *phone) bodies() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var s []string
	for _, m := range p.got {
		s = append(s, string(m.Body()))
	}
	return strings.Join(s, ",")
}

var binding = location.Binding{AOR: "sip:bob@example.com", Contact: "sip:bob@192.0.2.20:5062"}

func deliverer(store message.Store, clk clock.Clock, ph *phone) *message.Deliverer {
	return &message.Deliverer{
		Store:  store,
		Send:   ph.send,
		Target: func(b location.Binding) proxy.Target { return proxy.Target{URI: b.Contact} },
		Limits: func() message.Limits { return message.Limits{MaxAge: time.Hour} },
		Clock:  clk,
	}
}

func fill(t *testing.T, s message.Store, clk *clock.Fake, texts ...string) {
	t.Helper()
	for _, text := range texts {
		if _, err := s.Add(context.Background(), message.Message{User: "bob@example.com", From: "<sip:alice@example.com>;tag=a",
			To: "<sip:bob@example.com>", Date: "Wed, 02 Jan 2030 03:04:05 GMT", ContentType: "text/plain", Body: []byte(text)}, message.Quota{}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
}

func left(t *testing.T, s message.Store) int {
	t.Helper()
	ms, err := s.Pending(context.Background(), "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

func TestDeliver(t *testing.T) {
	tests := []struct {
		name      string
		codes     []int
		age       time.Duration // how long the clock moves before the run
		sent      string        // bodies the phone got, in order
		delivered int
		left      int
		expired   uint64
	}{
		{name: "all three in order", sent: "1,2,3", delivered: 3},
		{name: "202 is a 2xx too", codes: []int{202, 202, 202}, sent: "1,2,3", delivered: 3},
		{name: "second refused: it and the third kept", codes: []int{200, 480}, sent: "1,2", delivered: 1, left: 2},
		{name: "first times out: nothing goes out of order", codes: []int{408}, sent: "1", left: 3},
		{name: "transport failure", codes: []int{0}, sent: "1", left: 3},
		{name: "the oldest expired: dropped, the rest delivered", age: time.Hour - 2*time.Second, sent: "3", delivered: 1, expired: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			store := message.NewMemory(clk)
			fill(t, store, clk, "1", "2", "3")
			clk.Advance(tc.age)
			ph := &phone{codes: tc.codes}
			d := deliverer(store, clk, ph)
			if n := d.Deliver(context.Background(), "bob@example.com", binding); n != tc.delivered {
				t.Errorf("Deliver = %d, want %d", n, tc.delivered)
			}
			if got := ph.bodies(); got != tc.sent {
				t.Errorf("phone got %q, want %q", got, tc.sent)
			}
			if n := left(t, store); n != tc.left {
				t.Errorf("%d left, want %d", n, tc.left)
			}
			if d.Delivered() != uint64(tc.delivered) || d.Expired() != tc.expired {
				t.Errorf("counted %d delivered, %d expired; want %d, %d", d.Delivered(), d.Expired(), tc.delivered, tc.expired)
			}
		})
	}
}

// TestDeliverAgain: what a failed run kept goes out at the next one.
func TestDeliverAgain(t *testing.T) {
	clk := clock.NewFake(t0)
	store := message.NewMemory(clk)
	fill(t, store, clk, "1", "2", "3")
	ph := &phone{codes: []int{200, 480}}
	d := deliverer(store, clk, ph)
	d.Deliver(context.Background(), "bob@example.com", binding)
	d.Deliver(context.Background(), "bob@example.com", binding)
	if got := ph.bodies(); got != "1,2,2,3" {
		t.Errorf("phone got %q, want 1,2 then 2,3", got)
	}
	if n := left(t, store); n != 0 {
		t.Errorf("%d left", n)
	}
}

// TestTwoRegistrationsAtOnce: while one run holds the user's lease (its
// phone slow to answer), a second registration, here or on another
// server, delivers nothing; each message reaches a phone once.
func TestTwoRegistrationsAtOnce(t *testing.T) {
	clk := clock.NewFake(t0)
	store := message.NewMemory(clk)
	fill(t, store, clk, "1", "2", "3")
	slow := &phone{release: make(chan struct{}), entered: make(chan struct{}, 3)}
	first, other := deliverer(store, clk, slow), deliverer(store, clk, &phone{})
	done := make(chan int)
	go func() { done <- first.Deliver(context.Background(), "bob@example.com", binding) }()
	<-slow.entered
	if n := other.Deliver(context.Background(), "bob@example.com", binding); n != 0 {
		t.Errorf("a second server delivered %d during the first's run", n)
	}
	close(slow.release)
	if n := <-done; n != 3 {
		t.Errorf("first run delivered %d, want 3", n)
	}
	if n := other.Deliver(context.Background(), "bob@example.com", binding); n != 0 {
		t.Errorf("after the run, %d delivered again", n)
	}
}

// TestRegistered: an added or refreshed binding starts a run, one at a
// time per user in a process; a removal or expiry does not.
func TestRegistered(t *testing.T) {
	clk := clock.NewFake(t0)
	store := message.NewMemory(clk)
	fill(t, store, clk, "1", "2")
	ph := &phone{}
	d := deliverer(store, clk, ph)
	for _, k := range []registrar.ChangeKind{registrar.Removed, registrar.Expired} {
		d.Registered(registrar.Change{Kind: k, AOR: binding.AOR, Binding: binding})
	}
	d.Close()
	if got := ph.bodies(); got != "" {
		t.Fatalf("a removal or expiry delivered %q", got)
	}
	d = deliverer(store, clk, ph)
	d.Registered(registrar.Change{Kind: registrar.Added, AOR: binding.AOR, Binding: binding})
	d.Registered(registrar.Change{Kind: registrar.Added, AOR: binding.AOR, Binding: binding})
	d.Close()
	if got := ph.bodies(); got != "1,2" {
		t.Errorf("phone got %q, want 1,2 once", got)
	}
	fill(t, store, clk, "3")
	d = deliverer(store, clk, ph)
	d.Registered(registrar.Change{Kind: registrar.Refreshed, AOR: binding.AOR, Binding: binding})
	d.Close()
	if got := ph.bodies(); got != "1,2,3" {
		t.Errorf("after a refresh the phone got %q, want 3 too", got)
	}
}

// pendingCounter counts the reads of waiting messages; embedding the
// memory store keeps its Screen.
type pendingCounter struct {
	*message.Memory
	reads atomic.Int64
}

func (p *pendingCounter) Pending(ctx context.Context, user string) ([]message.Message, error) {
	p.reads.Add(1)
	return p.Memory.Pending(ctx, user)
}

// TestRegisteredScreened: a store that knows the user has nothing
// waiting is not read and starts no run (a goroutine per REGISTER
// otherwise); one with a message waiting still delivers it.
func TestRegisteredScreened(t *testing.T) {
	clk := clock.NewFake(t0)
	store := &pendingCounter{Memory: message.NewMemory(clk)}
	ph := &phone{}
	d := deliverer(store, clk, ph)
	for _, k := range []registrar.ChangeKind{registrar.Added, registrar.Refreshed} {
		d.Registered(registrar.Change{Kind: k, AOR: binding.AOR, Binding: binding})
	}
	d.Close()
	if n := store.reads.Load(); n != 0 {
		t.Fatalf("nothing waiting, yet %d reads", n)
	}
	fill(t, store, clk, "1")
	d = deliverer(store, clk, ph)
	d.Registered(registrar.Change{Kind: registrar.Refreshed, AOR: binding.AOR, Binding: binding})
	d.Close()
	if n, got := store.reads.Load(), ph.bodies(); n == 0 || got != "1" {
		t.Errorf("a message waiting: %d reads, phone got %q; want reads and 1", n, got)
	}
}

func TestSweep(t *testing.T) {
	clk := clock.NewFake(t0)
	store := message.NewMemory(clk)
	fill(t, store, clk, "1", "2")
	d := deliverer(store, clk, &phone{})
	if n, err := d.Sweep(context.Background()); err != nil || n != 0 {
		t.Fatalf("young messages swept: %d, %v", n, err)
	}
	clk.Advance(time.Hour - 2*time.Second) // the first is exactly an hour old
	if n, err := d.Sweep(context.Background()); err != nil || n != 1 || d.Expired() != 1 {
		t.Errorf("Sweep = %d, %v, expired %d; want 1", n, err, d.Expired())
	}
}

// TestRequest: the delivered MESSAGE is the sender's, to the phone's
// Contact, in a transaction of its own (golden: testdata/delivered.sip).
func TestRequest(t *testing.T) {
	m := message.Message{User: "bob@example.com", From: `"Alice" <sip:alice@example.com>;tag=m1`, To: "Bob <sip:bob@example.com>",
		Date: "Wed, 02 Jan 2030 03:04:05 GMT", ContentType: "text/plain;charset=UTF-8", Body: []byte("hello")}
	req, err := message.Request(m, "sip:bob@192.0.2.20:5062")
	if err != nil {
		t.Fatal(err)
	}
	callID, _ := req.CallID()
	want := load(t, "delivered.sip", "CALLID", callID)
	if string(req.Bytes()) != string(want.Bytes()) {
		t.Errorf("request:\n%s\nwant:\n%s", req.Bytes(), want.Bytes())
	}
	m.From = "<sip:alice@example.com>"
	if req, err = message.Request(m, ""); err != nil || req.FromTag() == "" || req.RequestURI() != "sip:bob@example.com" {
		t.Errorf("without a From tag: %v, %v", req, err)
	}
}

// leaseCounter counts the leases taken: a registration with nothing
// waiting must write nothing.
type leaseCounter struct {
	message.Store
	leases int
}

func (l *leaseCounter) Lease(ctx context.Context, user, holder string, d time.Duration) (bool, error) {
	l.leases++
	return l.Store.Lease(ctx, user, holder, d)
}

func TestNothingWaitingTakesNoLease(t *testing.T) {
	clk := clock.NewFake(t0)
	store := &leaseCounter{Store: message.NewMemory(clk)}
	d := deliverer(store, clk, &phone{})
	if n := d.Deliver(context.Background(), "bob@example.com", binding); n != 0 || store.leases != 0 {
		t.Errorf("Deliver = %d with %d leases, want 0 and 0", n, store.leases)
	}
	fill(t, store, clk, "1")
	if n := d.Deliver(context.Background(), "bob@example.com", binding); n != 1 || store.leases != 1 {
		t.Errorf("Deliver = %d with %d leases, want 1 and 1", n, store.leases)
	}
}

// TestRunsBounded: a storm of registrations starts at most maxRuns runs
// at once; the users left out are served by their next registration.
func TestRunsBounded(t *testing.T) {
	clk := clock.NewFake(t0)
	store := message.NewMemory(clk)
	slow := &phone{release: make(chan struct{}), entered: make(chan struct{}, 1000)}
	d := deliverer(store, clk, slow)
	const users = 300
	for i := range users {
		user := "u" + strconv.Itoa(i) + "@example.com"
		if _, err := store.Add(context.Background(), message.Message{User: user, Body: []byte("x")}, message.Quota{}); err != nil {
			t.Fatal(err)
		}
		d.Registered(registrar.Change{Kind: registrar.Added, AOR: "sip:" + user, Binding: binding})
	}
	for range 256 {
		<-slow.entered
	}
	select {
	case <-slow.entered:
		t.Error("more than 256 runs at once")
	case <-time.After(100 * time.Millisecond):
	}
	close(slow.release)
	d.Close()
	if n, _, _ := store.Totals(context.Background()); n != users-256 {
		t.Errorf("%d left, want %d (the users past the bound)", n, users-256)
	}
}
