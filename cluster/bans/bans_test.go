package bans_test

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/parley-sip/parley/cluster/bans"
	"github.com/parley-sip/parley/cluster/bus"
	"github.com/parley-sip/parley/location/redisstore/redistest"
)

// open is a node's bans: a Redis client of its own, as each node has its
// bus's, and b for its notices.
func open(t *testing.T, url, prefix string, b bus.Bus, log *slog.Logger) *bans.Shared {
	t.Helper()
	opt := rueidis.MustParseURL(url)
	opt.DisableCache, opt.DisableRetry = true, true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := bans.Open(ctx, c, prefix, b, log)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); c.Close() })
	return s
}

// eventually waits up to 5 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5 s: %s", what)
		}
	}
}

// TestShared: a ban made at node a is refused at b at once (the bus) and
// at c, which starts later (the set in Redis), until it ends; other
// sources are not.
func TestShared(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	hub := bus.NewHub()
	a, b := open(t, url, prefix, hub.Node(), nil), open(t, url, prefix, hub.Node(), nil)
	src, other := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::")
	now := time.Now()
	a.Ban(src, now.Add(time.Hour))
	a.Ban(other, now.Add(1500*time.Millisecond))
	for _, tt := range []struct {
		name string
		s    *bans.Shared
		src  netip.Addr
		at   time.Time
		want bool
	}{
		{"the node that banned", a, src, now, true},
		{"another node", b, src, now, true},
		{"another node, short ban", b, other, now, true},
		{"another node, after the ban", b, src, now.Add(time.Hour), false},
		{"a source never banned", b, netip.MustParseAddr("192.0.2.8"), now, false},
	} {
		if got := tt.s.Banned(tt.src, tt.at); got != tt.want {
			t.Errorf("%s: Banned(%s) = %v, want %v", tt.name, tt.src, got, tt.want)
		}
	}
	// c reads the set; the ban is stored off a's goroutine.
	var c *bans.Shared
	eventually(t, "a node started later knows the ban", func() bool {
		if c != nil {
			c.Close()
		}
		c = open(t, url, prefix, hub.Node(), nil)
		return c.Banned(src, time.Now())
	})
	time.Sleep(1600 * time.Millisecond)
	d := open(t, url, prefix, hub.Node(), nil)
	if d.Banned(other, now) {
		t.Error("a ban that had ended when the node started is still read")
	}
	if e := open(t, url, prefix+"x:", bus.NewHub().Node(), nil); e.Banned(src, now) {
		t.Error("a node of another prefix sees the ban")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFailOpen: with Redis down a node still refuses the bans it knows
// and makes new ones, logging the outage once; when Redis is back the
// next ban is stored and the end of the outage logged.
func TestFailOpen(t *testing.T) {
	srv := redistest.Start(t)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	hub := bus.NewHub()
	a := open(t, srv.URL(), "p:", hub.Node(), log)
	known := netip.MustParseAddr("192.0.2.1")
	a.Ban(known, time.Now().Add(time.Hour))
	srv.Kill()
	for i := range 3 {
		a.Ban(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), time.Now().Add(time.Hour))
	}
	eventually(t, "the outage logged", func() bool { return strings.Contains(logs.String(), "shared ban list unavailable") })
	if !a.Banned(known, time.Now()) || !a.Banned(netip.MustParseAddr("198.51.100.2"), time.Now()) {
		t.Error("with Redis down, the node forgot a ban it knows")
	}
	srv.Restart()
	late := netip.MustParseAddr("203.0.113.5")
	eventually(t, "a ban stored once Redis is back", func() bool {
		a.Ban(late, time.Now().Add(time.Hour))
		time.Sleep(50 * time.Millisecond)
		return strings.Contains(logs.String(), "shared ban list available again")
	})
	if n := strings.Count(logs.String(), "shared ban list unavailable"); n != 1 {
		t.Errorf("outage logged %d times, want once:\n%s", n, logs.String())
	}
	if b := open(t, srv.URL(), "p:", hub.Node(), nil); !b.Banned(late, time.Now()) {
		t.Error("the ban made after Redis came back is not in Redis")
	}
}
