package dialog

import "testing"

// TestIndexClash: dialogs whose IDs share a hash are all found, and the
// removal of any leaves the others findable, whatever the order.
func TestIndexClash(t *testing.T) {
	ids := []ID{{"c1", "a", "b"}, {"c2", "a", "b"}, {"c1", "b", "a"}}
	for _, tc := range []struct {
		name   string
		hash   func(ID) uint64
		remove []int // indexes into ids, in order
	}{
		{"seeded hash", newIndex().hash, []int{0, 1, 2}},
		{"one hash for all, first in first out", func(ID) uint64 { return 7 }, []int{0, 1, 2}},
		{"one hash for all, last in first out", func(ID) uint64 { return 7 }, []int{2, 1, 0}},
		{"one hash for all, middle first", func(ID) uint64 { return 7 }, []int{1, 0, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newIndex()
			x.hash = tc.hash
			ds := make([]*Dialog, len(ids))
			for i, id := range ids {
				ds[i] = &Dialog{id: id}
				x.put(ds[i])
			}
			if x.len() != len(ids) {
				t.Fatalf("len %d, want %d", x.len(), len(ids))
			}
			if got := x.get(ID{"c3", "a", "b"}); got != nil {
				t.Errorf("an unknown ID found %v", got.id)
			}
			gone := map[int]bool{}
			for _, r := range tc.remove {
				x.remove(&Dialog{id: ids[r]}) // another dialog with that ID: not removed
				if x.get(ids[r]) != ds[r] {
					t.Fatalf("removing a stranger with the ID of %d removed it", r)
				}
				x.remove(ds[r])
				gone[r] = true
				for i, id := range ids {
					want := ds[i]
					if gone[i] {
						want = nil
					}
					if got := x.get(id); got != want {
						t.Errorf("after removing %v: get(%d) = %p, want %p", tc.remove, i, got, want)
					}
				}
			}
			if x.len() != 0 || x.clash != nil {
				t.Errorf("emptied index keeps %d dialogs, clash %v", x.len(), x.clash)
			}
		})
	}
}
