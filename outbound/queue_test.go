package outbound

import (
	"slices"
	"testing"
)

// TestQueueAfter: After runs after each function, before the next one,
// including those posted from inside a running function.
func TestQueueAfter(t *testing.T) {
	for _, tt := range []struct {
		name  string
		after bool
		want  []string
	}{
		{"without After", false, []string{"a", "b", "c"}},
		{"with After", true, []string{"a", "after", "b", "after", "c", "after"}},
	} {
		var q Queue
		var got []string
		if tt.after {
			q.After = func() { got = append(got, "after") }
		}
		q.Post(func() {
			got = append(got, "a")
			q.Post(func() { got = append(got, "b") })
			q.Post(func() { got = append(got, "c") })
		})
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: ran %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestQueueIdleKeepsNothing: a held call's queue is idle for hours, so
// an idle queue must keep no array, and a Post to it allocates nothing.
func TestQueueIdleKeepsNothing(t *testing.T) {
	var q Queue
	ran := 0
	nested := func() { ran++ }
	q.Post(func() {
		q.Post(nested)
		q.Post(nested)
	})
	if ran != 2 {
		t.Fatalf("%d nested functions ran, want 2", ran)
	}
	if q.queue != nil {
		t.Errorf("the drained queue keeps an array of %d", cap(q.queue))
	}
	if n := testing.AllocsPerRun(100, func() { q.Post(nested) }); n != 0 {
		t.Errorf("a Post to an idle queue allocates %.0f times, want 0", n)
	}
}
