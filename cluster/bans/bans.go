// Package bans shares the bans of a cluster's nodes: a source one node
// banned for failed authentications is refused at every node, for the
// rest of its ban (auth.SharedBans).
//
// A ban is kept in Redis, in one sorted set whose scores are the bans'
// ends (one key, so one slot of a Redis Cluster; its TTL is the latest
// end), and told to the other nodes on the cluster bus. Each node answers
// Banned from its own cache, filled by the bus and, at start and after a
// gap in the bus, from the set: no request waits for Redis. When Redis
// is down the nodes fail open: each keeps refusing the bans it knows,
// new ones stay on the node that made them, and the outage is logged
// once when it starts and once when it ends.
package bans

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/parley-sip/parley/cluster/bus"
	"github.com/parley-sip/parley/eventlog"
)

const (
	// topic is the bus topic of a new ban.
	topic = "ban"
	// opTimeout bounds one Redis call.
	opTimeout = 3 * time.Second
	// maxCached bounds the bans a node caches; past it, bans that ended
	// are dropped, and a new one that still finds no room is not cached
	// (the node that made it still refuses its source).
	maxCached = 1 << 16
)

// add keeps the later of a stored ban's end and the new one, and keeps
// the set until the latest end.
var add = rueidis.NewLuaScript(`
local cur = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not cur or tonumber(cur) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
end
local ttl = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1`)

// Shared is one node's view of the cluster's bans. It implements
// auth.SharedBans.
type Shared struct {
	c      rueidis.Client
	key    string
	bus    bus.Bus
	health *eventlog.Outage
	now    func() time.Time

	mu    sync.RWMutex
	until map[netip.Addr]time.Time

	life context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	once sync.Once
}

// Open reads the bans in force under prefix in the Redis c reaches (the
// bus's client: Redis.Client, which Close leaves open) and follows new
// ones on b.
func Open(ctx context.Context, c rueidis.Client, prefix string, b bus.Bus, log *slog.Logger) (*Shared, error) {
	s := &Shared{c: c, key: prefix + "bans", bus: b, now: time.Now, until: map[netip.Addr]time.Time{},
		health: &eventlog.Outage{What: "shared ban list", Log: log}}
	s.life, s.stop = context.WithCancel(context.Background())
	if err := s.load(ctx); err != nil {
		s.stop()
		return nil, fmt.Errorf("cluster/bans: %w", err)
	}
	b.Subscribe(topic, s.heard)
	b.OnResume(func() { _ = s.load(s.life) })
	return s, nil
}

// Ban implements auth.SharedBans: the ban is cached here, told to the
// other nodes, and stored for nodes that start later, off the caller's
// goroutine.
func (s *Shared) Ban(source netip.Addr, until time.Time) {
	s.cache(source, until)
	ms := strconv.FormatInt(until.UnixMilli(), 10)
	s.bus.Publish(topic, []byte(source.String()+" "+ms))
	s.wg.Go(func() {
		ctx, cancel := context.WithTimeout(s.life, opTimeout)
		defer cancel()
		ttl := strconv.FormatInt(max(time.Until(until).Milliseconds(), 1), 10)
		s.observe(add.Exec(ctx, s.c, []string{s.key}, []string{ms, source.String(), ttl}).Error())
	})
}

// Banned implements auth.SharedBans, from the cache.
func (s *Shared) Banned(source netip.Addr, now time.Time) bool {
	s.mu.RLock()
	until, ok := s.until[source]
	s.mu.RUnlock()
	return ok && now.Before(until)
}

// heard takes a ban another node made: "ADDRESS UNIX-MILLISECONDS".
func (s *Shared) heard(p []byte) {
	if src, until, ok := parse(string(p)); ok {
		s.cache(src, until)
	}
}

func parse(notice string) (netip.Addr, time.Time, bool) {
	a, ms, ok := strings.Cut(notice, " ")
	src, err1 := netip.ParseAddr(a)
	n, err2 := strconv.ParseInt(ms, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return netip.Addr{}, time.Time{}, false
	}
	return src, time.UnixMilli(n), true
}

// cache keeps the later end of source's ban.
func (s *Shared) cache(source netip.Addr, until time.Time) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.until) >= maxCached {
		for a, u := range s.until {
			if !now.Before(u) {
				delete(s.until, a)
			}
		}
	}
	if cur, ok := s.until[source]; ok && !cur.Before(until) {
		return
	}
	if _, ok := s.until[source]; ok || len(s.until) < maxCached {
		s.until[source] = until
	}
}

// load reads every ban in force into the cache, dropping those that
// ended from the set.
func (s *Shared) load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	now := strconv.FormatInt(s.now().UnixMilli(), 10)
	res := s.c.DoMulti(ctx,
		s.c.B().Zremrangebyscore().Key(s.key).Min("-inf").Max(now).Build(),
		s.c.B().Zrange().Key(s.key).Min("("+now).Max("+inf").Byscore().Withscores().Build())
	entries, err := res[1].AsZScores()
	if err = errors.Join(res[0].Error(), err); err != nil {
		s.observe(err)
		return err
	}
	s.observe(nil)
	for _, e := range entries {
		if src, err := netip.ParseAddr(e.Member); err == nil {
			s.cache(src, time.UnixMilli(int64(e.Score)))
		}
	}
	return nil
}

// observe logs the start and the end of an outage of Redis.
func (s *Shared) observe(err error) {
	switch {
	case err == nil:
		s.health.Succeeded()
	case s.life.Err() == nil:
		s.health.Failed(err)
	}
}

// Close stops storing bans; the connection is the bus's to close.
func (s *Shared) Close() error {
	s.once.Do(func() {
		s.stop()
		s.wg.Wait()
	})
	return nil
}
