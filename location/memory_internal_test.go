package location

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
)

// TestMemoryModel drives Memory with random updates, lookups and sweeps and
// checks it against a plain map, and checks the expiry heap after every
// step: a wrong heap index would not fail any single call, only make Expire
// miss bindings later.
func TestMemoryModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := NewMemory()
	defer m.Close()
	model := map[string][]Binding{}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	ctx := context.Background()
	aor := func() string { return fmt.Sprintf("sip:u%d@example.com", rng.IntN(40)) }

	live := func(bs []Binding) []Binding {
		return slices.DeleteFunc(slices.Clone(bs), func(b Binding) bool { return !b.Live(now) })
	}

	for step := range 20000 {
		switch op := rng.IntN(10); {
		case op < 5: // replace with 0..3 random bindings
			a := aor()
			var next []Binding
			for i := range rng.IntN(4) {
				next = append(next, Binding{
					AOR:     a,
					Contact: fmt.Sprintf("sip:c%d@h", i),
					Q:       rng.IntN(3) * 500,
					Expires: now.Add(time.Duration(rng.IntN(120)-10) * time.Second),
					Updated: now.Add(-time.Duration(rng.IntN(5)) * time.Second),
				})
			}
			if _, err := m.Update(ctx, a, now, func([]Binding) ([]Binding, error) { return next, nil }); err != nil {
				t.Fatal(err)
			}
			kept := live(next)
			if len(kept) == 0 {
				delete(model, a)
			} else {
				slices.SortStableFunc(kept, compareBindings)
				model[a] = kept
			}
		case op < 8:
			a := aor()
			got, err := m.Lookup(ctx, a, now)
			if err != nil {
				t.Fatal(err)
			}
			if want := live(model[a]); !equalContacts(got, want) {
				t.Fatalf("step %d: Lookup(%s) = %v, want %v", step, a, got, want)
			}
		case op < 9:
			n, err := m.Expire(ctx, now)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for a, bs := range model {
				kept := live(bs)
				want += len(bs) - len(kept)
				if len(kept) == 0 {
					delete(model, a)
				} else {
					model[a] = kept
				}
			}
			if n != want {
				t.Fatalf("step %d: Expire = %d, want %d", step, n, want)
			}
		default:
			now = now.Add(time.Duration(rng.IntN(20)) * time.Second)
		}
		checkInvariants(t, m, model, true)
	}
}

// compareBindings is the order Lookup promises: q descending, then most
// recently updated first.
func compareBindings(a, b Binding) int {
	if a.Q != b.Q {
		if a.Q > b.Q {
			return -1
		}
		return 1
	}
	return b.Updated.Compare(a.Updated)
}

func equalContacts(a, b []Binding) bool {
	return slices.EqualFunc(a, b, func(x, y Binding) bool {
		return x.Contact == y.Contact && x.Q == y.Q && x.Expires.Equal(y.Expires) && x.Updated.Equal(y.Updated)
	})
}

// checkInvariants verifies that each shard's heap is a valid min-heap whose
// records know their position and earliest expiry, that map and heap hold
// the same AORs, and that the counters match what is stored. With useModel
// it also compares the stored sets with model, which holds every stored
// binding, swept or not.
func checkInvariants(t *testing.T, m *Memory, model map[string][]Binding, useModel bool) {
	t.Helper()
	bindings, aors := 0, 0
	for si := range m.shards {
		s := &m.shards[si]
		if len(s.due) != len(s.aors) {
			t.Fatalf("shard %d: heap has %d AORs, map %d", si, len(s.due), len(s.aors))
		}
		if want := int64(math.MaxInt64); len(s.due) == 0 && s.nextDue.Load() != want {
			t.Fatalf("shard %d: empty heap, nextDue %d", si, s.nextDue.Load())
		} else if len(s.due) > 0 && s.nextDue.Load() != s.due[0].next {
			t.Fatalf("shard %d: nextDue %d, heap's earliest %d", si, s.nextDue.Load(), s.due[0].next)
		}
		for i, r := range s.due {
			if r.idx != i {
				t.Fatalf("shard %d: record at %d thinks it is at %d", si, i, r.idx)
			}
			if s.aors[r.aor] != r {
				t.Fatalf("shard %d: heap record %s not in map", si, r.aor)
			}
			if r.next != earliest(r.bs) {
				t.Fatalf("%s: next %v, earliest binding %v", r.aor, r.next, earliest(r.bs))
			}
			if p := (i - 1) / 2; i > 0 && s.due[p].next > r.next {
				t.Fatalf("shard %d: heap order broken at %d", si, i)
			}
			if stored := unpackAll(r.aor, r.bs, 0, true); useModel && !equalContacts(stored, model[r.aor]) {
				t.Fatalf("%s: stored %v, model %v", r.aor, stored, model[r.aor])
			}
			bindings += len(r.bs)
		}
		aors += len(s.aors)
	}
	if useModel && aors != len(model) {
		t.Fatalf("%d AORs stored, model has %d", aors, len(model))
	}
	if b, a := m.Count(); b != bindings || a != aors {
		t.Fatalf("Count() = (%d, %d), stored (%d, %d)", b, a, bindings, aors)
	}
}

