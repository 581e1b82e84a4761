// Package fifo holds a first-in first-out queue whose entries leave
// from the front without the others being moved each time: the linger
// queues of the presence packages, which on a busy server hold tens or
// hundreds of thousands of entries and lose a few at every update.
package fifo

// Queue is a FIFO of T. The zero value is empty and ready.
type Queue[T any] struct {
	items []T
	head  int // items[:head] have left
}

// Push adds v at the back.
func (q *Queue[T]) Push(v T) { q.items = append(q.items, v) }

// Len returns how many entries the queue holds.
func (q *Queue[T]) Len() int { return len(q.items) - q.head }

// Front returns the oldest entry, or nil when the queue is empty. The
// pointer is valid until the next Push or Pop.
func (q *Queue[T]) Front() *T {
	if q.head == len(q.items) {
		return nil
	}
	return &q.items[q.head]
}

// Pop drops the oldest entry; the queue must not be empty. The rest move
// down only once those that left are half the array, so an entry moves
// about once, however many leave one at a time.
func (q *Queue[T]) Pop() {
	var zero T
	q.items[q.head] = zero // keep nothing the entry points to
	q.head++
	if q.head > len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}
