package watchers_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/presence/notify"
	"github.com/parley-sip/parley/presence/watchers"
)

func TestDecide(t *testing.T) {
	const bob = "bob@example.com"
	e := func(w string, l watchers.List) watchers.Entry { return watchers.Entry{User: bob, Watcher: w, List: l} }
	tests := []struct {
		name    string
		entries []watchers.Entry
		watcher string
		want    notify.Decision
	}{
		{"same domain, no entry", nil, "alice@example.com", notify.Allow},
		{"other domain, no entry", nil, "carol@example.net", notify.Pending},
		{"oneself", []watchers.Entry{e("bob@example.com", watchers.Block)}, bob, notify.Allow},
		{"blocked watcher of the same domain", []watchers.Entry{e("alice@example.com", watchers.Block)}, "alice@example.com", notify.Block},
		{"allowed watcher of another domain", []watchers.Entry{e("carol@example.net", watchers.Allow)}, "carol@example.net", notify.Allow},
		{"allowed domain", []watchers.Entry{e("example.net", watchers.Allow)}, "carol@example.net", notify.Allow},
		{"blocked domain", []watchers.Entry{e("example.net", watchers.Block)}, "carol@example.net", notify.Block},
		{"blocked own domain", []watchers.Entry{e("example.com", watchers.Block)}, "alice@example.com", notify.Block},
		{"watcher allowed in a blocked domain", []watchers.Entry{e("example.net", watchers.Block), e("carol@example.net", watchers.Allow)},
			"carol@example.net", notify.Allow},
		{"watcher blocked in an allowed domain", []watchers.Entry{e("example.net", watchers.Allow), e("carol@example.net", watchers.Block)},
			"carol@example.net", notify.Block},
		{"another watcher's entry", []watchers.Entry{e("dave@example.net", watchers.Allow)}, "carol@example.net", notify.Pending},
		{"a subdomain is another domain", []watchers.Entry{e("example.net", watchers.Allow)}, "carol@sub.example.net", notify.Pending},
	}
	for _, tc := range tests {
		if got := watchers.Decide(tc.entries, tc.watcher, bob); got != tc.want {
			t.Errorf("%s: Decide = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// failing is a store whose database is down.
type failing struct{ watchers.Store }

func (failing) List(context.Context, string) ([]watchers.Entry, error) {
	return nil, errors.New("database down")
}

func TestPolicy(t *testing.T) {
	s := watchers.NewMemory(clock.NewFake(time.Time{}))
	ctx := context.Background()
	if err := s.Put(ctx, watchers.Entry{User: "bob@example.com", Watcher: "example.net", List: watchers.Block}); err != nil {
		t.Fatal(err)
	}
	var a notify.Authorizer = &watchers.Policy{Store: s}
	for _, c := range []struct {
		watcher string
		want    notify.Decision
	}{
		{"carol@example.net", notify.Block},
		{"alice@example.com", notify.Allow},
		{"dave@example.org", notify.Pending},
	} {
		if got := a.Authorize(c.watcher, "bob@example.com", "presence"); got != c.want {
			t.Errorf("Authorize(%s) = %d, want %d", c.watcher, got, c.want)
		}
	}
	// Registrations and voicemail counts are the user's own, even for a
	// colleague the lists would allow.
	if err := s.Put(ctx, watchers.Entry{User: "bob@example.com", Watcher: "alice@example.com", List: watchers.Allow}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		watcher, event string
		want           notify.Decision
	}{
		{"alice@example.com", "presence", notify.Allow},
		{"alice@example.com", "dialog", notify.Allow},
		{"alice@example.com", "reg", notify.Block},
		{"alice@example.com", "message-summary", notify.Block},
		{"bob@example.com", "reg", notify.Allow},
		{"bob@example.com", "message-summary", notify.Allow},
	} {
		if got := a.Authorize(c.watcher, "bob@example.com", c.event); got != c.want {
			t.Errorf("Authorize(%s, %s) = %d, want %d", c.watcher, c.event, got, c.want)
		}
	}
	if got := (&watchers.Policy{Store: failing{}}).Authorize("alice@example.com", "bob@example.com", "presence"); got != notify.Pending {
		t.Errorf("with the store down: %d, want Pending (neither shows nor refuses)", got)
	}
}

func TestParseWatcher(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice@example.com", "alice@example.com"},
		{"sip:Alice@Example.COM", "Alice@example.com"},
		{"<sips:alice@example.com>", "alice@example.com"},
		{"  example.net ", "example.net"},
		{"EXAMPLE.net", "example.net"},
		{"alice@192.0.2.1", "alice@192.0.2.1"},
		{"", ""},
		{"@example.com", ""},
		{"alice@", ""},
		{"al ice@example.com", ""},
		{"alice@exa mple.com", ""},
		{"alice@example.com;transport=udp", ""},
		{"a@b@example.com", ""},
		{"alice;x@example.com", ""},
		{"exa\x00mple.com", ""},
	}
	for _, tc := range tests {
		got, err := watchers.ParseWatcher(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("ParseWatcher(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := watchers.ParseUser("example.com"); err == nil {
		t.Error("ParseUser took a domain")
	}
	if u, err := watchers.ParseUser("sip:bob@Example.com"); err != nil || u != "bob@example.com" {
		t.Errorf("ParseUser = %q, %v", u, err)
	}
}

// FuzzParseWatcher: no input panics, and what parses is canonical: it
// parses again to itself.
func FuzzParseWatcher(f *testing.F) {
	for _, s := range []string{"alice@example.com", "sip:a@b.c", "<sips:x@[2001:db8::1]>", "example.net", "a@b@c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := watchers.ParseWatcher(s)
		if err != nil {
			return
		}
		again, err := watchers.ParseWatcher(w)
		if err != nil || again != w {
			t.Errorf("ParseWatcher(%q) = %q, which parses to %q, %v", s, w, again, err)
		}
	})
}

func TestNotifying(t *testing.T) {
	var heard []string
	s := &watchers.Notifying{Store: watchers.NewMemory(clock.NewFake(time.Time{})), OnChange: func(u string) { heard = append(heard, u) }}
	ctx := context.Background()
	if err := s.Put(ctx, watchers.Entry{User: "bob@example.com", Watcher: "example.net", List: watchers.Block}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove(ctx, "alice@example.com", "example.net"); err != nil { // nothing to remove: no change
		t.Fatal(err)
	}
	if _, err := s.Remove(ctx, "bob@example.com", "example.net"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Put(ctx, watchers.Entry{User: "carol@example.com", Watcher: "example.net", List: watchers.Block}); err == nil {
		t.Fatal("Put after Close succeeded")
	}
	if fmt.Sprint(heard) != "[bob@example.com bob@example.com]" {
		t.Errorf("heard %v, want bob twice (a put, a removal), nothing for what changed nothing or failed", heard)
	}
}

// TestPendingRequests: a watcher left pending is listed for the user to
// decide on, and leaves the list once allowed or blocked.
func TestPendingRequests(t *testing.T) {
	clk := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s := watchers.NewMemory(clk)
	p := &watchers.Policy{Store: s, Clock: clk}
	p.Authorize("carol@example.net", "bob@example.com", "presence")
	clk.Advance(time.Second)
	p.Authorize("dave@example.org", "bob@example.com", "dialog")
	p.Authorize("alice@example.com", "bob@example.com", "presence") // same domain: allowed, not pending
	got := p.Pending("bob@example.com")
	if len(got) != 2 || got[0].Watcher != "carol@example.net" || got[0].Event != "presence" || got[1].Watcher != "dave@example.org" ||
		!got[1].At.Equal(clk.Now()) {
		t.Fatalf("Pending = %+v", got)
	}
	if err := s.Put(context.Background(), watchers.Entry{User: "bob@example.com", Watcher: "example.net", List: watchers.Allow}); err != nil {
		t.Fatal(err)
	}
	p.Authorize("carol@example.net", "bob@example.com", "presence") // what Reauthorize does after the change
	if got := p.Pending("bob@example.com"); len(got) != 1 || got[0].Watcher != "dave@example.org" {
		t.Errorf("after allowing example.net: %+v", got)
	}
	for i := range 100 {
		p.Authorize(fmt.Sprint("w", i, "@example.org"), "bob@example.com", "presence")
	}
	if n := len(p.Pending("bob@example.com")); n != 64 {
		t.Errorf("%d pending kept for one user, want the bound, 64", n)
	}
	if got := p.Pending("nobody@example.com"); len(got) != 0 {
		t.Errorf("Pending of a user nobody asked for: %v", got)
	}
}

// counting counts the store's reads.
type counting struct {
	watchers.Store
	reads int
}

func (c *counting) List(ctx context.Context, user string) ([]watchers.Entry, error) {
	c.reads++
	return c.Store.List(ctx, user)
}

// TestPolicyCache: within CacheFor a user's entries are read once; a
// change is seen after Forget at once, and after CacheFor without it.
func TestPolicyCache(t *testing.T) {
	clk := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	store := &counting{Store: watchers.NewMemory(clk)}
	p := &watchers.Policy{Store: store, Clock: clk, CacheFor: 2 * time.Second}
	for range 60 {
		p.Authorize("carol@example.net", "bob@example.com", "dialog")
	}
	if store.reads != 1 {
		t.Errorf("%d reads for 60 decisions, want 1", store.reads)
	}
	if err := store.Put(context.Background(), watchers.Entry{User: "bob@example.com", Watcher: "example.net", List: watchers.Block}); err != nil {
		t.Fatal(err)
	}
	if got := p.Authorize("carol@example.net", "bob@example.com", "dialog"); got != notify.Pending {
		t.Errorf("within CacheFor: %d, want the cached Pending", got)
	}
	p.Forget("bob@example.com")
	if got := p.Authorize("carol@example.net", "bob@example.com", "dialog"); got != notify.Block {
		t.Errorf("after Forget: %d, want Block", got)
	}
	if err := store.Put(context.Background(), watchers.Entry{User: "bob@example.com", Watcher: "example.net", List: watchers.Allow}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	if got := p.Authorize("carol@example.net", "bob@example.com", "dialog"); got != notify.Allow {
		t.Errorf("after CacheFor: %d, want Allow", got)
	}
}
