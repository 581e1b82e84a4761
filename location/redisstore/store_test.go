package redisstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/location/redisstore/redistest"
	"github.com/parley-sip/parley/location/storetest"
)

func TestConformance(t *testing.T) {
	url := requireRedis(t)
	storetest.TestStore(t, func(t *testing.T) location.Store {
		return openTest(t, url, testPrefix(t, url))
	})
}

// TestSharedByTwoStores: two stores on one Redis and prefix — two nodes —
// see one location service: what one writes the other looks up, updates
// of one AOR from both are serialised, and a ConnID (a connection of the
// process that stored it) is only ever seen by its owner.
func TestSharedByTwoStores(t *testing.T) {
	url := requireRedis(t)
	prefix := testPrefix(t, url)
	a, b := openTest(t, url, prefix), openTest(t, url, prefix)
	ctx := context.Background()
	now := time.Now()
	const aor = "sip:alice@example.com"

	bind := location.Binding{Contact: "sip:alice@192.0.2.1:5060;transport=tcp", Q: 1000, Expires: now.Add(time.Hour),
		CallID: "c1", CSeq: 1, Transport: "tcp", ConnID: 7, Updated: now,
		Source: netip.MustParseAddrPort("192.0.2.1:40000")}
	if _, err := a.Update(ctx, aor, now, func([]location.Binding) ([]location.Binding, error) {
		return []location.Binding{bind}, nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		s    *Store
		conn uint64
	}{{"owner", a, 7}, {"other node", b, 0}} {
		got, err := c.s.Lookup(ctx, aor, now)
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: Lookup = %v, %v", c.name, got, err)
		}
		if got[0].ConnID != c.conn || got[0].Source != bind.Source {
			t.Errorf("%s: ConnID %d source %v, want %d %v", c.name, got[0].ConnID, got[0].Source, c.conn, bind.Source)
		}
	}

	// Both nodes append to the AOR at once: none of the appends is lost.
	const each = 20
	errs := make(chan error, 2*each)
	for i := range 2 * each {
		s := []*Store{a, b}[i%2]
		go func() {
			c := location.Binding{Contact: "sip:x" + string(rune('a'+i)) + "@h", Q: 1000, Expires: now.Add(time.Hour), Updated: now}
			_, err := s.Update(ctx, aor, now, func(cur []location.Binding) ([]location.Binding, error) {
				return append(cur, c), nil
			})
			errs <- err
		}()
	}
	for range 2 * each {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*Store{a, b} {
		if got, _ := s.Lookup(ctx, aor, now); len(got) != 2*each+1 {
			t.Errorf("after concurrent appends from two nodes: %d bindings, want %d", len(got), 2*each+1)
		}
	}
	if n, aors := b.Count(); n != 2*each+1 || aors != 1 {
		t.Errorf("Count = %d, %d", n, aors)
	}
}

// TestSweepReportsOnce: with every node sweeping, each expired binding is
// reported by exactly one of them.
func TestSweepReportsOnce(t *testing.T) {
	url := requireRedis(t)
	prefix := testPrefix(t, url)
	nodes := []*Store{openTest(t, url, prefix), openTest(t, url, prefix), openTest(t, url, prefix)}
	ctx := context.Background()
	now := time.Now()
	const aors = 50
	for i := range aors {
		aor := "sip:u" + string(rune('A'+i)) + "@example.com"
		bs := []location.Binding{
			{Contact: "sip:short@h", Q: 1000, Expires: now.Add(time.Second), Updated: now},
			{Contact: "sip:long@h", Q: 1000, Expires: now.Add(time.Hour), Updated: now},
		}
		if _, err := nodes[i%3].Update(ctx, aor, now, func([]location.Binding) ([]location.Binding, error) { return bs, nil }); err != nil {
			t.Fatal(err)
		}
	}
	later := now.Add(2 * time.Second)
	reported := make(chan string, 3*aors)
	done := make(chan int, 3)
	for _, s := range nodes {
		go func() {
			n, err := s.Sweep(ctx, later, func(b location.Binding) { reported <- b.AOR + " " + b.Contact })
			if err != nil {
				t.Error(err)
			}
			done <- n
		}()
	}
	total := 0
	for range nodes {
		total += <-done
	}
	close(reported)
	var got []string
	for r := range reported {
		got = append(got, r)
	}
	slices.Sort(got)
	if total != aors || len(got) != aors || len(slices.Compact(got)) != aors {
		t.Errorf("three sweeping nodes removed %d and reported %d (%d distinct), want %d each", total, len(got), len(slices.Compact(got)), aors)
	}
	if n, a := nodes[0].Count(); n != aors || a != aors {
		t.Errorf("Count after sweep = %d, %d, want %d, %d", n, a, aors, aors)
	}
}

// TestRedisExpiredSet: a set whose key Redis expired itself (no node swept
// for the whole grace period) leaves the counts right once a sweep sees it.
func TestRedisExpiredSet(t *testing.T) {
	url := requireRedis(t)
	prefix := testPrefix(t, url)
	s := openTest(t, url, prefix)
	ctx := context.Background()
	now := time.Now()
	const aor = "sip:gone@example.com"
	bs := []location.Binding{{Contact: "sip:a@h", Q: 1000, Expires: now.Add(time.Second), Updated: now},
		{Contact: "sip:b@h", Q: 1000, Expires: now.Add(time.Second), Updated: now}}
	if _, err := s.Update(ctx, aor, now, func([]location.Binding) ([]location.Binding, error) { return bs, nil }); err != nil {
		t.Fatal(err)
	}
	key := s.k.set(bucket(aor), aor)
	if err := s.c.Do(ctx, s.c.B().Del().Key(key).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if n, a := s.Count(); n != 2 || a != 1 {
		t.Fatalf("Count before the sweep = %d, %d, want 2, 1 (the bucket still counts the set)", n, a)
	}
	if _, err := s.Expire(ctx, now.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, a := s.Count(); n != 0 || a != 0 {
		t.Errorf("Count after the sweep = %d, %d, want 0, 0", n, a)
	}
}

// TestKeyTTL: a set's key lives until its last binding expires, plus the
// grace that lets a sweep report it.
func TestKeyTTL(t *testing.T) {
	url := requireRedis(t)
	s := openTest(t, url, testPrefix(t, url))
	ctx := context.Background()
	now := time.Now()
	const aor = "sip:ttl@example.com"
	bs := []location.Binding{{Contact: "sip:a@h", Q: 1000, Expires: now.Add(time.Minute), Updated: now},
		{Contact: "sip:b@h", Q: 1000, Expires: now.Add(time.Hour), Updated: now}}
	if _, err := s.Update(ctx, aor, now, func([]location.Binding) ([]location.Binding, error) { return bs, nil }); err != nil {
		t.Fatal(err)
	}
	ttl, err := s.c.Do(ctx, s.c.B().Pttl().Key(s.k.set(bucket(aor), aor)).Build()).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	want := (time.Hour + grace).Milliseconds()
	if ttl > want || ttl < want-5000 {
		t.Errorf("PTTL = %d ms, want about %d", ttl, want)
	}
}

// TestCorruptSet: a value this package did not write is an error naming
// the AOR, not an empty set, so that an Update cannot silently replace it.
func TestCorruptSet(t *testing.T) {
	url := requireRedis(t)
	s := openTest(t, url, testPrefix(t, url))
	ctx := context.Background()
	const aor = "sip:bad@example.com"
	if err := s.c.Do(ctx, s.c.B().Set().Key(s.k.set(bucket(aor), aor)).Value("not a set").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Lookup(ctx, aor, time.Now())
	if !errors.Is(err, errCorrupt) {
		t.Errorf("Lookup of a foreign value: %v, want errCorrupt", err)
	}
	if _, err := s.Update(ctx, aor, time.Now(), func(cur []location.Binding) ([]location.Binding, error) { return cur, nil }); !errors.Is(err, errCorrupt) {
		t.Errorf("Update of a foreign value: %v, want errCorrupt", err)
	}
}

// TestCluster runs the conformance suite on a Redis Cluster of three
// masters: every script touches the keys of one hash tag, so no command
// crosses slots, and the AORs spread over all three.
func TestCluster(t *testing.T) {
	url := redistest.StartCluster(t, 3)
	storetest.TestStore(t, func(t *testing.T) location.Store {
		return openTest(t, url, testPrefix(t, url))
	})
	s := openTest(t, url, "spread:")
	if mode := s.c.Mode(); mode != rueidis.ClientModeCluster {
		t.Fatalf("client mode %s, want cluster", mode)
	}
	ctx := context.Background()
	now := time.Now()
	for i := range 100 {
		if _, err := s.Update(ctx, fmt.Sprintf("sip:u%d@example.com", i), now, func([]location.Binding) ([]location.Binding, error) {
			return []location.Binding{{Contact: "sip:a@h", Q: 1000, Expires: now.Add(time.Hour), Updated: now}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for addr, node := range s.c.Nodes() {
		n, err := node.Do(ctx, node.B().Dbsize().Build()).AsInt64()
		if err != nil || n == 0 {
			t.Errorf("node %s holds %d keys (%v): the AORs do not spread", addr, n, err)
		}
	}
}

// TestScriptFlushed: a Redis that lost the script (restarted, or SCRIPT
// FLUSH) is sent it again, and the Update goes through.
func TestScriptFlushed(t *testing.T) {
	r := redistest.Start(t)
	s := openTest(t, r.URL(), "parley:")
	ctx := context.Background()
	now := time.Now()
	for i := range 2 {
		if err := s.c.Do(ctx, s.c.B().ScriptFlush().Build()).Error(); err != nil {
			t.Fatal(err)
		}
		c := fmt.Sprintf("sip:a%d@h", i)
		bs, err := s.Update(ctx, "sip:alice@example.com", now, func([]location.Binding) ([]location.Binding, error) {
			return []location.Binding{{Contact: c, Q: 1000, Expires: now.Add(time.Hour), Updated: now}}, nil
		})
		if err != nil || len(bs) != 1 || bs[0].Contact != c {
			t.Fatalf("Update after SCRIPT FLUSH: %v, %v", bs, err)
		}
	}
}

// TestScriptCommands: the update script keeps the bucket's counts exact
// through every kind of change, and touches the counts hash only when a
// count changes or the set's key is gone: a refresh costs GET, SET and
// ZADD inside the script, nothing more.
func TestScriptCommands(t *testing.T) {
	r := redistest.Start(t)
	raw := redistest.Client(t, r.URL())
	s := openTest(t, r.URL(), "parley:")
	ctx := context.Background()
	now := time.Now()
	const aor = "sip:count@example.com"
	set := func(n int) func([]location.Binding) ([]location.Binding, error) {
		return func([]location.Binding) ([]location.Binding, error) {
			bs := make([]location.Binding, n)
			for i := range bs {
				bs[i] = location.Binding{Contact: fmt.Sprintf("sip:c%d@h", i), Q: 1000, Expires: now.Add(time.Hour), Updated: now}
			}
			return bs, nil
		}
	}
	vanish := func(t *testing.T) {
		if err := raw.Do(ctx, raw.B().Del().Key(s.k.set(bucket(aor), aor)).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name           string
		before         func(t *testing.T)
		n              int
		bindings, aors int
		want           map[string]int64 // commands inside the script
	}{
		{"first registration", nil, 2, 2, 1, map[string]int64{"get": 1, "hget": 1, "set": 1, "zadd": 1, "hset": 1, "hincrby": 2}},
		{"refresh", nil, 2, 2, 1, map[string]int64{"get": 1, "set": 1, "zadd": 1}},
		{"one more binding", nil, 3, 3, 1, map[string]int64{"get": 1, "set": 1, "zadd": 1, "hset": 1, "hincrby": 1}},
		{"one fewer", nil, 1, 1, 1, map[string]int64{"get": 1, "set": 1, "zadd": 1, "hset": 1, "hincrby": 1}},
		// A count past 127 takes two bytes of uvarint in the set.
		{"200 bindings", nil, 200, 200, 1, map[string]int64{"get": 1, "set": 1, "zadd": 1, "hset": 1, "hincrby": 1}},
		{"refresh of 200", nil, 200, 200, 1, map[string]int64{"get": 1, "set": 1, "zadd": 1}},
		// The node's guess (the set it wrote) is wrong: two scripts.
		{"same count after Redis expired the key", vanish, 200, 200, 1, map[string]int64{"get": 2, "hget": 1, "set": 1, "zadd": 1}},
		{"other count after Redis expired the key", vanish, 1, 1, 1, map[string]int64{"get": 2, "hget": 1, "set": 1, "zadd": 1, "hset": 1, "hincrby": 1}},
		{"removal", nil, 0, 0, 0, map[string]int64{"get": 1, "del": 1, "zrem": 1, "hdel": 1, "hincrby": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before(t)
			}
			if err := raw.Do(ctx, raw.B().ConfigResetstat().Build()).Error(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Update(ctx, aor, now, set(tt.n)); err != nil {
				t.Fatal(err)
			}
			stats := commandStats(t, raw)
			for _, skip := range []string{"evalsha", "eval", "pttl", "config|resetstat", "ping"} {
				delete(stats, skip)
			}
			if !maps.Equal(stats, tt.want) {
				t.Errorf("commands %v, want %v", stats, tt.want)
			}
			if n, a := s.Count(); n != tt.bindings || a != tt.aors {
				t.Errorf("Count = %d, %d, want %d, %d", n, a, tt.bindings, tt.aors)
			}
		})
	}
}
