// Package storetest is the conformance suite for location.Store engines.
//
// It lives in a non-test file so that every engine — memory here, SQLite or
// PostgreSQL elsewhere — runs the same checks from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.TestStore(t, func(t *testing.T) location.Store {
//			s := location.NewMemory()
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
)

// base is the suite's "now". It is on a whole second in UTC, and every time
// the suite uses is a whole number of seconds from it, so that an engine that
// stores Unix seconds or drops the time zone still compares equal.
var base = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// at returns base plus n seconds.
func at(n int) time.Time { return base.Add(time.Duration(n) * time.Second) }

// TestStore runs the conformance suite against the engine newStore builds.
//
// newStore is called once per subtest and must return an empty store that
// shares no state with the others. It should register its own cleanup (for
// example t.Cleanup(func() { s.Close() })); the suite closes some stores
// itself, and Close must accept being called twice.
func TestStore(t *testing.T, newStore func(t *testing.T) location.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s location.Store)
	}{
		{"InsertLookup", testInsertLookup},
		{"ContactParamsVerbatim", testContactParams},
		{"OrderQThenRecency", testOrder},
		{"UpdateReplaces", testUpdateReplaces},
		{"EmptyDeletes", testEmptyDeletes},
		{"FnErrorAborts", testFnErrorAborts},
		{"ExpiryBoundary", testExpiryBoundary},
		{"LookupHidesExpired", testLookupHidesExpired},
		{"UpdateDropsExpired", testUpdateDropsExpired},
		{"ExpireCounts", testExpireCounts},
		{"Count", testCount},
		{"Range", testRange},
		{"RangeStops", testRangeStops},
		{"ConcurrentUpdatesSameAOR", testConcurrentSameAOR},
		{"ConcurrentUpdatesManyAORs", testConcurrentManyAORs},
		{"NoAliasing", testNoAliasing},
		{"CancelledContext", testCancelledContext},
		{"FlowsShareAContact", testFlowsShareAContact},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

// full returns a binding with every field set, so the suite notices an
// engine that forgets to store one.
func full(contact string, q int, updated, expires time.Time) location.Binding {
	return location.Binding{
		Contact:    contact,
		Params:     `reg-id=1;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";+g.oma.sip-im;audio="TRUE"`,
		Q:          q,
		Expires:    expires,
		CallID:     "call-" + contact,
		CSeq:       42,
		Path:       []string{"<sip:edge1.example.net;lr>", "<sip:edge2.example.net;lr;ob>"},
		Transport:  "tcp",
		Source:     netip.MustParseAddrPort("198.51.100.7:50312"),
		Local:      netip.MustParseAddrPort("[2001:db8::1]:5060"),
		ConnID:     9001,
		InstanceID: "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>",
		RegID:      1,
		UserAgent:  "storetest/1.0",
		Updated:    updated,
	}
}

// simple returns a binding with q 1000, updated at base, expiring after
// expires seconds.
func simple(contact string, expires int) location.Binding {
	return location.Binding{
		Contact:   contact,
		Q:         1000,
		Expires:   at(expires),
		CallID:    "call-" + contact,
		CSeq:      1,
		Transport: "udp",
		Updated:   base,
	}
}

// put replaces aor's set with bs at now and fails the test on error.
func put(t *testing.T, s location.Store, aor string, now time.Time, bs ...location.Binding) []location.Binding {
	t.Helper()
	got, err := s.Update(context.Background(), aor, now, func([]location.Binding) ([]location.Binding, error) {
		return bs, nil
	})
	if err != nil {
		t.Fatalf("Update(%q): %v", aor, err)
	}
	return got
}

// lookup returns aor's live set at now and fails the test on error.
func lookup(t *testing.T, s location.Store, aor string, now time.Time) []location.Binding {
	t.Helper()
	got, err := s.Lookup(context.Background(), aor, now)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", aor, err)
	}
	return got
}

// expire runs Expire at now and fails the test on error.
func expire(t *testing.T, s location.Store, now time.Time) int {
	t.Helper()
	n, err := s.Expire(context.Background(), now)
	if err != nil {
		t.Fatalf("Expire: %v", err)
	}
	return n
}

