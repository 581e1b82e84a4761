package clock

// Entry is what a Heap holds: usually a pointer to something that falls
// due at some time and remembers where in the heap it is.
type Entry[T any] interface {
	// Before reports whether the receiver falls due before o.
	Before(o T) bool
	// SetIndex records the entry's position in the heap, and -1 when it
	// leaves the heap.
	SetIndex(i int)
}

// Heap is a min-heap of entries by Before, the one timer queue of the
// program: Fake keeps its pending timers in one, location.Memory each
// shard's AORs by earliest expiry. Each entry knows its index, so that a
// caller holding an entry can move it when its time changes (Fix) or take
// it out (Remove) in O(log n). The zero Heap is empty and ready to use.
type Heap[T Entry[T]] []T

// Push adds x.
func (h *Heap[T]) Push(x T) {
	*h = append(*h, x)
	x.SetIndex(len(*h) - 1)
	h.up(len(*h) - 1)
}

// Pop removes and returns the entry due first; the heap must not be empty.
func (h *Heap[T]) Pop() T { return h.Remove(0) }

// Remove removes and returns the entry at index i.
func (h *Heap[T]) Remove(i int) T {
	last := len(*h) - 1
	if i != last {
		h.swap(i, last)
		if !h.down(i, last) {
			h.up(i)
		}
	}
	x := (*h)[last]
	var zero T
	(*h)[last] = zero // no reference kept for the collector to follow
	*h = (*h)[:last]
	x.SetIndex(-1)
	return x
}

// Fix restores the order after the entry at index i changed its time.
func (h Heap[T]) Fix(i int) {
	if !h.down(i, len(h)) {
		h.up(i)
	}
}

func (h Heap[T]) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].SetIndex(i)
	h[j].SetIndex(j)
}

func (h Heap[T]) up(j int) {
	for j > 0 {
		parent := (j - 1) / 2
		if !h[j].Before(h[parent]) {
			break
		}
		h.swap(parent, j)
		j = parent
	}
}

// down sifts the entry at i0 down within h[:n] and reports whether it moved.
func (h Heap[T]) down(i0, n int) bool {
	i := i0
	for {
		left := 2*i + 1
		if left >= n || left < 0 { // left < 0 after an int overflow
			break
		}
		j := left
		if right := left + 1; right < n && h[right].Before(h[left]) {
			j = right
		}
		if !h[j].Before(h[i]) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}
