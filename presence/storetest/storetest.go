// Package storetest is the conformance suite for presence.Store engines:
// RFC 3903's PUBLISH semantics and expiry, the same for every engine.
//
// It lives in a non-test file so that every engine runs it from its own
// tests:
//
//	func TestMemory(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, clk *clock.Fake) presence.Store {
//			return presence.NewMemory(clk)
//		})
//	}
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/presence"
)

// start is the fake clock's first reading, on a whole second.
var start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	alice  = "alice@example.com"
	bob    = "bob@example.com"
	event  = "presence"
	ctype  = "application/pidf+xml"
	expiry = time.Hour
)

// Run runs the suite against the engine newStore builds. newStore is
// called once per subtest with a fresh fake clock reading start; it must
// return an empty store using that clock, sharing no state with the
// others, and register its own cleanup (Close may be called twice).
func Run(t *testing.T, newStore func(t *testing.T, clk *clock.Fake) presence.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s presence.Store, clk *clock.Fake)
	}{
		{"Initial", testInitial},
		{"InitialRefused", testInitialRefused},
		{"Refresh", testRefresh},
		{"Modify", testModify},
		{"Remove", testRemove},
		{"UnknownETag", testUnknownETag},
		{"ETagOfAnotherEntity", testOtherEntity},
		{"Expiry", testExpiry},
		{"ExpireReturnsOnce", testExpireOnce},
		{"SeveralDevices", testSeveralDevices},
		{"BinaryBody", testBinaryBody},
		{"RacingRefreshes", testRacingRefreshes},
		{"Concurrent", testConcurrent},
		{"CloseTwice", testCloseTwice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(start)
			tc.fn(t, newStore(t, clk), clk)
		})
	}
}

var ctx = context.Background()

func initial(entity, body string) presence.Request {
	return presence.Request{Entity: entity, Event: event, ContentType: ctype, Body: []byte(body), Expires: expiry}
}

func publish(t *testing.T, s presence.Store, r presence.Request) presence.Publication {
	t.Helper()
	p, err := s.Publish(ctx, r)
	if err != nil {
		t.Fatalf("Publish(%+v): %v", r, err)
	}
	return p
}

func list(t *testing.T, s presence.Store, entity string) []presence.Publication {
	t.Helper()
	ps, err := s.List(ctx, entity, event)
	if err != nil {
		t.Fatalf("List(%s): %v", entity, err)
	}
	return ps
}

