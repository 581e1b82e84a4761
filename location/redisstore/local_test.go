package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/location/redisstore/redistest"
)

// TestStaleRecall: an Update that starts from what its node last wrote,
// or from nothing, when another node (or Redis itself) changed the AOR
// since, still edits what is stored: the guess costs a round trip, never
// a binding.
func TestStaleRecall(t *testing.T) {
	url := requireRedis(t)
	ctx := context.Background()
	now := time.Now()
	bind := func(c string) location.Binding {
		return location.Binding{Contact: "sip:" + c + "@h", Q: 1000, Expires: now.Add(time.Hour), Updated: now}
	}
	add := func(c string) func([]location.Binding) ([]location.Binding, error) {
		return func(cur []location.Binding) ([]location.Binding, error) { return append(cur, bind(c)), nil }
	}
	// refuseEmpty fails as a registrar would on a set it cannot accept.
	refuseEmpty := func(cur []location.Binding) ([]location.Binding, error) {
		if len(cur) == 0 {
			return nil, errors.New("refused: no bindings")
		}
		return append(cur, bind("z")), nil
	}
	tests := []struct {
		name   string
		aWrote bool                                                         // node a wrote the AOR first
		meddle func(t *testing.T, b *Store, raw rueidis.Client, key string) // the change a does not know of
		fn     func([]location.Binding) ([]location.Binding, error)
		want   []string
	}{
		{"other node appended", true, func(t *testing.T, b *Store, _ rueidis.Client, _ string) {
			mustUpdate(t, b, add("b"))
		}, add("c"), []string{"a", "b", "c"}},
		{"other node removed all", true, func(t *testing.T, b *Store, _ rueidis.Client, _ string) {
			mustUpdate(t, b, func([]location.Binding) ([]location.Binding, error) { return nil, nil })
		}, add("c"), []string{"c"}},
		{"set gone from Redis", true, func(t *testing.T, _ *Store, raw rueidis.Client, key string) {
			if err := raw.Do(ctx, raw.B().Del().Key(key).Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}, add("c"), []string{"c"}},
		{"never written here", false, func(t *testing.T, b *Store, _ rueidis.Client, _ string) {
			mustUpdate(t, b, add("b"))
		}, add("c"), []string{"b", "c"}},
		{"fn refuses the guess", false, func(t *testing.T, b *Store, _ rueidis.Client, _ string) {
			mustUpdate(t, b, add("b"))
		}, refuseEmpty, []string{"b", "z"}},
		{"fn refuses a stale recall", true, func(t *testing.T, b *Store, _ rueidis.Client, _ string) {
			mustUpdate(t, b, add("b"))
		}, func(cur []location.Binding) ([]location.Binding, error) {
			if len(cur) != 2 {
				return nil, fmt.Errorf("refused: %d bindings", len(cur))
			}
			return append(cur, bind("c")), nil
		}, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := testPrefix(t, url)
			a, b := openTest(t, url, prefix), openTest(t, url, prefix)
			if tt.aWrote {
				mustUpdate(t, a, add("a"))
			}
			raw := redistest.Client(t, url)
			tt.meddle(t, b, raw, a.k.set(bucket(testAOR), testAOR))
			got, err := a.Update(ctx, testAOR, now, tt.fn)
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			if c := contacts(got); c != strings.Join(tt.want, ",") {
				t.Errorf("Update returned %s, want %s", c, strings.Join(tt.want, ","))
			}
			stored, err := b.Lookup(ctx, testAOR, now)
			if err != nil {
				t.Fatal(err)
			}
			if c := contacts(stored); c != strings.Join(tt.want, ",") {
				t.Errorf("stored %s, want %s", c, strings.Join(tt.want, ","))
			}
		})
	}
}