// contacts lists the Contact of each binding, for order checks.
func contacts(bs []location.Binding) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Contact
	}
	return out
}

func wantContacts(t *testing.T, what string, bs []location.Binding, want ...string) {
	t.Helper()
	if got := contacts(bs); !slices.Equal(got, want) {
		t.Fatalf("%s: contacts = %q, want %q", what, got, want)
	}
}

func wantCount(t *testing.T, s location.Store, bindings, aors int) {
	t.Helper()
	if b, a := s.Count(); b != bindings || a != aors {
		t.Fatalf("Count() = (%d, %d), want (%d, %d)", b, a, bindings, aors)
	}
}

// diff describes how got differs from want, or returns "" if they are the
// same binding. Times compare by instant, and nil and empty Path are equal,
// since engines may round-trip either way.
func diff(got, want location.Binding) string {
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	if got.AOR != want.AOR {
		add("AOR", got.AOR, want.AOR)
	}
	if got.Contact != want.Contact {
		add("Contact", got.Contact, want.Contact)
	}
	if got.Params != want.Params {
		add("Params", got.Params, want.Params)
	}
	if got.Q != want.Q {
		add("Q", got.Q, want.Q)
	}
	if !got.Expires.Equal(want.Expires) {
		add("Expires", got.Expires, want.Expires)
	}
	if got.CallID != want.CallID {
		add("CallID", got.CallID, want.CallID)
	}
	if got.CSeq != want.CSeq {
		add("CSeq", got.CSeq, want.CSeq)
	}
	if !slices.Equal(got.Path, want.Path) {
		add("Path", got.Path, want.Path)
	}
	if got.Transport != want.Transport {
		add("Transport", got.Transport, want.Transport)
	}
	if got.Source != want.Source {
		add("Source", got.Source, want.Source)
	}
	if got.Local != want.Local {
		add("Local", got.Local, want.Local)
	}
	if got.ConnID != want.ConnID {
		add("ConnID", got.ConnID, want.ConnID)
	}
	if got.InstanceID != want.InstanceID {
		add("InstanceID", got.InstanceID, want.InstanceID)
	}
	if got.RegID != want.RegID {
		add("RegID", got.RegID, want.RegID)
	}
	if got.UserAgent != want.UserAgent {
		add("UserAgent", got.UserAgent, want.UserAgent)
	}
	if !got.Updated.Equal(want.Updated) {
		add("Updated", got.Updated, want.Updated)
	}
	return strings.Join(d, "; ")
}

func testInsertLookup(t *testing.T, s location.Store) {
	const aor = "sip:alice@example.com"
	in := full("sip:alice@198.51.100.7:50312;transport=tcp", 700, at(-5), at(3600))
	in.AOR = "" // the store fills it in from the aor argument
	want := in
	want.AOR = aor

	got := put(t, s, aor, base, in)
	if len(got) != 1 {
		t.Fatalf("Update returned %d bindings, want 1", len(got))
	}
	if d := diff(got[0], want); d != "" {
		t.Errorf("Update returned: %s", d)
	}
	got = lookup(t, s, aor, base)
	if len(got) != 1 {
		t.Fatalf("Lookup returned %d bindings, want 1", len(got))
	}
	if d := diff(got[0], want); d != "" {
		t.Errorf("Lookup returned: %s", d)
	}
	if got := lookup(t, s, "sip:bob@example.com", base); len(got) != 0 {
		t.Errorf("Lookup of unknown AOR = %v, want none", got)
	}
}