// TestMemoryExpireBatches checks that a sweep larger than one batch per
// shard still removes everything, and only what is due.
func TestMemoryExpireBatches(t *testing.T) {
	const users = shardCount * expireBatch * 3
	m := NewMemory()
	defer m.Close()
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for u := range users {
		// Two thirds expire at +10s; the rest at +20s.
		bs := []Binding{{Contact: "sip:x@h", Expires: t0.Add(time.Duration(10+10*(u%3/2)) * time.Second)}}
		if _, err := m.Update(ctx, fmt.Sprintf("sip:u%d@example.com", u), t0, func([]Binding) ([]Binding, error) { return bs, nil }); err != nil {
			t.Fatal(err)
		}
	}
	want := 0
	for u := range users {
		if u%3 != 2 {
			want++
		}
	}
	if n, err := m.Expire(ctx, t0.Add(10*time.Second)); err != nil || n != want {
		t.Fatalf("Expire = %d, %v; want %d", n, err, want)
	}
	checkInvariants(t, m, nil, false)
	if b, a := m.Count(); b != users-want || a != users-want {
		t.Fatalf("Count() = (%d, %d), want %d of each", b, a, users-want)
	}
	if n, err := m.Expire(ctx, t0.Add(20*time.Second)); err != nil || n != users-want {
		t.Fatalf("second Expire = %d, %v; want %d", n, err, users-want)
	}
}

// TestUpdateRunsFnUnlocked: fn runs with no lock held, so that what it
// allocates (and the collector's assists for it) never holds a shard; an
// Update of the same AOR that lands meanwhile makes fn run again on the
// set it left, and after optimisticTries such races fn runs under the
// write lock, so that a hot AOR still makes progress. On code that ran fn
// under the lock the concurrent Update inside fn could not finish.
func TestUpdateRunsFnUnlocked(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const aor = "sip:alice@example.com"
	add := func(contact string) func([]Binding) ([]Binding, error) {
		return func(cur []Binding) ([]Binding, error) {
			return append(cur, Binding{Contact: contact, Expires: t0.Add(time.Hour)}), nil
		}
	}
	for _, tc := range []struct {
		name  string
		races int // concurrent Updates that land while fn runs, one per call
		calls int // how many times fn runs
	}{
		{"no race", 0, 1},
		{"one race", 1, 2},
		{"races until locked", optimisticTries + 1, optimisticTries + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMemory()
			defer m.Close()
			s := m.shardFor(aor)
			calls := 0
			var seen [][]string
			got, err := m.Update(ctx, aor, t0, func(cur []Binding) ([]Binding, error) {
				calls++
				seen = append(seen, contacts(cur))
				locked := !s.mu.TryRLock()
				if !locked {
					s.mu.RUnlock()
				}
				if want := calls > optimisticTries; locked != want {
					t.Errorf("call %d: shard locked = %v, want %v", calls, locked, want)
				}
				if calls <= tc.races && !locked {
					done := make(chan error)
					go func() {
						_, err := m.Update(ctx, aor, t0, add(fmt.Sprintf("sip:other%d@h", calls)))
						done <- err
					}()
					select {
					case err := <-done:
						if err != nil {
							t.Error(err)
						}
					case <-time.After(5 * time.Second):
						t.Fatal("an Update of the same AOR waited for fn to return")
					}
				}
				return append(cur, Binding{Contact: "sip:mine@h", Expires: t0.Add(time.Hour)}), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if calls != tc.calls {
				t.Errorf("fn ran %d times, want %d", calls, tc.calls)
			}
			// Each call sees every concurrent Update that landed before it.
			for i, c := range seen {
				if want := min(i, optimisticTries); len(c) != want {
					t.Errorf("call %d saw %v, want the %d concurrent bindings", i+1, c, want)
				}
			}
			if want := min(tc.races, optimisticTries) + 1; len(got) != want {
				t.Errorf("stored %v, want %d bindings (every race's and fn's)", contacts(got), want)
			}
			checkInvariants(t, m, nil, false)
		})
	}
}

// TestShardReserve: reserve moves a full heap into bigger room, so that the
// next Push allocates nothing under the lock, and leaves it otherwise.
func TestShardReserve(t *testing.T) {
	full := func() clock.Heap[*record] {
		h := make(clock.Heap[*record], 0, 2)
		h.Push(&record{next: 2})
		h.Push(&record{next: 1})
		return h
	}
	for _, tc := range []struct {
		name    string
		due     clock.Heap[*record]
		room    int // capacity of the room offered, 0 for none
		wantCap int
	}{
		{"full, room", full(), 8, 8},
		{"full, no room", full(), 0, 2},
		{"full, room too small", full(), 2, 2},
		{"not full", append(make(clock.Heap[*record], 0, 4), &record{}), 8, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &shard{due: tc.due}
			want := slices.Clone(tc.due)
			var room clock.Heap[*record]
			if tc.room > 0 {
				room = make(clock.Heap[*record], 0, tc.room)
			}
			s.reserve(room)
			if cap(s.due) != tc.wantCap || !slices.Equal(s.due, want) {
				t.Fatalf("reserve: heap %v cap %d, want %v cap %d", s.due, cap(s.due), want, tc.wantCap)
			}
			if tc.wantCap > len(want) {
				if n := testing.AllocsPerRun(1, func() {
					s.due.Push(&record{next: 3})
				}); n > 1 { // the record itself
					t.Errorf("Push after reserve allocated %v times", n)
				}
			}
		})
	}
}

