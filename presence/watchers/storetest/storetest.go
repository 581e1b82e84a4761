// Package storetest is the conformance suite for watchers.Store engines.
//
// It lives in a non-test file so that every engine runs it from its own
// tests:
//
//	func TestMemory(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, clk *clock.Fake) watchers.Store {
//			return watchers.NewMemory(clk)
//		})
//	}
package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/presence/watchers"
)

// start is the fake clock's first reading, on a whole second.
var start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	alice = "alice@example.com"
	bob   = "bob@example.com"
)

var ctx = context.Background()

// Run runs the suite against the engine newStore builds: an empty store
// on the given fake clock, sharing nothing with the others, that
// registers its own cleanup (Close may be called twice).
func Run(t *testing.T, newStore func(t *testing.T, clk *clock.Fake) watchers.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s watchers.Store, clk *clock.Fake)
	}{
		{"PutAndList", testPutList},
		{"MoveBetweenLists", testMove},
		{"Remove", testRemove},
		{"ListAll", testListAll},
		{"Changed", testChanged},
		{"Concurrent", testConcurrent},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(start)
			tc.fn(t, newStore(t, clk), clk)
		})
	}
}

func put(t *testing.T, s watchers.Store, user, watcher string, l watchers.List) {
	t.Helper()
	if err := s.Put(ctx, watchers.Entry{User: user, Watcher: watcher, List: l}); err != nil {
		t.Fatalf("Put(%s, %s, %s): %v", user, watcher, l, err)
	}
}

func list(t *testing.T, s watchers.Store, user string) string {
	t.Helper()
	es, err := s.List(ctx, user)
	if err != nil {
		t.Fatalf("List(%q): %v", user, err)
	}
	out := ""
	for _, e := range es {
		out += fmt.Sprintf("%s:%s=%s ", e.User, e.Watcher, e.List)
	}
	return out
}

func testPutList(t *testing.T, s watchers.Store, clk *clock.Fake) {
	clk.Advance(1500 * time.Microsecond)
	put(t, s, alice, "carol@example.net", watchers.Allow)
	put(t, s, alice, "example.org", watchers.Block)
	put(t, s, alice, "BOB@example.com", watchers.Allow)
	want := "alice@example.com:BOB@example.com=allow alice@example.com:carol@example.net=allow alice@example.com:example.org=block "
	if got := list(t, s, alice); got != want {
		t.Errorf("List = %q\nwant %q (ordered by watcher, bytewise)", got, want)
	}
	es, _ := s.List(ctx, alice)
	if !es[0].Added.Equal(start.Add(1500 * time.Microsecond)) {
		t.Errorf("Added = %v, want the clock's time", es[0].Added)
	}
	if got := list(t, s, bob); got != "" {
		t.Errorf("bob's list %q, want empty", got)
	}
}

func testMove(t *testing.T, s watchers.Store, clk *clock.Fake) {
	put(t, s, alice, "carol@example.net", watchers.Allow)
	clk.Advance(time.Second)
	put(t, s, alice, "carol@example.net", watchers.Block)
	if got := list(t, s, alice); got != "alice@example.com:carol@example.net=block " {
		t.Errorf("after block: %q, want carol on the block list only", got)
	}
	es, _ := s.List(ctx, alice)
	if !es[0].Added.Equal(start.Add(time.Second)) {
		t.Errorf("Added = %v, want the time of the last Put", es[0].Added)
	}
}

func testRemove(t *testing.T, s watchers.Store, _ *clock.Fake) {
	put(t, s, alice, "carol@example.net", watchers.Allow)
	put(t, s, bob, "carol@example.net", watchers.Block)
	if ok, err := s.Remove(ctx, alice, "carol@example.net"); err != nil || !ok {
		t.Fatalf("Remove = %v, %v", ok, err)
	}
	if ok, err := s.Remove(ctx, alice, "carol@example.net"); err != nil || ok {
		t.Errorf("second Remove = %v, %v; want false", ok, err)
	}
	if got := list(t, s, alice); got != "" {
		t.Errorf("alice's list %q after Remove", got)
	}
	if got := list(t, s, bob); got != "bob@example.com:carol@example.net=block " {
		t.Errorf("bob's list %q: Remove reached another user", got)
	}
}

func testListAll(t *testing.T, s watchers.Store, _ *clock.Fake) {
	put(t, s, bob, "x.example", watchers.Block)
	put(t, s, alice, "z@example.com", watchers.Allow)
	put(t, s, alice, "a@example.com", watchers.Block)
	want := "alice@example.com:a@example.com=block alice@example.com:z@example.com=allow bob@example.com:x.example=block "
	if got := list(t, s, ""); got != want {
		t.Errorf("List(all) = %q\nwant %q", got, want)
	}
}

func testChanged(t *testing.T, s watchers.Store, clk *clock.Fake) {
	changed := func(since time.Time) string {
		t.Helper()
		us, err := s.Changed(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(us)
		return strings.Join(us, " ")
	}
	put(t, s, alice, "example.net", watchers.Block)
	put(t, s, alice, "example.org", watchers.Block)
	clk.Advance(time.Second)
	put(t, s, bob, "example.net", watchers.Allow)
	if got := changed(start); got != alice+" "+bob {
		t.Errorf("Changed(start) = %q, want alice and bob once each", got)
	}
	if got := changed(start.Add(time.Second)); got != bob {
		t.Errorf("Changed(start+1s) = %q, want bob (at or after)", got)
	}
	clk.Advance(time.Second)
	if _, err := s.Remove(ctx, bob, "nothing.example"); err != nil {
		t.Fatal(err)
	}
	if got := changed(clk.Now()); got != "" {
		t.Errorf("a Remove that removed nothing is a change: %q", got)
	}
	if _, err := s.Remove(ctx, alice, "example.org"); err != nil {
		t.Fatal(err)
	}
	if got := changed(clk.Now()); got != alice {
		t.Errorf("after a Remove: %q, want alice", got)
	}
	clk.Advance(watchers.ChangesKept + time.Second)
	put(t, s, bob, "example.org", watchers.Block)
	if got := changed(start); got != bob {
		t.Errorf("after an hour: %q, want only bob's new change (older ones forgotten)", got)
	}
}

func testConcurrent(t *testing.T, s watchers.Store, _ *clock.Fake) {
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			l := watchers.Allow
			if i%2 == 1 {
				l = watchers.Block
			}
			if err := s.Put(ctx, watchers.Entry{User: alice, Watcher: "carol@example.net", List: l}); err != nil {
				t.Errorf("Put: %v", err)
			}
			if err := s.Put(ctx, watchers.Entry{User: alice, Watcher: fmt.Sprint("w", i, "@example.net"), List: l}); err != nil {
				t.Errorf("Put: %v", err)
			}
		})
	}
	wg.Wait()
	es, err := s.List(ctx, alice)
	if err != nil || len(es) != 11 {
		t.Errorf("List = %d entries, %v; want 11 (carol once)", len(es), err)
	}
}

func testClose(t *testing.T, s watchers.Store, _ *clock.Fake) {
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.List(ctx, alice); err == nil {
		t.Error("List after Close succeeded")
	}
}