// testContactParams: a Contact's parameters come back byte for byte,
// whatever they hold: quoted strings with escapes and angle brackets,
// white space, case, feature tags without a value, UTF-8.
func testContactParams(t *testing.T, s location.Store) {
	const aor = "sip:dave@example.com"
	params := []string{
		"",
		"ob",
		`reg-id=1;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";+g.oma.sip-im;audio="TRUE"`,
		` Q = 0.5 ; +sip.instance = "<urn:uuid:1>" ;methods="INVITE, MESSAGE"`,
		`x="a\"b;c\\";+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel";n="Dave Müller"`,
	}
	var in []location.Binding
	for i, p := range params {
		b := simple(fmt.Sprintf("sip:dave@198.51.100.7:%d", 5060+i), 60)
		b.Params = p
		in = append(in, b)
	}
	put(t, s, aor, base, in...)
	got := lookup(t, s, aor, base)
	byContact := make(map[string]string, len(got))
	for _, b := range got {
		byContact[b.Contact] = b.Params
	}
	for _, b := range in {
		if p, ok := byContact[b.Contact]; !ok || p != b.Params {
			t.Errorf("%s: Params = %q (found %v), want %q", b.Contact, p, ok, b.Params)
		}
	}
}

func testOrder(t *testing.T, s location.Store) {
	const aor = "sip:alice@example.com"
	mk := func(c string, q, updated int) location.Binding {
		return full(c, q, at(updated), at(3600))
	}
	// Given in an order that is neither the wanted one nor its reverse.
	got := put(t, s, aor, at(10),
		mk("sip:a@h", 500, 1),
		mk("sip:e@h", 0, 5),
		mk("sip:b@h", 1000, 1),
		mk("sip:d@h", 1000, 2),
		mk("sip:c@h", 1000, 3),
	)
	wantContacts(t, "Update", got, "sip:c@h", "sip:d@h", "sip:b@h", "sip:a@h", "sip:e@h")
	wantContacts(t, "Lookup", lookup(t, s, aor, at(10)), "sip:c@h", "sip:d@h", "sip:b@h", "sip:a@h", "sip:e@h")

	// Refreshing b makes it the most recent of the q=1000 bindings.
	_, err := s.Update(context.Background(), aor, at(20), func(cur []location.Binding) ([]location.Binding, error) {
		for i := range cur {
			if cur[i].Contact == "sip:b@h" {
				cur[i].Updated = at(20)
			}
		}
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantContacts(t, "after refresh", lookup(t, s, aor, at(20)), "sip:b@h", "sip:c@h", "sip:d@h", "sip:a@h", "sip:e@h")
}

func testUpdateReplaces(t *testing.T, s location.Store) {
	const aor = "sip:alice@example.com"
	put(t, s, aor, base, simple("sip:a@h", 60), simple("sip:b@h", 60))

	var seen []string
	got, err := s.Update(context.Background(), aor, base, func(cur []location.Binding) ([]location.Binding, error) {
		seen = contacts(cur)
		return []location.Binding{simple("sip:c@h", 60)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(seen)
	if !slices.Equal(seen, []string{"sip:a@h", "sip:b@h"}) {
		t.Errorf("fn saw %q, want the current set [sip:a@h sip:b@h]", seen)
	}
	wantContacts(t, "Update", got, "sip:c@h")
	wantContacts(t, "Lookup", lookup(t, s, aor, base), "sip:c@h")
	wantCount(t, s, 1, 1)

	// An Update of a fresh AOR sees an empty set.
	_, err = s.Update(context.Background(), "sip:new@example.com", base, func(cur []location.Binding) ([]location.Binding, error) {
		if len(cur) != 0 {
			t.Errorf("fn for a fresh AOR saw %d bindings", len(cur))
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testEmptyDeletes(t *testing.T, s location.Store) {
	const aor = "sip:alice@example.com"
	put(t, s, aor, base, simple("sip:a@h", 60), simple("sip:b@h", 60))
	put(t, s, "sip:bob@example.com", base, simple("sip:bob@h", 60))
	wantCount(t, s, 3, 2)

	for _, empty := range [][]location.Binding{nil, {}} {
		put(t, s, aor, base, simple("sip:a@h", 60))
		got := put(t, s, aor, base, empty...)
		if len(got) != 0 {
			t.Errorf("Update to empty returned %v", got)
		}
		if got := lookup(t, s, aor, base); len(got) != 0 {
			t.Errorf("Lookup after delete = %v", got)
		}
		wantCount(t, s, 1, 1)
		s.Range(func(a string, _ []location.Binding) bool {
			if a == aor {
				t.Errorf("Range still lists deleted %s", aor)
			}
			return true
		})
	}

	// Emptying an AOR that does not exist creates nothing.
	put(t, s, "sip:nobody@example.com", base)
	wantCount(t, s, 1, 1)
}

func testFnErrorAborts(t *testing.T, s location.Store) {
	const aor = "sip:alice@example.com"
	errBoom := errors.New("boom")
	put(t, s, aor, base, simple("sip:a@h", 60), simple("sip:b@h", 60))

	got, err := s.Update(context.Background(), aor, base, func(cur []location.Binding) ([]location.Binding, error) {
		// Scribble on what fn was given: none of it may reach the store.
		cur[0].Contact = "sip:scribbled@h"
		cur = append(cur, simple("sip:c@h", 60))
		return cur, errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update error = %v, want %v", err, errBoom)
	}
	if len(got) != 0 {
		t.Errorf("failed Update returned %v", got)
	}
	bs := lookup(t, s, aor, base)
	slices.SortFunc(bs, func(a, b location.Binding) int { return strings.Compare(a.Contact, b.Contact) })
	wantContacts(t, "Lookup after failed Update", bs, "sip:a@h", "sip:b@h")
	wantCount(t, s, 2, 1)

	// A failed Update of a fresh AOR creates nothing.
	_, err = s.Update(context.Background(), "sip:bob@example.com", base, func([]location.Binding) ([]location.Binding, error) {
		return []location.Binding{simple("sip:bob@h", 60)}, errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update error = %v, want %v", err, errBoom)
	}
	if got := lookup(t, s, "sip:bob@example.com", base); len(got) != 0 {
		t.Errorf("failed Update created %v", got)
	}
	wantCount(t, s, 2, 1)
}

func testExpiryBoundary(t *testing.T, s location.Store) {
	const aor = "sip:alice@example.com"
	put(t, s, aor, base, simple("sip:a@h", 60))

	if got := lookup(t, s, aor, at(59)); len(got) != 1 {
		t.Errorf("one second before expiry: %d bindings, want 1", len(got))
	}
	if got := lookup(t, s, aor, at(60)); len(got) != 0 {
		t.Errorf("at expiry: %d bindings, want 0 (expired at == now is gone)", len(got))
	}
	if n := expire(t, s, at(59)); n != 0 {
		t.Errorf("Expire one second early removed %d", n)
	}
	wantCount(t, s, 1, 1)
	if n := expire(t, s, at(60)); n != 1 {
		t.Errorf("Expire at expiry removed %d, want 1", n)
	}
	wantCount(t, s, 0, 0)
	if got := lookup(t, s, aor, at(59)); len(got) != 0 {
		t.Errorf("after Expire, Lookup at an earlier time still finds %v", got)
	}
}

func testLookupHidesExpired(t *testing.T, s location.Store) {
	const aor = "sip:alice@example.com"
	put(t, s, aor, base, simple("sip:a@h", 30), simple("sip:b@h", 90))

	// No Expire has run: Lookup and Update must hide a on their own.
	wantContacts(t, "Lookup", lookup(t, s, aor, at(30)), "sip:b@h")
	_, err := s.Update(context.Background(), aor, at(30), func(cur []location.Binding) ([]location.Binding, error) {
		wantContacts(t, "fn's current set", cur, "sip:b@h")
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The Update replaced the set with b alone, so a is no longer held.
	wantCount(t, s, 1, 1)
	if n := expire(t, s, at(30)); n != 0 {
		t.Errorf("Expire removed %d, want 0: the Update already dropped a", n)
	}
	wantContacts(t, "Lookup after Expire", lookup(t, s, aor, at(30)), "sip:b@h")
}

func testUpdateDropsExpired(t *testing.T, s location.Store) {
	const aor = "sip:alice@example.com"
	got := put(t, s, aor, at(10),
		simple("sip:past@h", 5),
		simple("sip:now@h", 10),
		simple("sip:live@h", 11),
	)
	wantContacts(t, "Update", got, "sip:live@h")
	wantContacts(t, "Lookup", lookup(t, s, aor, at(10)), "sip:live@h")
	wantCount(t, s, 1, 1)

	// A set of nothing but expired bindings is an empty set: the AOR goes.
	got = put(t, s, aor, at(10), simple("sip:now@h", 10))
	if len(got) != 0 {
		t.Errorf("Update of only expired bindings returned %v", got)
	}
	wantCount(t, s, 0, 0)
}

func testExpireCounts(t *testing.T, s location.Store) {
	put(t, s, "sip:x@example.com", base, simple("sip:x1@h", 10), simple("sip:x2@h", 20), simple("sip:x3@h", 30))
	put(t, s, "sip:y@example.com", base, simple("sip:y1@h", 10))
	put(t, s, "sip:z@example.com", base, simple("sip:z1@h", 100))
	wantCount(t, s, 5, 3)

	steps := []struct {
		now            int
		removed        int
		bindings, aors int
	}{
		{5, 0, 5, 3},
		{10, 2, 3, 2},
		{10, 0, 3, 2}, // nothing left to do at the same instant
		{25, 1, 2, 2},
		{1000, 2, 0, 0},
		{2000, 0, 0, 0},
	}
	for _, st := range steps {
		if n := expire(t, s, at(st.now)); n != st.removed {
			t.Errorf("Expire(+%ds) removed %d, want %d", st.now, n, st.removed)
		}
		wantCount(t, s, st.bindings, st.aors)
	}
	if got := lookup(t, s, "sip:x@example.com", base); len(got) != 0 {
		t.Errorf("expired bindings came back: %v", got)
	}
}

func testCount(t *testing.T, s location.Store) {
	wantCount(t, s, 0, 0)
	put(t, s, "sip:a@example.com", base, simple("sip:1@h", 60))
	wantCount(t, s, 1, 1)
	put(t, s, "sip:b@example.com", base, simple("sip:1@h", 60), simple("sip:2@h", 60), simple("sip:3@h", 60))
	wantCount(t, s, 4, 2)
	put(t, s, "sip:b@example.com", base, simple("sip:1@h", 60))
	wantCount(t, s, 2, 2)
	put(t, s, "sip:a@example.com", base)
	wantCount(t, s, 1, 1)
}

func testRange(t *testing.T, s location.Store) {
	want := map[string][]string{
		"sip:a@example.com": {"sip:a1@h"},
		"sip:b@example.com": {"sip:b1@h", "sip:b2@h"},
		"sip:c@example.com": {"sip:c1@h", "sip:c2@h", "sip:c3@h"},
	}
	for aor, cs := range want {
		var bs []location.Binding
		for i, c := range cs {
			// Later contacts are more recent, so Lookup order is reversed.
			b := simple(c, 60)
			b.Updated = at(i)
			bs = append(bs, b)
		}
		slices.Reverse(want[aor])
		put(t, s, aor, at(10), bs...)
	}

	got := map[string][]string{}
	s.Range(func(aor string, bs []location.Binding) bool {
		if _, dup := got[aor]; dup {
			t.Errorf("Range visited %s twice", aor)
		}
		for _, b := range bs {
			if b.AOR != aor {
				t.Errorf("Range(%s) binding has AOR %q", aor, b.AOR)
			}
		}
		got[aor] = contacts(bs)
		// Scribbling on a Range set must not reach the store.
		if len(bs) > 0 {
			bs[0].Contact = "sip:scribbled@h"
		}
		return true
	})
	if len(got) != len(want) {
		t.Errorf("Range visited %d AORs, want %d", len(got), len(want))
	}
	for aor, cs := range want {
		if !slices.Equal(got[aor], cs) {
			t.Errorf("Range(%s) = %q, want %q", aor, got[aor], cs)
		}
		wantContacts(t, "Lookup after Range", lookup(t, s, aor, at(10)), cs...)
	}
}

func testRangeStops(t *testing.T, s location.Store) {
	for i := range 10 {
		put(t, s, fmt.Sprintf("sip:u%d@example.com", i), base, simple("sip:x@h", 60))
	}
	calls := 0
	s.Range(func(string, []location.Binding) bool {
		calls++
		return false
	})
	if calls != 1 {
		t.Errorf("Range called fn %d times after it returned false, want 1", calls)
	}
}

func testConcurrentSameAOR(t *testing.T, s location.Store) {
	const (
		aor     = "sip:alice@example.com"
		writers = 50
	)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			c := fmt.Sprintf("sip:alice-%d@h", i)
			_, err := s.Update(context.Background(), aor, base, func(cur []location.Binding) ([]location.Binding, error) {
				return append(cur, simple(c, 60)), nil
			})
			if err != nil {
				errs <- err
			}
		})
		// Readers alongside, so the race detector sees reads against writes.
		wg.Go(func() {
			if _, err := s.Lookup(context.Background(), aor, base); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := lookup(t, s, aor, base)
	if len(got) != writers {
		t.Fatalf("after %d concurrent appends: %d bindings (lost updates)", writers, len(got))
	}
	seen := map[string]bool{}
	for _, b := range got {
		seen[b.Contact] = true
	}
	if len(seen) != writers {
		t.Errorf("after %d concurrent appends: %d distinct contacts", writers, len(seen))
	}
	wantCount(t, s, writers, 1)
}

func testConcurrentManyAORs(t *testing.T, s location.Store) {
	const (
		workers = 8
		perAOR  = 3
		aors    = 40
	)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range aors {
				aor := fmt.Sprintf("sip:user%d@example.com", i)
				// Every worker refreshes its own contact in every AOR, keeping
				// the others' (the registrar's usual read-modify-write).
				c := fmt.Sprintf("sip:w%d@h", w%perAOR)
				_, err := s.Update(context.Background(), aor, base, func(cur []location.Binding) ([]location.Binding, error) {
					cur = slices.DeleteFunc(cur, func(b location.Binding) bool { return b.Contact == c })
					return append(cur, simple(c, 60)), nil
				})
				if err == nil {
					_, err = s.Lookup(context.Background(), aor, base)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range aors {
		if got := lookup(t, s, fmt.Sprintf("sip:user%d@example.com", i), base); len(got) != perAOR {
			t.Errorf("user%d: %d bindings, want %d", i, len(got), perAOR)
		}
	}
	wantCount(t, s, aors*perAOR, aors)
}

func testNoAliasing(t *testing.T, s location.Store) {
	const aor = "sip:alice@example.com"
	orig := full("sip:a@h", 1000, base, at(60))
	want := orig
	want.AOR = aor
	want.Path = slices.Clone(orig.Path)

	check := func(what string) {
		t.Helper()
		got := lookup(t, s, aor, base)
		if len(got) != 1 {
			t.Fatalf("%s: %d bindings, want 1", what, len(got))
		}
		if d := diff(got[0], want); d != "" {
			t.Fatalf("%s changed the store: %s", what, d)
		}
	}
	scribble := func(bs []location.Binding) {
		for i := range bs {
			bs[i].Contact = "sip:scribbled@h"
			bs[i].Q = 1
			if len(bs[i].Path) > 0 {
				bs[i].Path[0] = "<sip:scribbled;lr>"
			}
		}
	}

	// The slice fn returns, mutated after Update.
	in := []location.Binding{orig}
	got := put(t, s, aor, base, in...)
	scribble(in)
	check("mutating the slice fn returned")
	// The slice Update returns.
	scribble(got)
	check("mutating Update's result")
	// The slice Lookup returns, including appending to a Path.
	got = lookup(t, s, aor, base)
	got[0].Path = append(got[0].Path, "<sip:extra;lr>")
	scribble(got)
	check("mutating Lookup's result")
	// The current set fn was given, kept and mutated after Update returns.
	var kept []location.Binding
	_, err := s.Update(context.Background(), aor, base, func(cur []location.Binding) ([]location.Binding, error) {
		kept = cur
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	scribble(kept)
	check("mutating fn's current set after Update")
	// Two Lookups do not share memory either.
	a, b := lookup(t, s, aor, base), lookup(t, s, aor, base)
	scribble(a)
	if d := diff(b[0], want); d != "" {
		t.Fatalf("one Lookup's result changed another's: %s", d)
	}
}

func testCancelledContext(t *testing.T, s location.Store) {
	const aor = "sip:alice@example.com"
	put(t, s, aor, base, simple("sip:a@h", 60))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	if _, err := s.Lookup(ctx, aor, base); err == nil {
		t.Error("Lookup with a cancelled context succeeded")
	}
	if _, err := s.Update(ctx, aor, base, func([]location.Binding) ([]location.Binding, error) {
		return nil, nil
	}); err == nil {
		t.Error("Update with a cancelled context succeeded")
	}
	if _, err := s.Expire(ctx, at(1000)); err == nil {
		t.Error("Expire with a cancelled context succeeded")
	}
	wantContacts(t, "after cancelled calls", lookup(t, s, aor, base), "sip:a@h")
}

func testClose(t *testing.T, s location.Store) {
	const aor = "sip:alice@example.com"
	put(t, s, aor, base, simple("sip:a@h", 60))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	if _, err := s.Lookup(ctx, aor, base); !errors.Is(err, location.ErrClosed) {
		t.Errorf("Lookup after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Update(ctx, aor, base, func(cur []location.Binding) ([]location.Binding, error) {
		return cur, nil
	}); !errors.Is(err, location.ErrClosed) {
		t.Errorf("Update after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Expire(ctx, base); !errors.Is(err, location.ErrClosed) {
		t.Errorf("Expire after Close: %v, want ErrClosed", err)
	}
	wantCount(t, s, 0, 0)
	s.Range(func(string, []location.Binding) bool {
		t.Error("Range after Close called fn")
		return false
	})
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// testFlowsShareAContact: RFC 5626 keys a binding with +sip.instance by
// instance and reg-id, not by Contact URI, so one phone's flows may carry
// the same Contact. They are distinct bindings: each kept with its own
// connection, each expiring on its own, and one instance's binding without
// reg-id beside them.
func testFlowsShareAContact(t *testing.T, s location.Store) {
	const aor = "sip:alice@example.com"
	const contact = "sip:alice@192.0.2.7:5060;transport=tcp;ob"
	flow := func(regID int, conn uint64, expires int) location.Binding {
		b := simple(contact, expires)
		b.InstanceID, b.RegID, b.ConnID, b.Transport = "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6", regID, conn, "tcp"
		b.Source = netip.AddrPortFrom(netip.MustParseAddr("198.51.100.7"), uint16(40000+conn))
		b.Local = netip.MustParseAddrPort("192.0.2.1:5060")
		return b
	}
	plain := simple(contact, 300)
	put(t, s, aor, base, flow(1, 7, 100), flow(2, 8, 200), plain)
	got := lookup(t, s, aor, base)
	if len(got) != 3 {
		t.Fatalf("Lookup returned %d bindings, want the two flows and the plain binding: %v", len(got), got)
	}
	conns := map[int]uint64{}
	for _, b := range got {
		conns[b.RegID] = b.ConnID
	}
	if conns[1] != 7 || conns[2] != 8 {
		t.Errorf("flows by reg-id %v, want 1→7 and 2→8", conns)
	}
	if n := expire(t, s, at(150)); n != 1 {
		t.Errorf("Expire removed %d, want reg-id 1's flow alone", n)
	}
	got = lookup(t, s, aor, at(150))
	if len(got) != 2 {
		t.Fatalf("after reg-id 1 expired: %d bindings, want 2: %v", len(got), got)
	}
	for _, b := range got {
		if b.RegID == 1 {
			t.Errorf("reg-id 1's flow outlived its expiry: %+v", b)
		}
	}
	wantCount(t, s, 2, 1)
}
