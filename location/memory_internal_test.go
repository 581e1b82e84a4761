package location

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
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