func wantError(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

func samePublication(t *testing.T, got, want presence.Publication) {
	t.Helper()
	if got.Entity != want.Entity || got.Event != want.Event || got.ETag != want.ETag ||
		got.ContentType != want.ContentType || !bytes.Equal(got.Body, want.Body) ||
		!got.Expires.Equal(want.Expires) || !got.Modified.Equal(want.Modified) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func testInitial(t *testing.T, s presence.Store, clk *clock.Fake) {
	p := publish(t, s, initial(alice, "<open/>"))
	want := presence.Publication{Entity: alice, Event: event, ETag: p.ETag, ContentType: ctype,
		Body: []byte("<open/>"), Expires: start.Add(expiry), Modified: start}
	if p.ETag == "" {
		t.Fatal("no ETag")
	}
	samePublication(t, p, want)
	ps := list(t, s, alice)
	if len(ps) != 1 {
		t.Fatalf("List = %d publications, want 1", len(ps))
	}
	samePublication(t, ps[0], want)
	if other, _ := s.List(ctx, alice, "dialog"); len(other) != 0 {
		t.Fatalf("List of another event = %v", other)
	}
}

func testInitialRefused(t *testing.T, s presence.Store, clk *clock.Fake) {
	_, err := s.Publish(ctx, presence.Request{Entity: alice, Event: event, Expires: expiry})
	wantError(t, err, presence.ErrNoBody)
	r := initial(alice, "<open/>")
	r.Expires = 0
	_, err = s.Publish(ctx, r)
	wantError(t, err, presence.ErrExpiresZero)
	r.Expires = -time.Second
	_, err = s.Publish(ctx, r)
	wantError(t, err, presence.ErrNegativeExpires)
	if ps := list(t, s, alice); len(ps) != 0 {
		t.Fatalf("a refused PUBLISH left %v", ps)
	}
}

func testRefresh(t *testing.T, s presence.Store, clk *clock.Fake) {
	p := publish(t, s, initial(alice, "<open/>"))
	clk.Advance(30 * time.Minute)
	r := publish(t, s, presence.Request{Entity: alice, Event: event, IfMatch: p.ETag, Expires: 2 * expiry})
	if r.ETag == p.ETag || r.ETag == "" {
		t.Fatalf("refresh kept ETag %q (or gave none)", r.ETag)
	}
	want := p
	want.ETag, want.Expires = r.ETag, start.Add(30*time.Minute+2*expiry)
	samePublication(t, r, want)
	samePublication(t, list(t, s, alice)[0], want)
	_, err := s.Publish(ctx, presence.Request{Entity: alice, Event: event, IfMatch: p.ETag, Expires: expiry})
	wantError(t, err, presence.ErrConditionFailed)
}

func testModify(t *testing.T, s presence.Store, clk *clock.Fake) {
	p := publish(t, s, initial(alice, "<open/>"))
	clk.Advance(time.Minute)
	m := publish(t, s, presence.Request{Entity: alice, Event: event, IfMatch: p.ETag,
		ContentType: "application/pidf+xml;charset=utf-8", Body: []byte("<closed/>"), Expires: expiry})
	if m.ETag == p.ETag {
		t.Fatal("modify kept the ETag")
	}
	want := presence.Publication{Entity: alice, Event: event, ETag: m.ETag, ContentType: "application/pidf+xml;charset=utf-8",
		Body: []byte("<closed/>"), Expires: start.Add(time.Minute + expiry), Modified: start.Add(time.Minute)}
	samePublication(t, m, want)
	ps := list(t, s, alice)
	if len(ps) != 1 {
		t.Fatalf("List = %d publications, want 1", len(ps))
	}
	samePublication(t, ps[0], want)
}

func testRemove(t *testing.T, s presence.Store, clk *clock.Fake) {
	p := publish(t, s, initial(alice, "<open/>"))
	clk.Advance(time.Minute)
	r := publish(t, s, presence.Request{Entity: alice, Event: event, IfMatch: p.ETag})
	want := p
	want.Expires = start.Add(time.Minute)
	samePublication(t, r, want)
	if ps := list(t, s, alice); len(ps) != 0 {
		t.Fatalf("removed publication still listed: %v", ps)
	}
	_, err := s.Publish(ctx, presence.Request{Entity: alice, Event: event, IfMatch: p.ETag})
	wantError(t, err, presence.ErrConditionFailed)
	if gone, _ := s.Expire(ctx); len(gone) != 0 {
		t.Fatalf("Expire returned a removed publication: %v", gone)
	}
}

func testUnknownETag(t *testing.T, s presence.Store, clk *clock.Fake) {
	publish(t, s, initial(alice, "<open/>"))
	for _, r := range []presence.Request{
		{Entity: alice, Event: event, IfMatch: "nosuchtag", Expires: expiry},
		{Entity: alice, Event: event, IfMatch: "nosuchtag", Body: []byte("<x/>"), ContentType: ctype, Expires: expiry},
		{Entity: alice, Event: event, IfMatch: "nosuchtag"},
	} {
		_, err := s.Publish(ctx, r)
		wantError(t, err, presence.ErrConditionFailed)
	}
}

func testOtherEntity(t *testing.T, s presence.Store, clk *clock.Fake) {
	p := publish(t, s, initial(alice, "<open/>"))
	for _, r := range []presence.Request{
		{Entity: bob, Event: event, IfMatch: p.ETag, Expires: expiry},
		{Entity: alice, Event: "dialog", IfMatch: p.ETag, Expires: expiry},
		{Entity: bob, Event: event, IfMatch: p.ETag},
	} {
		_, err := s.Publish(ctx, r)
		wantError(t, err, presence.ErrConditionFailed)
	}
	samePublication(t, list(t, s, alice)[0], p)
}

func testExpiry(t *testing.T, s presence.Store, clk *clock.Fake) {
	p := publish(t, s, initial(alice, "<open/>"))
	clk.Advance(expiry - time.Microsecond)
	if len(list(t, s, alice)) != 1 {
		t.Fatal("publication gone before its Expires")
	}
	clk.Advance(time.Microsecond)
	if ps := list(t, s, alice); len(ps) != 0 {
		t.Fatalf("publication listed at its Expires: %v", ps)
	}
	_, err := s.Publish(ctx, presence.Request{Entity: alice, Event: event, IfMatch: p.ETag, Expires: expiry})
	wantError(t, err, presence.ErrConditionFailed)
}

func testExpireOnce(t *testing.T, s presence.Store, clk *clock.Fake) {
	a := publish(t, s, initial(alice, "<a/>"))
	clk.Advance(time.Minute)
	r := initial(bob, "<b/>")
	r.Expires = 2 * expiry
	b := publish(t, s, r)
	if gone, _ := s.Expire(ctx); len(gone) != 0 {
		t.Fatalf("Expire before anything lapsed: %v", gone)
	}
	clk.Advance(expiry)
	gone, err := s.Expire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 1 {
		t.Fatalf("Expire = %v, want alice's", gone)
	}
	samePublication(t, gone[0], a)
	if again, _ := s.Expire(ctx); len(again) != 0 {
		t.Fatalf("second Expire = %v", again)
	}
	samePublication(t, list(t, s, bob)[0], b)
}

func testSeveralDevices(t *testing.T, s presence.Store, clk *clock.Fake) {
	var etags []string
	for i := range 3 {
		etags = append(etags, publish(t, s, initial(alice, fmt.Sprintf("<device%d/>", i))).ETag)
		clk.Advance(time.Second)
	}
	// Modifying the first makes it the most recent.
	m := publish(t, s, presence.Request{Entity: alice, Event: event, IfMatch: etags[0], ContentType: ctype, Body: []byte("<device0b/>"), Expires: expiry})
	ps := list(t, s, alice)
	var bodies []string
	for _, p := range ps {
		bodies = append(bodies, string(p.Body))
	}
	if fmt.Sprint(bodies) != "[<device1/> <device2/> <device0b/>]" {
		t.Fatalf("List bodies %v, want oldest modification first", bodies)
	}
	if ps[2].ETag != m.ETag {
		t.Fatalf("last ETag %q, want %q", ps[2].ETag, m.ETag)
	}
}

func testBinaryBody(t *testing.T, s presence.Store, clk *clock.Fake) {
	body := []byte{0, 0xff, 0xfe, '<', 0xc3, 0x28, '>', 0}
	p := publish(t, s, presence.Request{Entity: "ünïcode@example.com", Event: event, ContentType: ctype, Body: body, Expires: expiry})
	got := list(t, s, "ünïcode@example.com")
	if len(got) != 1 {
		t.Fatalf("List = %v", got)
	}
	samePublication(t, got[0], p)
}

// testRacingRefreshes sends one SIP-If-Match from many goroutines: the
// condition holds for exactly one of them (RFC 3903 §6 step 2).
func testRacingRefreshes(t *testing.T, s presence.Store, clk *clock.Fake) {
	p := publish(t, s, initial(alice, "<open/>"))
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := s.Publish(ctx, presence.Request{Entity: alice, Event: event, IfMatch: p.ETag, Expires: expiry})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, presence.ErrConditionFailed):
			t.Fatalf("racing refresh: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d refreshes of one ETag succeeded, want 1", won)
	}
}

func testConcurrent(t *testing.T, s presence.Store, clk *clock.Fake) {
	const users, rounds = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, users)
	for u := range users {
		wg.Go(func() {
			entity := fmt.Sprintf("user%d@example.com", u)
			p, err := s.Publish(ctx, initial(entity, "<open/>"))
			for i := 0; err == nil && i < rounds; i++ {
				p, err = s.Publish(ctx, presence.Request{Entity: entity, Event: event, IfMatch: p.ETag,
					ContentType: ctype, Body: fmt.Appendf(nil, "<r%d/>", i), Expires: expiry})
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for u := range users {
		ps := list(t, s, fmt.Sprintf("user%d@example.com", u))
		if len(ps) != 1 || string(ps[0].Body) != fmt.Sprintf("<r%d/>", rounds-1) {
			t.Fatalf("user%d: %v", u, ps)
		}
	}
}

func testCloseTwice(t *testing.T, s presence.Store, clk *clock.Fake) {
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
