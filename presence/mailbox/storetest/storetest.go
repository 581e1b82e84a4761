// Package storetest is the conformance suite for mailbox.Store engines:
// the same answers from memory, SQLite and PostgreSQL.
//
// It lives in a non-test file so that every engine runs it from its own
// tests:
//
//	func TestMemory(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) mailbox.Store { return mailbox.NewMemory() })
//	}
package storetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/presence/mailbox"
)

const (
	alice = "alice@example.com"
	bob   = "bob@example.com"
)

var when = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// Run runs the suite against the engine newStore builds: called once per
// subtest, it must return an empty store sharing no state with the
// others and register its own cleanup (Close may be called twice).
func Run(t *testing.T, newStore func(t *testing.T) mailbox.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s mailbox.Store)
	}{
		{"Missing", testMissing},
		{"PutGet", testPutGet},
		{"Replace", testReplace},
		{"Conditional", testConditional},
		{"Delete", testDelete},
		{"Accounts", testAccounts},
		{"Copies", testCopies},
		{"Racing", testRacing},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

func summary(account, body, etag string) mailbox.Summary {
	return mailbox.Summary{Account: account, Body: []byte(body), ETag: etag, Updated: when}
}

func get(t *testing.T, s mailbox.Store, account string) mailbox.Summary {
	t.Helper()
	got, err := s.Get(context.Background(), account)
	if err != nil {
		t.Fatalf("Get(%s): %v", account, err)
	}
	return got
}

func same(t *testing.T, got, want mailbox.Summary) {
	t.Helper()
	if got.Account != want.Account || !bytes.Equal(got.Body, want.Body) || got.ETag != want.ETag || !got.Updated.Equal(want.Updated) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func testMissing(t *testing.T, s mailbox.Store) {
	if _, err := s.Get(context.Background(), alice); !errors.Is(err, mailbox.ErrNotFound) {
		t.Errorf("Get of a new account: %v, want ErrNotFound", err)
	}
}

func testPutGet(t *testing.T, s mailbox.Store) {
	want := summary(alice, "Messages-Waiting: yes\r\nVoice-Message: 2/8 (0/2)\r\n", "e1")
	if err := s.Put(context.Background(), want, ""); err != nil {
		t.Fatal(err)
	}
	same(t, get(t, s, alice), want)
}

func testReplace(t *testing.T, s mailbox.Store) {
	ctx := context.Background()
	s.Put(ctx, summary(alice, "Messages-Waiting: yes\r\n", "e1"), "")
	want := summary(alice, "Messages-Waiting: no\r\n", "e2")
	want.Updated = when.Add(time.Minute)
	if err := s.Put(ctx, want, ""); err != nil {
		t.Fatal(err)
	}
	same(t, get(t, s, alice), want)
}

func testConditional(t *testing.T, s mailbox.Store) {
	ctx := context.Background()
	if err := s.Put(ctx, summary(alice, "a", "e2"), "e1"); !errors.Is(err, mailbox.ErrConditionFailed) {
		t.Errorf("conditional Put of a missing account: %v", err)
	}
	if _, err := s.Get(ctx, alice); !errors.Is(err, mailbox.ErrNotFound) {
		t.Errorf("a failed conditional Put stored something: %v", err)
	}
	s.Put(ctx, summary(alice, "a", "e1"), "")
	if err := s.Put(ctx, summary(alice, "b", "e3"), "wrong"); !errors.Is(err, mailbox.ErrConditionFailed) {
		t.Errorf("Put with a wrong entity-tag: %v", err)
	}
	same(t, get(t, s, alice), summary(alice, "a", "e1"))
	if err := s.Put(ctx, summary(alice, "b", "e2"), "e1"); err != nil {
		t.Errorf("Put with the right entity-tag: %v", err)
	}
	same(t, get(t, s, alice), summary(alice, "b", "e2"))
	if err := s.Put(ctx, summary(alice, "c", "e3"), "e1"); !errors.Is(err, mailbox.ErrConditionFailed) {
		t.Errorf("Put with a spent entity-tag: %v", err)
	}
}

func testDelete(t *testing.T, s mailbox.Store) {
	ctx := context.Background()
	if err := s.Delete(ctx, alice, "e1"); !errors.Is(err, mailbox.ErrConditionFailed) {
		t.Errorf("Delete of a missing account: %v", err)
	}
	s.Put(ctx, summary(alice, "a", "e1"), "")
	if err := s.Delete(ctx, alice, "e0"); !errors.Is(err, mailbox.ErrConditionFailed) {
		t.Errorf("Delete with a wrong entity-tag: %v", err)
	}
	if err := s.Delete(ctx, alice, "e1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, alice); !errors.Is(err, mailbox.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
}

func testAccounts(t *testing.T, s mailbox.Store) {
	ctx := context.Background()
	s.Put(ctx, summary(alice, "a", "e1"), "")
	s.Put(ctx, summary(bob, "b", "e1"), "")
	if err := s.Delete(ctx, alice, "e1"); err != nil {
		t.Fatal(err)
	}
	same(t, get(t, s, bob), summary(bob, "b", "e1"))
}

// testCopies checks that neither the caller's body nor the one Get returned
// is the store's own.
func testCopies(t *testing.T, s mailbox.Store) {
	ctx := context.Background()
	in := summary(alice, "Messages-Waiting: yes\r\n", "e1")
	s.Put(ctx, in, "")
	in.Body[0] = 'X'
	got := get(t, s, alice)
	got.Body[1] = 'Y'
	same(t, get(t, s, alice), summary(alice, "Messages-Waiting: yes\r\n", "e1"))
}

// testRacing has many writers change one summary with the same
// SIP-If-Match: exactly one must win.
func testRacing(t *testing.T, s mailbox.Store) {
	ctx := context.Background()
	s.Put(ctx, summary(alice, "a", "e0"), "")
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- s.Put(ctx, summary(alice, "b", string(rune('A'+i))), "e0")
		})
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, mailbox.ErrConditionFailed):
			t.Errorf("racing Put: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d racing conditional Puts won, want 1", won)
	}
}

func testClosed(t *testing.T, s mailbox.Store) {
	ctx := context.Background()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, alice); !errors.Is(err, mailbox.ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if err := s.Put(ctx, summary(alice, "a", "e"), ""); !errors.Is(err, mailbox.ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}
	if err := s.Delete(ctx, alice, "e"); !errors.Is(err, mailbox.ErrClosed) {
		t.Errorf("Delete after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