// TestOneRoundTrip: a node's Update of an AOR it wrote last, as a refresh
// is, and of an AOR nobody has, as a first registration is, costs the
// script alone; the read comes back only when the guess was wrong.
func TestOneRoundTrip(t *testing.T) {
	r := redistest.Start(t)
	raw := redistest.Client(t, r.URL())
	a, b := openTest(t, r.URL(), "parley:"), openTest(t, r.URL(), "parley:")
	now := time.Now()
	refresh := func(cur []location.Binding) ([]location.Binding, error) {
		return []location.Binding{{Contact: "sip:a@h", Q: 1000, Expires: now.Add(time.Hour), Updated: now}}, nil
	}
	// Load the script, so that no NOSCRIPT answer muddles the counts.
	if _, err := a.Update(context.Background(), "sip:prime@example.com", now, refresh); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		before    func(t *testing.T)
		wantReads int64
	}{
		{"first registration", func(*testing.T) {}, 0},
		{"refresh at the same node", func(*testing.T) {}, 0},
		{"refresh after another node wrote", func(t *testing.T) { mustUpdate(t, b, refresh) }, 0},
		{"refresh after the set was deleted behind its back", func(t *testing.T) {
			if err := raw.Do(context.Background(), raw.B().Del().Key(a.k.set(bucket(testAOR), testAOR)).Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.before(t)
			if err := raw.Do(context.Background(), raw.B().ConfigResetstat().Build()).Error(); err != nil {
				t.Fatal(err)
			}
			mustUpdate(t, a, refresh)
			stats := commandStats(t, raw)
			// A wrong guess costs a second script, which hands back the
			// current set: still no GET of the node's own.
			if got := stats["get"] - stats["evalsha"] - stats["eval"]; got != tt.wantReads {
				t.Errorf("GETs outside the script: %d, want %d (stats %v)", got, tt.wantReads, stats)
			}
		})
	}
	// And a conflict costs exactly the one extra script.
	mustUpdate(t, b, refresh)
	if err := raw.Do(context.Background(), raw.B().ConfigResetstat().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, a, refresh)
	if got := commandStats(t, raw)["evalsha"]; got != 2 {
		t.Errorf("after another node's write: %d scripts, want 2", got)
	}
}

// testAOR is the AOR the tests of local state update.
const testAOR = "sip:alice@example.com"

func mustUpdate(t *testing.T, s *Store, fn func([]location.Binding) ([]location.Binding, error)) {
	t.Helper()
	if _, err := s.Update(context.Background(), testAOR, time.Now(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func contacts(bs []location.Binding) string {
	cs := make([]string, len(bs))
	for i, b := range bs {
		cs[i] = strings.TrimSuffix(strings.TrimPrefix(b.Contact, "sip:"), "@h")
	}
	slices.Sort(cs)
	return strings.Join(cs, ",")
}

// commandStats returns INFO commandstats as calls per command.
func commandStats(t *testing.T, c rueidis.Client) map[string]int64 {
	t.Helper()
	info, err := c.Do(context.Background(), c.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			t.Fatalf("commandstats line %q: %v", line, err)
		}
		out[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return out
}

// TestLocalLock: a node's Updates of one AOR wait for each other, of two
// AORs never (even two in one shard), and a waiter gives up with its
// context.
func TestLocalLock(t *testing.T) {
	l := newLocal()
	ctx := context.Background()
	held, err := l.lock(ctx, "sip:a@h")
	if err != nil {
		t.Fatal(err)
	}
	// Another AOR of the same shard.
	other := ""
	for i := 0; other == ""; i++ {
		if c := fmt.Sprintf("sip:b%d@h", i); l.shard(c) == l.shard("sip:a@h") {
			other = c
		}
	}
	tests := []struct {
		name string
		aor  string
		wait bool
	}{
		{"same AOR waits", "sip:a@h", true},
		{"other AOR of the shard goes on", other, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			ls, err := l.lock(c, tt.aor)
			if waited := errors.Is(err, context.DeadlineExceeded); waited != tt.wait {
				t.Fatalf("lock(%s) = %v, want waiting %v", tt.aor, err, tt.wait)
			}
			if err == nil {
				ls.unlock()
			}
		})
	}
	done := make(chan error, 1)
	go func() {
		ls, err := l.lock(ctx, "sip:a@h")
		if err == nil {
			ls.unlock()
		}
		done <- err
	}()
	held.unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter did not get the lock after unlock")
	}
	if len(l.shard("sip:a@h").busy) != 0 {
		t.Error("a lock is still held after every unlock")
	}
}

// TestRecallBound: a node remembers at most recallMax sets per shard, and
// keeps the one it wrote last.
func TestRecallBound(t *testing.T) {
	l := newLocal()
	sh := l.shard("sip:last@h")
	n := 0
	for i := 0; n <= recallMax; i++ {
		if aor := fmt.Sprintf("sip:u%d@h", i); l.shard(aor) == sh {
			l.remember(aor, "v")
			n++
		}
	}
	l.remember("sip:last@h", "w")
	if len(sh.last) != recallMax {
		t.Errorf("shard remembers %d sets, want at most %d", len(sh.last), recallMax)
	}
	if v, ok := l.recall("sip:last@h"); !ok || v != "w" {
		t.Errorf("recall of the last written = %q, %v", v, ok)
	}
	l.forget("sip:last@h")
	if _, ok := l.recall("sip:last@h"); ok {
		t.Error("recall after forget still answers")
	}
}

// recall returns, as lock does, the set this node last wrote for aor and
// whether it has one.
func (l *local) recall(aor string) (string, bool) {
	sh := l.shard(aor)
	sh.mu.Lock()
	r, ok := sh.last[aor]
	sh.mu.Unlock()
	return r.set, ok
}
