// Package storetest is the conformance suite for message.Store engines:
// ordering, quotas, leases, expiry and paging, the same for every engine.
//
// It lives in a non-test file so that every engine runs it from its own
// tests:
//
//	func TestMemory(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, clk *clock.Fake) message.Store {
//			return message.NewMemory(clk)
//		})
//	}
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/message"
)

// start is the fake clock's first reading, on a whole second.
var start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	alice = "alice@example.com"
	bob   = "bob@example.com"
)

// Run runs the suite against the engine newStore builds. newStore is
// called once per subtest with a fresh fake clock reading start; it must
// return an empty store using that clock, sharing no state with the
// others, and register its own cleanup (Close may be called twice).
func Run(t *testing.T, newStore func(t *testing.T, clk *clock.Fake) message.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s message.Store, clk *clock.Fake)
	}{
		{"AddKeepsEverything", testAddKeeps},
		{"Order", testOrder},
		{"CountQuota", testCountQuota},
		{"ByteQuota", testByteQuota},
		{"NoQuota", testNoQuota},
		{"QuotaRace", testQuotaRace},
		{"Delete", testDelete},
		{"Lease", testLease},
		{"LeaseRace", testLeaseRace},
		{"Expire", testExpire},
		{"Page", testPage},
		{"Totals", testTotals},
		{"BinaryBody", testBinaryBody},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(start)
			tc.fn(t, newStore(t, clk), clk)
		})
	}
}

var ctx = context.Background()

func msg(user, text string) message.Message {
	return message.Message{
		User:        user,
		From:        `"Carol" <sip:carol@example.org>;tag=c1`,
		To:          "<sip:" + user + ">",
		Date:        "Wed, 02 Jan 2030 03:04:05 GMT",
		ContentType: "text/plain",
		Body:        []byte(text),
	}
}

func add(t *testing.T, s message.Store, m message.Message) message.Message {
	t.Helper()
	got, err := s.Add(ctx, m, message.Quota{})
	if err != nil {
		t.Fatalf("Add(%q): %v", m.Body, err)
	}
	return got
}

func bodies(ms []message.Message) string {
	var b bytes.Buffer
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(m.Body)
	}
	return b.String()
}

func pending(t *testing.T, s message.Store, user string) []message.Message {
	t.Helper()
	ms, err := s.Pending(ctx, user)
	if err != nil {
		t.Fatalf("Pending(%s): %v", user, err)
	}
	return ms
}

func testAddKeeps(t *testing.T, s message.Store, clk *clock.Fake) {
	clk.Advance(1500 * time.Microsecond)
	in := msg(alice, "hello")
	got := add(t, s, in)
	if got.ID == 0 || !got.Stored.Equal(start.Add(1500*time.Microsecond)) {
		t.Errorf("Add = ID %d, Stored %v; want an ID and the clock's time", got.ID, got.Stored)
	}
	ms := pending(t, s, alice)
	if len(ms) != 1 {
		t.Fatalf("Pending = %d messages, want 1", len(ms))
	}
	m := ms[0]
	if m.ID != got.ID || m.User != in.User || m.From != in.From || m.To != in.To || m.Date != in.Date ||
		m.ContentType != in.ContentType || string(m.Body) != "hello" || !m.Stored.Equal(got.Stored) {
		t.Errorf("stored %+v, want %+v", m, got)
	}
	if len(pending(t, s, bob)) != 0 {
		t.Error("bob has alice's message")
	}
}

func testOrder(t *testing.T, s message.Store, _ *clock.Fake) {
	for i := range 5 {
		add(t, s, msg(alice, fmt.Sprint(i)))
		add(t, s, msg(bob, fmt.Sprint("b", i)))
	}
	if got := bodies(pending(t, s, alice)); got != "0,1,2,3,4" {
		t.Errorf("alice's messages %s, want 0,1,2,3,4 (the order stored)", got)
	}
	if got := bodies(pending(t, s, bob)); got != "b0,b1,b2,b3,b4" {
		t.Errorf("bob's messages %s", got)
	}
}

