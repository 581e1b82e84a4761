package proxy

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
)

// slowStore is a location store across a network that answers an
// Update only when the test lets it: it reports each Update's AOR on
// entered and waits for a value on gate.
type slowStore struct {
	location.Store
	entered chan string
	gate    chan struct{}
}

func (s *slowStore) Update(ctx context.Context, aor string, now time.Time, fn func([]location.Binding) ([]location.Binding, error)) ([]location.Binding, error) {
	s.entered <- aor
	select {
	case <-s.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.Update(ctx, aor, now, fn)
}

// queueFixture is a proxy with one REGISTER worker in front of a
// slowStore.
type queueFixture struct {
	*fixture
	slow *slowStore
}

func newQueueFixture(t *testing.T, maxWaiting int) *queueFixture {
	t.Helper()
	cfg := defaultConfig()
	cfg.RegisterWorkers = 1
	f := newFixture(t, cfg)
	slow := &slowStore{Store: f.store, entered: make(chan string, 16), gate: make(chan struct{})}
	f.reg.Store = slow
	if maxWaiting > 0 {
		f.p.registering.maxWaiting = maxWaiting
	}
	return &queueFixture{fixture: f, slow: slow}
}

// register serves a REGISTER of user's AOR and fails the test if the
// reading goroutine is kept waiting for it; arrivedAgo > 0 says the
// datagram waited that long in the socket's buffer.
func (f *queueFixture) register(user string, arrivedAgo time.Duration) *fakeServerTx {
	f.t.Helper()
	m := req(f.t, "register.sip", "To: <sip:"+user+"@example.com>", "From: <sip:"+user+"@example.com>;tag=r1",
		"Call-ID: "+user+"@198.51.100.7", "Contact: <sip:"+user+"@198.51.100.7:5060>")
	in := incoming(m)
	if arrivedAgo > 0 {
		in.Arrived = f.clock.Now().Add(-arrivedAgo)
	}
	tx := &fakeServerTx{}
	done := make(chan struct{})
	go func() {
		f.p.ServeRequest(tx, in)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		f.t.Fatalf("REGISTER of %s: the reading goroutine waited for a worker", user)
	}
	return tx
}

// release lets the store answer one Update.
func (f *queueFixture) release() {
	f.t.Helper()
	select {
	case f.slow.gate <- struct{}{}:
	case <-time.After(5 * time.Second):
		f.t.Fatal("no Update waits for the store")
	}
}

// entered returns the AOR of the next Update to reach the store.
func (f *queueFixture) entered() string {
	f.t.Helper()
	select {
	case aor := <-f.slow.entered:
		return aor
	case <-time.After(5 * time.Second):
		f.t.Fatal("no Update reached the store")
		return ""
	}
}

// answered waits for tx's one response and returns it.
func answered(t *testing.T, tx *fakeServerTx) *sip.Message {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(tx.responses()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	rs := tx.responses()
	if len(rs) != 1 {
		t.Fatalf("responses = %q, want one", tx.statuses())
	}
	return rs[0]
}

// checkShed checks a 503 of a shed REGISTER: its reason and a
// Retry-After in the spread.
func checkShed(t *testing.T, who string, m *sip.Message) {
	t.Helper()
	if got := status(m); got != "503 Registrar Overloaded" {
		t.Fatalf("%s: %s, want 503 Registrar Overloaded", who, got)
	}
	ra := m.Header("Retry-After")
	if n, err := strconv.Atoi(ra); err != nil || n < overloadRetryMin || n >= overloadRetryMin+overloadRetrySpread {
		t.Errorf("%s: Retry-After %q, want %d to %d", who, ra, overloadRetryMin, overloadRetryMin+overloadRetrySpread-1)
	}
}

// TestRegisterQueue: past what the store can take, the reading goroutine
// never waits (it used to block on a full pool, which made the socket's
// buffer a queue where every REGISTER grew late, and throughput halved),
// the newest waiting REGISTER is handled first, and one that waited
// longer than registerMaxWait, here or in the socket's buffer, or that
// a full queue pushes out, is answered 503 with Retry-After without
// touching the store.
func TestRegisterQueue(t *testing.T) {
	tests := []struct {
		name       string
		maxWaiting int
		// run serves REGISTERs (the worker is busy with "first"), and
		// returns the order in which the store must see the others and
		// which of them must be shed.
		run func(f *queueFixture) (order []string, shed map[string]*fakeServerTx)
	}{
		{name: "newest first", run: func(f *queueFixture) ([]string, map[string]*fakeServerTx) {
			f.register("b", 0)
			f.register("c", 0)
			f.register("d", 0)
			return []string{"d", "c", "b"}, nil
		}},
		{name: "waited too long here", run: func(f *queueFixture) ([]string, map[string]*fakeServerTx) {
			b := f.register("b", 0)
			c := f.register("c", 0)
			f.clock.Advance(registerMaxWait)
			f.register("d", 0)
			return []string{"d"}, map[string]*fakeServerTx{"b": b, "c": c}
		}},
		{name: "waited too long in the socket's buffer", run: func(f *queueFixture) ([]string, map[string]*fakeServerTx) {
			b := f.register("b", registerMaxWait)
			f.register("c", registerMaxWait-time.Millisecond)
			return []string{"c"}, map[string]*fakeServerTx{"b": b}
		}},
		{name: "full queue", maxWaiting: 2, run: func(f *queueFixture) ([]string, map[string]*fakeServerTx) {
			b := f.register("b", 0)
			f.register("c", 0)
			f.register("d", 0)
			return []string{"d", "c"}, map[string]*fakeServerTx{"b": b}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newQueueFixture(t, tt.maxWaiting)
			first := f.register("first", 0)
			if got := f.entered(); got != "sip:first@example.com" {
				t.Fatalf("first Update of %s, want sip:first@example.com", got)
			}
			order, shed := tt.run(f)
			for who, tx := range shed {
				checkShed(t, who, answered(t, tx))
			}
			f.release()
			if got := status(answered(t, first)); got != "200 OK" {
				t.Fatalf("first: %s, want 200 OK", got)
			}
			for _, user := range order {
				if got, want := f.entered(), "sip:"+user+"@example.com"; got != want {
					t.Fatalf("Update of %s, want %s (order %q)", got, want, order)
				}
				f.release()
			}
			select {
			case aor := <-f.slow.entered:
				t.Errorf("Update of %s, which should have been shed", aor)
			case <-time.After(20 * time.Millisecond):
			}
			if got, want := f.p.RegistersShed(), uint64(len(shed)); got != want {
				t.Errorf("RegistersShed = %d, want %d", got, want)
			}
			deadline := time.Now().Add(5 * time.Second)
			for f.p.Pending() != 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if n := f.p.Pending(); n != 0 {
				t.Errorf("Pending = %d after every answer, want 0", n)
			}
		})
	}
}