// contacts lists the Contacts of bs.
func contacts(bs []Binding) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Contact)
	}
	return out
}

// TestUpdateLockedRunsFnOnce: UpdateLocked runs fn under the shard's write
// lock, once, even when other Updates of the AOR wait for it: what
// location/sqlstore's ordered durable writes need.
func TestUpdateLockedRunsFnOnce(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const aor = "sip:alice@example.com"
	m := NewMemory()
	defer m.Close()
	s := m.shardFor(aor)
	calls := 0
	other := make(chan error, 1)
	got, err := m.UpdateLocked(ctx, aor, t0, func(cur []Binding) ([]Binding, error) {
		calls++
		if s.mu.TryRLock() {
			s.mu.RUnlock()
			t.Error("fn ran with the shard unlocked")
		}
		if calls == 1 {
			// Must wait for the lock, and so land after this change.
			go func() {
				_, err := m.Update(ctx, aor, t0, func(cur []Binding) ([]Binding, error) {
					return append(cur, Binding{Contact: "sip:other@h", Expires: t0.Add(time.Hour)}), nil
				})
				other <- err
			}()
		}
		return append(cur, Binding{Contact: "sip:mine@h", Expires: t0.Add(time.Hour)}), nil
	})
	if err != nil || calls != 1 || len(got) != 1 {
		t.Fatalf("UpdateLocked = %v, %v with fn run %d times; want sip:mine@h alone, fn once", contacts(got), err, calls)
	}
	if err := <-other; err != nil {
		t.Fatal(err)
	}
	if bs, _ := m.Lookup(ctx, aor, t0); len(bs) != 2 {
		t.Fatalf("after both Updates: %v, want both bindings", contacts(bs))
	}
}

// TestStalledHolderBlocksFew: a shard's holder can lose its processor or
// its thread with the lock held (a preemption, a stop-the-world, a busy
// host), and every AOR of that shard then waits for it. In the traces of
// BenchmarkMillionPauses such stalls were nearly all of the waits over
// 3 ms, so what bounds the longest wait is the share of AORs behind one
// holder: at most 1 in 512 here (it was 1 in 64).
func TestStalledHolderBlocksFew(t *testing.T) {
	m := NewMemory()
	defer m.Close()
	held := m.shardFor("sip:stalled@example.com")
	const aors = 100_000
	behind := 0
	for u := range aors {
		if m.shardFor(fmt.Sprintf("sip:user%d@example.com", u)) == held {
			behind++
		}
	}
	if behind > aors/512 {
		t.Errorf("%d of %d AORs share a stalled holder's shard, want at most %d", behind, aors, aors/512)
	}
}

// TestIdleSweepTakesNoLock: a sweep that finds nothing due in a shard
// passes it without its lock, so that with shardCount shards the sweep
// that runs every second neither waits for nor delays any of them. Before,
// it locked each shard to look at its heap, and here waited for the
// stalled holder.
func TestIdleSweepTakesNoLock(t *testing.T) {
	m := NewMemory()
	defer m.Close()
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const aor = "sip:alice@example.com"
	bs := []Binding{{Contact: "sip:a@h", Expires: t0.Add(time.Hour)}}
	if _, err := m.Update(ctx, aor, t0, func([]Binding) ([]Binding, error) { return bs, nil }); err != nil {
		t.Fatal(err)
	}
	s := m.shardFor(aor)
	s.mu.Lock() // a holder that lost its processor
	done := make(chan error, 1)
	go func() {
		_, err := m.Expire(ctx, t0.Add(time.Minute))
		done <- err
	}()
	select {
	case err := <-done:
		s.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		s.mu.Unlock()
		<-done
		t.Fatal("a sweep with nothing due waited for a held shard")
	}
	// Due now: the sweep must still find it.
	if n, err := m.Expire(ctx, t0.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("Expire = %d, %v; want 1", n, err)
	}
	checkInvariants(t, m, nil, false)
}