func testCountQuota(t *testing.T, s message.Store, _ *clock.Fake) {
	q := message.Quota{MaxCount: 2, MaxBytes: 1 << 20}
	for i := range 2 {
		if _, err := s.Add(ctx, msg(alice, fmt.Sprint(i)), q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Add(ctx, msg(alice, "3"), q); !errors.Is(err, message.ErrCountQuota) {
		t.Errorf("third message: %v, want ErrCountQuota", err)
	}
	if _, err := s.Add(ctx, msg(bob, "x"), q); err != nil {
		t.Errorf("bob's quota is his own: %v", err)
	}
	ms := pending(t, s, alice)
	if _, err := s.Delete(ctx, ms[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, msg(alice, "3"), q); err != nil {
		t.Errorf("after a delivery the place is free again: %v", err)
	}
}

func testByteQuota(t *testing.T, s message.Store, _ *clock.Fake) {
	q := message.Quota{MaxCount: 100, MaxBytes: 10}
	if _, err := s.Add(ctx, msg(alice, "123456"), q); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, msg(alice, "12345"), q); !errors.Is(err, message.ErrByteQuota) {
		t.Errorf("6+5 bytes against 10: %v, want ErrByteQuota", err)
	}
	if _, err := s.Add(ctx, msg(alice, "1234"), q); err != nil {
		t.Errorf("6+4 bytes against 10 (exactly full): %v", err)
	}
	if _, err := s.Add(ctx, msg(alice, ""), message.Quota{MaxCount: 3, MaxBytes: 10}); err != nil {
		t.Errorf("an empty body costs no bytes: %v", err)
	}
}

func testNoQuota(t *testing.T, s message.Store, _ *clock.Fake) {
	for i := range 20 {
		add(t, s, msg(alice, fmt.Sprint(i)))
	}
	if n := len(pending(t, s, alice)); n != 20 {
		t.Errorf("%d messages, want 20 with no quota", n)
	}
}

// testQuotaRace: messages racing for the last places never overfill.
func testQuotaRace(t *testing.T, s message.Store, _ *clock.Fake) {
	q := message.Quota{MaxCount: 5}
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := range 20 {
		wg.Go(func() {
			_, err := s.Add(ctx, msg(alice, fmt.Sprint(i)), q)
			switch {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, message.ErrCountQuota):
				t.Errorf("Add: %v", err)
			}
		})
	}
	wg.Wait()
	if n := len(pending(t, s, alice)); n != 5 || ok.Load() != 5 {
		t.Errorf("%d stored, %d accepted; want 5 and 5", n, ok.Load())
	}
}

func testDelete(t *testing.T, s message.Store, _ *clock.Fake) {
	a := add(t, s, msg(alice, "a"))
	b := add(t, s, msg(alice, "b"))
	if ok, err := s.Delete(ctx, a.ID); err != nil || !ok {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	if ok, err := s.Delete(ctx, a.ID); err != nil || ok {
		t.Errorf("second Delete = %v, %v; want false: delivered once", ok, err)
	}
	if got := bodies(pending(t, s, alice)); got != "b" {
		t.Errorf("left %s, want b", got)
	}
	if _, err := s.Delete(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(pending(t, s, alice)); n != 0 {
		t.Errorf("%d left", n)
	}
}

func testLease(t *testing.T, s message.Store, clk *clock.Fake) {
	lease := func(user, holder string) bool {
		t.Helper()
		ok, err := s.Lease(ctx, user, holder, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !lease(alice, "h1") {
		t.Fatal("first lease refused")
	}
	if lease(alice, "h2") {
		t.Error("a second holder got a running lease")
	}
	if !lease(bob, "h2") {
		t.Error("leases are per user")
	}
	if !lease(alice, "h1") {
		t.Error("the holder cannot renew its own lease")
	}
	if err := s.Release(ctx, alice, "h2"); err != nil {
		t.Fatal(err)
	}
	if lease(alice, "h2") {
		t.Error("another holder's Release ended the lease")
	}
	if err := s.Release(ctx, alice, "h1"); err != nil {
		t.Fatal(err)
	}
	if !lease(alice, "h2") {
		t.Error("released lease not free")
	}
	clk.Advance(time.Minute)
	if !lease(alice, "h3") {
		t.Error("a lease that ran out still holds (a crashed deliverer would block delivery forever)")
	}
}

func testLeaseRace(t *testing.T, s message.Store, _ *clock.Fake) {
	var wg sync.WaitGroup
	var won atomic.Int32
	for i := range 10 {
		wg.Go(func() {
			ok, err := s.Lease(ctx, alice, fmt.Sprint("h", i), time.Minute)
			if err != nil {
				t.Errorf("Lease: %v", err)
			}
			if ok {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Errorf("%d holders won the lease, want 1", won.Load())
	}
}

func testExpire(t *testing.T, s message.Store, clk *clock.Fake) {
	add(t, s, msg(alice, "old"))
	clk.Advance(time.Hour)
	add(t, s, msg(alice, "new"))
	add(t, s, msg(bob, "new"))
	n, err := s.Expire(ctx, start.Add(30*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("Expire = %d, %v; want 1", n, err)
	}
	if n, err := s.Expire(ctx, start.Add(30*time.Minute)); err != nil || n != 0 {
		t.Errorf("second Expire = %d, %v; want 0: each counted once", n, err)
	}
	if got := bodies(pending(t, s, alice)); got != "new" {
		t.Errorf("alice has %s, want new", got)
	}
	if n, err := s.Expire(ctx, clk.Now()); err != nil || n != 2 {
		t.Errorf("Expire at a message's own time = %d, %v; want 2 (at or before)", n, err)
	}
}

func testPage(t *testing.T, s message.Store, _ *clock.Fake) {
	for i := range 5 {
		add(t, s, msg(alice, fmt.Sprint("a", i)))
		add(t, s, msg(bob, fmt.Sprint("b", i)))
	}
	all, err := s.Page(ctx, "", 0, 0)
	if err != nil || len(all) != 10 {
		t.Fatalf("Page(all) = %d, %v", len(all), err)
	}
	first, err := s.Page(ctx, "", 0, 3)
	if err != nil || bodies(first) != "a0,b0,a1" {
		t.Fatalf("first page %s, %v; want a0,b0,a1", bodies(first), err)
	}
	next, err := s.Page(ctx, "", first[2].ID, 3)
	if err != nil || bodies(next) != "b1,a2,b2" {
		t.Errorf("next page %s, %v", bodies(next), err)
	}
	bobs, err := s.Page(ctx, bob, 0, 2)
	if err != nil || bodies(bobs) != "b0,b1" {
		t.Errorf("bob's first page %s, %v", bodies(bobs), err)
	}
	bobs, err = s.Page(ctx, bob, bobs[1].ID, 10)
	if err != nil || bodies(bobs) != "b2,b3,b4" {
		t.Errorf("bob's next page %s, %v", bodies(bobs), err)
	}
	none, err := s.Page(ctx, "nobody@example.com", 0, 10)
	if err != nil || len(none) != 0 {
		t.Errorf("unknown user's page %v, %v", none, err)
	}
}

func testTotals(t *testing.T, s message.Store, _ *clock.Fake) {
	if n, b, err := s.Totals(ctx); err != nil || n != 0 || b != 0 {
		t.Errorf("empty Totals = %d, %d, %v", n, b, err)
	}
	add(t, s, msg(alice, "12345"))
	add(t, s, msg(bob, "123"))
	if n, b, err := s.Totals(ctx); err != nil || n != 2 || b != 8 {
		t.Errorf("Totals = %d, %d, %v; want 2, 8", n, b, err)
	}
}

func testBinaryBody(t *testing.T, s message.Store, _ *clock.Fake) {
	body := []byte{0, 0xff, 0xfe, '\r', '\n', 0x80}
	m := msg(alice, "")
	m.Body, m.ContentType = body, "application/octet-stream"
	add(t, s, m)
	body[0] = 1 // the store keeps its own copy
	ms := pending(t, s, alice)
	if len(ms) != 1 || !bytes.Equal(ms[0].Body, []byte{0, 0xff, 0xfe, '\r', '\n', 0x80}) {
		t.Errorf("body %v", ms)
	}
}

func testClose(t *testing.T, s message.Store, _ *clock.Fake) {
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Add(ctx, msg(alice, "x"), message.Quota{}); err == nil {
		t.Error("Add after Close succeeded")
	}
}
