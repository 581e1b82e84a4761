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
