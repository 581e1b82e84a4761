package redisstate

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/b2bua"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/cluster/members"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/location/redisstore/redistest"
)

func open(t *testing.T) *Store {
	t.Helper()
	url := redistest.URL(t)
	s, err := Open(context.Background(), url, redistest.Prefix(t, url))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestMembers: a beat replaces the node's entry, which every reader
// gets back whole.
func TestMembers(t *testing.T) {
	s, ctx := open(t), context.Background()
	seen := time.Date(2026, 12, 7, 6, 0, 0, 123456789, time.UTC)
	beats := []members.Member{
		{ID: "n1", SIP: "127.0.0.1:5060", Admin: "127.0.0.1:8080", Seen: seen, Calls: 3},
		{ID: "n2", SIP: "127.0.0.2:5060", Seen: seen, Subscriptions: 9},
		{ID: "n1", SIP: "127.0.0.1:5060", Admin: "127.0.0.1:8080", Seen: seen.Add(time.Second), Calls: 4},
	}
	for _, m := range beats {
		if err := s.Beat(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got = members.Sorted(got)
	if len(got) != 2 || !got[0].Seen.Equal(beats[2].Seen) || got[0].Calls != 4 || got[0].Admin != "127.0.0.1:8080" ||
		got[1].ID != "n2" || got[1].Subscriptions != 9 {
		t.Errorf("members %+v, want n1's second beat and n2's", got)
	}
}

// TestCalls: a snapshot comes back whole from List, is gone after
// Remove, and each node's calls are its own.
func TestCalls(t *testing.T) {
	s, ctx := open(t), context.Background()
	at := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	snap := b2bua.Snapshot{ID: "c1",
		Record: cdr.Record{Node: "n1", CallID: "a1", BCallID: "b1", Setup: at, Answered: at.Add(time.Second), Status: 200, Disposition: cdr.Answered},
		A: dialog.Info{ID: dialog.ID{CallID: "a1", LocalTag: "x", RemoteTag: "y"}, LocalParty: "<sip:b@h>;tag=x", RemoteParty: "<sip:a@h>;tag=y",
			RemoteTarget: "sip:a@127.0.0.1:25001", RouteSet: []string{"<sip:p1;lr>", "<sip:p2;lr>"}, State: dialog.Confirmed},
		B: dialog.Info{ID: dialog.ID{CallID: "b1", LocalTag: "u", RemoteTag: "v"}, LocalSeq: 7, RemoteTarget: "sip:b@127.0.0.1:25002"},
	}
	if err := s.Put(ctx, "n1", snap); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(ctx, "n1")
	if err != nil || len(got) != 1 {
		t.Fatalf("List = %+v, %v; want the snapshot", got, err)
	}
	if !reflect.DeepEqual(got[0], snap) {
		t.Errorf("snapshot came back as\n%+v\nwant\n%+v", got[0], snap)
	}
	if other, _ := s.List(ctx, "n2"); len(other) != 0 {
		t.Errorf("n2 lists n1's calls: %+v", other)
	}
	if err := s.Remove(ctx, "n1", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "n1", "c1"); err != nil {
		t.Errorf("removing a call twice: %v", err)
	}
	if left, _ := s.List(ctx, "n1"); len(left) != 0 {
		t.Errorf("%d calls left after Remove", len(left))
	}
}

// TestClaim: the first claim on a dead node wins until it expires.
func TestClaim(t *testing.T) {
	s, ctx := open(t), context.Background()
	for _, tt := range []struct {
		by   string
		wait time.Duration
		want bool
	}{{"n2", 0, true}, {"n3", 0, false}, {"n2", 0, false}, {"n3", 250 * time.Millisecond, true}} {
		time.Sleep(tt.wait)
		if got, err := s.Claim(ctx, "n1", tt.by, 200*time.Millisecond); got != tt.want || err != nil {
			t.Errorf("claim by %s after %v: %v (%v), want %v", tt.by, tt.wait, got, err, tt.want)
		}
	}
}

// TestOpenFails: a URL that does not parse, and a Redis nobody listens
// for, fail Open with an error naming the package, never the URL's
// password.
func TestOpenFails(t *testing.T) {
	for _, url := range []string{"redis://:s3cret@127.0.0.1:1/0", "http://%zz"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := Open(ctx, url, "")
		cancel()
		if err == nil {
			s.Close()
			t.Fatalf("Open(%q) succeeded", url)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "cluster/redisstate: ") || strings.Contains(msg, "s3cret") {
			t.Errorf("Open(%q): %q", url, msg)
		}
	}
}

// TestPrefixesApart: two deployments on one Redis, each under its own
// storage.redis_prefix, see neither the other's nodes nor its calls nor
// its claims, and every key either writes starts with its prefix.
func TestPrefixesApart(t *testing.T) {
	url, ctx := redistest.URL(t), context.Background()
	prefixes := []string{redistest.Prefix(t, url), redistest.Prefix(t, url)}
	var stores []*Store
	for i, p := range prefixes {
		s, err := Open(ctx, url, p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		stores = append(stores, s)
		node := []string{"east", "west"}[i]
		if err := s.Beat(ctx, members.Member{ID: node, SIP: "127.0.0.1:5060"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "n1", b2bua.Snapshot{ID: node + "-call"}); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range stores {
		ms, err := s.Members(ctx)
		if want := []string{"east", "west"}[i]; err != nil || len(ms) != 1 || ms[0].ID != want {
			t.Errorf("prefix %d: members %+v (%v), want %s alone", i, ms, err, want)
		}
		calls, err := s.List(ctx, "n1")
		if want := []string{"east", "west"}[i] + "-call"; err != nil || len(calls) != 1 || calls[0].ID != want {
			t.Errorf("prefix %d: calls of n1 %+v (%v), want %s alone", i, calls, err, want)
		}
		if ok, err := s.Claim(ctx, "n1", "n2", time.Minute); !ok || err != nil {
			t.Errorf("prefix %d: claim on n1 refused (%v): the other deployment's claim reached it", i, err)
		}
	}
	c := redistest.Client(t, url)
	for _, p := range prefixes {
		keys, err := c.Do(ctx, c.B().Keys().Pattern(p+"*").Build()).AsStrSlice()
		if err != nil {
			t.Fatal(err)
		}
		want := []string{p + "cluster:calls:n1", p + "cluster:claim:n1", p + "cluster:nodes"}
		slices.Sort(keys)
		if !slices.Equal(keys, want) {
			t.Errorf("keys under %s: %v, want %v", p, keys, want)
		}
	}
}
