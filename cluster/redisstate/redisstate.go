// Package redisstate keeps what the nodes of a cluster share about each
// other in Redis: their heartbeats (members.Store) and their answered
// B2BUA calls (takeover.Calls). Each is a hash — one of the members, one
// of calls per node — and a claim on a dead node is a key set only if
// absent, with an expiry. Every key stands on its own, so a Redis
// Cluster may put each on any shard.
package redisstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	neturl "net/url"
	"time"

	"github.com/redis/rueidis"

	"github.com/parley-sip/parley/b2bua"
	"github.com/parley-sip/parley/cluster/members"
)

// DefaultPrefix is the deployment's prefix Open takes for "", as
// storage.redis_prefix's default.
const DefaultPrefix = "parley:"

// space follows the deployment's prefix in every key of this package:
// the location store's keys go on with "loc:", so the two share one
// deployment's prefix without meeting.
const space = "cluster:"

// opTimeout bounds the connection's dial and writes.
const opTimeout = 5 * time.Second

// Store is a cluster's shared state in Redis. It is safe for concurrent
// use.
type Store struct {
	c      rueidis.Client
	prefix string
}

// Open connects to the Redis at url (as storage.redis_url: one server,
// Sentinel or Cluster) with keys under the deployment's prefix (as
// storage.redis_prefix; "" is DefaultPrefix), so that two clusters on
// one Redis never see each other's nodes, calls or claims.
func Open(ctx context.Context, url, prefix string) (*Store, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	prefix += space
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		var ue *neturl.Error // not the URL itself, which may hold a password
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("cluster/redisstate: Redis URL: %w", err)
	}
	opt.Dialer.Timeout = opTimeout
	opt.ConnWriteTimeout = opTimeout
	opt.ClientName = "parley-cluster"
	opt.DisableCache = true // every read wants the other nodes' latest write
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("cluster/redisstate: %s: %w", opt.InitAddress, err)
	}
	if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
		c.Close()
		return nil, fmt.Errorf("cluster/redisstate: %s: %w", opt.InitAddress, err)
	}
	return &Store{c: c, prefix: prefix}, nil
}

// Close closes the connections.
func (s *Store) Close() { s.c.Close() }

func (s *Store) nodes() string            { return s.prefix + "nodes" }
func (s *Store) calls(node string) string { return s.prefix + "calls:" + node }
func (s *Store) claim(dead string) string { return s.prefix + "claim:" + dead }
func (s *Store) do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	return s.c.Do(ctx, cmd)
}

// Beat implements members.Store.
func (s *Store) Beat(ctx context.Context, m members.Member) error {
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return s.do(ctx, s.c.B().Hset().Key(s.nodes()).FieldValue().FieldValue(m.ID, string(v)).Build()).Error()
}

// Members implements members.Store. An entry that does not decode is
// skipped: another version's, or not Parley's.
func (s *Store) Members(ctx context.Context) ([]members.Member, error) {
	return readAll[members.Member](ctx, s, s.nodes())
}

// Put implements takeover.Calls.
func (s *Store) Put(ctx context.Context, node string, snap b2bua.Snapshot) error {
	v, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	return s.do(ctx, s.c.B().Hset().Key(s.calls(node)).FieldValue().FieldValue(snap.ID, string(v)).Build()).Error()
}

// Remove implements takeover.Calls.
func (s *Store) Remove(ctx context.Context, node, id string) error {
	return s.do(ctx, s.c.B().Hdel().Key(s.calls(node)).Field(id).Build()).Error()
}

// List implements takeover.Calls; a snapshot that does not decode is
// skipped, as in Members.
func (s *Store) List(ctx context.Context, node string) ([]b2bua.Snapshot, error) {
	return readAll[b2bua.Snapshot](ctx, s, s.calls(node))
}

// readAll decodes every value of the hash at key, skipping those that
// do not decode.
func readAll[T any](ctx context.Context, s *Store, key string) ([]T, error) {
	all, err := s.do(ctx, s.c.B().Hgetall().Key(key).Build()).AsStrMap()
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(all))
	for _, v := range all {
		var x T
		if json.Unmarshal([]byte(v), &x) == nil {
			out = append(out, x)
		}
	}
	return out, nil
}

// Claim implements takeover.Calls with SET NX PX: the first node to set
// the key holds the claim until it expires.
func (s *Store) Claim(ctx context.Context, dead, by string, ttl time.Duration) (bool, error) {
	err := s.do(ctx, s.c.B().Set().Key(s.claim(dead)).Value(by).Nx().PxMilliseconds(ttl.Milliseconds()).Build()).Error()
	if rueidis.IsRedisNil(err) {
		return false, nil
	}
	return err == nil, err
}
