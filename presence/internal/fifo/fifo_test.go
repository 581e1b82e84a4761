package fifo

import "testing"

// TestQueue pushes and pops in turns and checks the order, the length,
// and that the entries left behind stay in place until half have left.
func TestQueue(t *testing.T) {
	var q Queue[int]
	if q.Front() != nil || q.Len() != 0 {
		t.Fatal("a zero Queue is not empty")
	}
	for i := range 10 {
		q.Push(i)
	}
	fifth := &q.items[4]
	for want := range 4 {
		if got := *q.Front(); got != want {
			t.Fatalf("front %d, want %d", got, want)
		}
		q.Pop()
	}
	if q.Front() != fifth || q.Len() != 6 {
		t.Errorf("after 4 of 10 left: moved %v, length %d; want not moved, 6", q.Front() != fifth, q.Len())
	}
	q.Pop() // the fifth: 5 of 10 have left, not yet more than half
	q.Pop() // 6 of 10: the other 4 move down
	if q.head != 0 || len(q.items) != 4 || *q.Front() != 6 {
		t.Errorf("after 6 of 10 left: head %d, %d held, front %d; want 0, 4, 6", q.head, len(q.items), *q.Front())
	}
	q.Push(10)
	for want := 6; want <= 10; want++ {
		if got := *q.Front(); got != want {
			t.Fatalf("front %d, want %d", got, want)
		}
		q.Pop()
	}
	if q.Front() != nil || q.Len() != 0 {
		t.Errorf("drained queue: length %d", q.Len())
	}
}

// TestPopReleases checks that a popped entry keeps nothing alive.
func TestPopReleases(t *testing.T) {
	var q Queue[*int]
	for range 4 {
		q.Push(new(int))
	}
	q.Pop()
	if q.items[0] != nil {
		t.Error("the popped slot still points to its entry")
	}
}
