// Package storetest is the conformance suite for subscriber.Store engines.
//
// It lives in a non-test file so that every engine runs the same checks
// from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) subscriber.Store {
//			s := subscriber.NewMemory()
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/subscriber"
)

// created is a fixed creation time on a whole second, which every engine
// must return exactly.
var created = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// Run runs the suite against the engine newStore builds. newStore is
// called once per subtest and must return an empty store sharing no state
// with the others, and register its own cleanup; Close must accept being
// called twice.
func Run(t *testing.T, newStore func(t *testing.T) subscriber.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s subscriber.Store)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"PutReplaces", testPutReplaces},
		{"PutSetsCreated", testPutSetsCreated},
		{"PutRejectsIncomplete", testPutRejects},
		{"DomainCaseInsensitive", testDomainCase},
		{"UserCaseSensitive", testUserCase},
		{"Delete", testDelete},
		{"Exists", testExists},
		{"List", testList},
		{"ListEmpty", testListEmpty},
		{"Unicode", testUnicode},
		{"Concurrent", testConcurrent},
		{"CanceledContext", testCanceled},
		{"CloseTwice", testCloseTwice},
		{"Version", testVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func sub(user, domain, password string) subscriber.Subscriber {
	s := subscriber.New(user, domain, password)
	s.Created = created
	return s
}

func put(t *testing.T, s subscriber.Store, subs ...subscriber.Subscriber) {
	t.Helper()
	for _, x := range subs {
		if err := s.Put(context.Background(), x); err != nil {
			t.Fatalf("Put(%s): %v", x.AOR(), err)
		}
	}
}

func get(t *testing.T, s subscriber.Store, user, domain string) subscriber.Subscriber {
	t.Helper()
	got, err := s.Get(context.Background(), user, domain)
	if err != nil {
		t.Fatalf("Get(%s@%s): %v", user, domain, err)
	}
	return got
}

func testGetMissing(t *testing.T, s subscriber.Store) {
	_, err := s.Get(context.Background(), "nobody", "example.com")
	if !errors.Is(err, subscriber.ErrNotFound) {
		t.Fatalf("Get of a missing subscriber: err = %v, want ErrNotFound", err)
	}
}

func testPutGet(t *testing.T, s subscriber.Store) {
	want := sub("alice", "example.com", "secret")
	put(t, s, want)
	if got := get(t, s, "alice", "example.com"); got != want {
		t.Fatalf("Get = %+v, want %+v", got, want)
	}
}

func testPutReplaces(t *testing.T, s subscriber.Store) {
	put(t, s, sub("alice", "example.com", "old"))
	want := sub("alice", "example.com", "new")
	want.Created = created.Add(time.Hour)
	put(t, s, want)
	if got := get(t, s, "alice", "example.com"); got != want {
		t.Fatalf("after a second Put, Get = %+v, want %+v", got, want)
	}
	if list, _ := s.List(context.Background(), ""); len(list) != 1 {
		t.Fatalf("a second Put of one subscriber left %d rows, want 1", len(list))
	}
}

func testPutSetsCreated(t *testing.T, s subscriber.Store) {
	before := time.Now().Add(-time.Second)
	put(t, s, subscriber.New("bob", "example.com", "pw"))
	got := get(t, s, "bob", "example.com")
	if got.Created.Before(before) || got.Created.After(time.Now().Add(time.Second)) {
		t.Fatalf("Put with zero Created stored %v, want about now", got.Created)
	}
}

func testPutRejects(t *testing.T, s subscriber.Store) {
	bad := []subscriber.Subscriber{
		{Domain: "example.com", HA1MD5: "x", HA1SHA256: "y"},
		{User: "alice", HA1MD5: "x", HA1SHA256: "y"},
		{User: "alice", Domain: "example.com", HA1SHA256: "y"},
		{User: "alice", Domain: "example.com", HA1MD5: "x"},
	}
	for _, b := range bad {
		if err := s.Put(context.Background(), b); err == nil {
			t.Errorf("Put(%+v) succeeded, want an error", b)
		}
	}
}

func testDomainCase(t *testing.T, s subscriber.Store) {
	x := sub("alice", "example.com", "pw")
	x.Domain = "Example.COM"
	put(t, s, x)
	got := get(t, s, "alice", "EXAMPLE.com")
	if got.Domain != "example.com" {
		t.Fatalf("Domain = %q, want it stored in lower case", got.Domain)
	}
	if list, _ := s.List(context.Background(), "eXample.com"); len(list) != 1 {
		t.Fatalf("List with another case found %d, want 1", len(list))
	}
}

func testUserCase(t *testing.T, s subscriber.Store) {
	put(t, s, sub("alice", "example.com", "lower"), sub("Alice", "example.com", "upper"))
	if a, b := get(t, s, "alice", "example.com"), get(t, s, "Alice", "example.com"); a.HA1MD5 == b.HA1MD5 {
		t.Fatal("alice and Alice share a row; users must be case-sensitive")
	}
}

func testDelete(t *testing.T, s subscriber.Store) {
	ctx := context.Background()
	put(t, s, sub("alice", "example.com", "pw"), sub("bob", "example.com", "pw"))
	if err := s.Delete(ctx, "alice", "EXAMPLE.COM"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, "alice", "example.com"); !errors.Is(err, subscriber.ErrNotFound) {
		t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "alice", "example.com"); !errors.Is(err, subscriber.ErrNotFound) {
		t.Fatalf("second Delete: err = %v, want ErrNotFound", err)
	}
	get(t, s, "bob", "example.com")
}

func testExists(t *testing.T, s subscriber.Store) {
	ctx := context.Background()
	put(t, s, sub("alice", "example.com", "pw"))
	for _, tc := range []struct {
		user, domain string
		want         bool
	}{
		{"alice", "example.com", true},
		{"alice", "Example.Com", true},
		{"alice", "example.org", false},
		{"bob", "example.com", false},
	} {
		got, err := s.Exists(ctx, tc.user, tc.domain)
		if err != nil || got != tc.want {
			t.Errorf("Exists(%s@%s) = %v, %v; want %v", tc.user, tc.domain, got, err, tc.want)
		}
	}
}

func testList(t *testing.T, s subscriber.Store) {
	put(t, s, sub("carol", "b.example", "pw"), sub("bob", "a.example", "pw"),
		sub("alice", "b.example", "pw"), sub("Zed", "b.example", "pw"), sub("dave", "c.example", "pw"))
	check := func(domain string, want ...string) {
		t.Helper()
		list, err := s.List(context.Background(), domain)
		if err != nil {
			t.Fatalf("List(%q): %v", domain, err)
		}
		var got []string
		for _, x := range list {
			got = append(got, x.AOR())
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("List(%q) = %v, want %v", domain, got, want)
		}
	}
	// Byte order: "Zed" sorts before "alice".
	check("b.example", "Zed@b.example", "alice@b.example", "carol@b.example")
	check("", "bob@a.example", "Zed@b.example", "alice@b.example", "carol@b.example", "dave@c.example")
}

func testListEmpty(t *testing.T, s subscriber.Store) {
	list, err := s.List(context.Background(), "example.com")
	if err != nil || len(list) != 0 {
		t.Fatalf("List of an empty store = %v, %v; want nothing", list, err)
	}
}

func testUnicode(t *testing.T, s subscriber.Store) {
	want := sub("zoë+test", "exämple.com", "pässwörd")
	put(t, s, want)
	if got := get(t, s, "zoë+test", "exämple.com"); got != want {
		t.Fatalf("Get = %+v, want %+v", got, want)
	}
}

// testConcurrent writes and reads from many goroutines at once, as REGISTER
// handlers do, which SQLite answers with SQLITE_BUSY unless the engine
// waits for its lock.
func testConcurrent(t *testing.T, s subscriber.Store) {
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			ctx := context.Background()
			user := fmt.Sprintf("user%d", i)
			if err := s.Put(ctx, sub(user, "example.com", "pw")); err != nil {
				errs <- err
				return
			}
			if _, err := s.Get(ctx, user, "example.com"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if list, _ := s.List(context.Background(), "example.com"); len(list) != n {
		t.Fatalf("List found %d subscribers, want %d", len(list), n)
	}
}

func testCanceled(t *testing.T, s subscriber.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(ctx, "alice", "example.com"); err == nil || errors.Is(err, subscriber.ErrNotFound) {
		t.Errorf("Get with a canceled context: err = %v, want the context's error", err)
	}
	if err := s.Put(ctx, sub("alice", "example.com", "pw")); err == nil {
		t.Error("Put with a canceled context succeeded")
	}
}

func testCloseTwice(t *testing.T, s subscriber.Store) {
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// testVersion checks that a Versioned engine moves its version on every
// change, which is how a cache learns of another process's change.
func testVersion(t *testing.T, s subscriber.Store) {
	vs, ok := s.(subscriber.Versioned)
	if !ok {
		t.Skip("the engine is not Versioned")
	}
	ctx := context.Background()
	version := func() int64 {
		t.Helper()
		v, err := vs.Version(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	steps := []struct {
		name   string
		change func() error
	}{
		{"add", func() error { return s.Put(ctx, sub("alice", "example.com", "a")) }},
		{"passwd", func() error { return s.Put(ctx, sub("alice", "example.com", "b")) }},
		{"delete", func() error { return s.Delete(ctx, "alice", "example.com") }},
	}
	for _, st := range steps {
		before := version()
		if err := st.change(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if after := version(); after == before {
			t.Errorf("%s left the version at %d", st.name, after)
		}
	}
}
