package clock

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// item is a Heap entry for the tests: a due time and its index.
type item struct{ due, index int }

func (it *item) Before(o *item) bool { return it.due < o.due }
func (it *item) SetIndex(i int)      { it.index = i }

// TestHeapAgainstSort drives a Heap with random pushes, pops, removes and
// fixes, and checks after each step that every entry knows its index and
// that pops come out in the order a sort gives.
func TestHeapAgainstSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Heap[*item]
	var live []*item // what the heap should hold
	for step := range 5000 {
		switch op := rng.IntN(4); {
		case op == 0 || len(live) == 0:
			it := &item{due: rng.IntN(100)}
			h.Push(it)
			live = append(live, it)
		case op == 1:
			min := slices.MinFunc(live, func(a, b *item) int { return a.due - b.due })
			if got := h.Pop(); got.due != min.due || got.index != -1 {
				t.Fatalf("step %d: Pop = due %d index %d, want due %d index -1", step, got.due, got.index, min.due)
			} else {
				live = slices.DeleteFunc(live, func(x *item) bool { return x == got })
			}
		case op == 2:
			it := live[rng.IntN(len(live))]
			if got := h.Remove(it.index); got != it || it.index != -1 {
				t.Fatalf("step %d: Remove returned another entry or left its index", step)
			}
			live = slices.DeleteFunc(live, func(x *item) bool { return x == it })
		default:
			it := live[rng.IntN(len(live))]
			it.due = rng.IntN(100)
			h.Fix(it.index)
		}
		if len(h) != len(live) {
			t.Fatalf("step %d: %d entries, want %d", step, len(h), len(live))
		}
		for i, it := range h {
			if it.index != i {
				t.Fatalf("step %d: entry at %d says %d", step, i, it.index)
			}
			if i > 0 && it.Before(h[(i-1)/2]) {
				t.Fatalf("step %d: entry %d is due before its parent", step, i)
			}
		}
	}
	var popped []int
	for len(h) > 0 {
		popped = append(popped, h.Pop().due)
	}
	if !slices.IsSorted(popped) {
		t.Fatalf("popped out of order: %v", popped)
	}
}
