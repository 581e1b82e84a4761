package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/cluster/bans"
	"github.com/parley-sip/parley/cluster/bus"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/location/redisstore"
	"github.com/parley-sip/parley/location/sqlstore"
	"github.com/parley-sip/parley/subscriber"
)

// storage is what the server keeps across requests: the location store,
// with a database the subscribers, and the call detail records.
type storage struct {
	bindings location.Store
	users    *subscriber.SQL // nil with storage.engine memory
	// cached is users behind the subscriber cache, which every digest
	// check and known-user test reads; nil when users is.
	cached *subscriber.Cache
	cdrs   cdr.Store // nil with cdr.enabled false
	// bus carries the notices between a cluster's nodes (presence
	// changes, bans); nil on a server that is no cluster node.
	bus *bus.Redis
	// bans are the bans of every node of a cluster; nil with bus.
	bans *bans.Shared
}

// withUsers sets the subscriber database and the cache in front of it.
func (st *storage) withUsers(users *subscriber.SQL) *storage {
	st.users, st.cached = users, subscriber.NewCache(users)
	return st
}

// openStorage opens the configured engine. With sqlite both stores share
// DATA_DIR/parley.db. A durable location store logs to events: the two
// lines of an outage, and at debug a line per refused change, which the
// events budget bounds.
//
// With storage.location redis the registrations go to Redis instead, and
// the engine keeps the subscribers and call records.
func openStorage(cfg *config.Config, log, events *slog.Logger) (*storage, error) {
	own := cfg.Storage.LocationEngine() == cfg.Storage.Engine
	var st *storage
	var err error
	switch cfg.Storage.Engine {
	case config.EngineMemory:
		st = openMemory(cfg, own)
	case config.EnginePostgres:
		st, err = openPostgres(cfg, events, own)
	default:
		st, err = openSQLite(cfg, log, events, own)
	}
	if err == nil && !own {
		st.bindings, err = openRedis(cfg, log, events)
	}
	if err == nil && cfg.Cluster.Enabled() {
		err = st.openCluster(cfg, events)
	}
	if err != nil && st != nil {
		st.Close()
		return nil, err
	}
	return st, err
}

// openCluster subscribes to the cluster's bus and reads its bans, in
// the Redis of the location store, which every node of a cluster shares,
// under the same storage.redis_prefix as the bindings.
func (st *storage) openCluster(cfg *config.Config, events *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.OpenRedis(ctx, cfg.Storage.RedisURL, cfg.Storage.RedisPrefix, events)
	if err != nil {
		return fmt.Errorf("storage.redis_url: cluster bus: %w", err)
	}
	st.bus = b
	if st.bans, err = bans.Open(ctx, b.Client(), cfg.Storage.RedisPrefix, b, events); err != nil {
		return fmt.Errorf("storage.redis_url: shared bans: %w", err)
	}
	return nil
}

// openMemory keeps everything in memory; withLocation says whether the
// bindings too.
func openMemory(cfg *config.Config, withLocation bool) *storage {
	st := &storage{}
	if withLocation {
		st.bindings = location.NewMemory()
	}
	if cfg.CDR.Enabled {
		st.cdrs = cdr.NewMemory()
	}
	return st
}

// openSQLite opens DATA_DIR/parley.db for the subscribers, the call
// records and, withLocation, the bindings.
func openSQLite(cfg *config.Config, log, events *slog.Logger, withLocation bool) (*storage, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	path := filepath.Join(cfg.DataDir, subscriber.DBFile)
	users, err := subscriber.OpenSQLite(path)
	if err != nil {
		return nil, fmt.Errorf("subscriber database %s: %w", path, err)
	}
	st := (&storage{}).withUsers(users)
	if withLocation {
		start := time.Now()
		if st.bindings, err = sqlstore.OpenSQLite(path, sqlstore.WithLogger(events)); err != nil {
			st.Close()
			return nil, fmt.Errorf("location database %s: %w", path, err)
		}
		n, aors := st.bindings.Count()
		log.Info("location store loaded", "path", path, "bindings", n, "aors", aors, "took", time.Since(start).Round(time.Millisecond).String())
	}
	if cfg.CDR.Enabled {
		if st.cdrs, err = cdr.OpenSQLite(path); err != nil {
			st.Close()
			return nil, fmt.Errorf("call detail records %s: %w", path, err)
		}
	}
	return st, nil
}

// openRedis opens the location store in Redis.
func openRedis(cfg *config.Config, log, events *slog.Logger) (location.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bindings, err := redisstore.Open(ctx, cfg.Storage.RedisURL,
		redisstore.WithPrefix(cfg.Storage.RedisPrefix), redisstore.WithLogger(events))
	if err != nil {
		return nil, fmt.Errorf("storage.redis_url: %w", err)
	}
	n, aors := bindings.Count()
	log.Info("location store in Redis", "bindings", n, "aors", aors)
	return bindings, nil
}

// openPostgres opens the subscribers, the call records and, withLocation,
// the bindings in storage.dsn's database.
func openPostgres(cfg *config.Config, events *slog.Logger, withLocation bool) (*storage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	users, err := subscriber.OpenPostgres(ctx, cfg.Storage.DSN)
	if err != nil {
		return nil, fmt.Errorf("storage.dsn: subscriber database: %w", err)
	}
	st := (&storage{}).withUsers(users)
	if withLocation {
		if st.bindings, err = sqlstore.OpenPostgres(ctx, cfg.Storage.DSN, sqlstore.WithLogger(events)); err != nil {
			st.Close()
			return nil, fmt.Errorf("storage.dsn: location database: %w", err)
		}
	}
	if cfg.CDR.Enabled {
		if st.cdrs, err = cdr.OpenPostgres(ctx, cfg.Storage.DSN); err != nil {
			st.Close()
			return nil, fmt.Errorf("storage.dsn: call detail records: %w", err)
		}
	}
	return st, nil
}

// StorageName says where state lives, for the startup line and the user
// commands: the engine and, for SQLite, the file (never the DSN, which
// may hold a password); then where registrations are, when elsewhere.
func StorageName(cfg *config.Config) string {
	name := string(cfg.Storage.Engine)
	if cfg.Storage.Engine == config.EngineSQLite {
		name = "sqlite " + filepath.Join(cfg.DataDir, subscriber.DBFile)
	}
	if cfg.Storage.Location == config.EngineRedis {
		name += ", registrations in redis"
		if u, err := url.Parse(cfg.Storage.RedisURL); err == nil {
			name += " " + u.Host + u.Path // not the password
		}
	}
	return name
}

// Close closes the stores.
func (st *storage) Close() error {
	var err error
	if st.bans != nil {
		err = st.bans.Close()
	}
	if st.bus != nil {
		err = errors.Join(err, st.bus.Close())
	}
	if st.bindings != nil {
		err = errors.Join(err, st.bindings.Close())
	}
	if st.users != nil {
		err = errors.Join(err, st.users.Close())
	}
	if st.cdrs != nil {
		err = errors.Join(err, st.cdrs.Close())
	}
	return err
}

// authenticator builds the digest authenticator when auth is enabled. Its
// secret lives in the data directory, so nonces survive a restart.
func authenticator(cfg *config.Config, st *storage, log *slog.Logger) (*auth.Authenticator, auth.Policies, error) {
	pol := auth.Policies{Default: auth.Policy{
		Methods:                     cfg.Auth.Methods,
		AllowUnauthenticatedToLocal: cfg.Auth.AllowUnauthenticatedToLocal,
	}, Domains: map[string]auth.Policy{}}
	for dom, o := range cfg.AuthOverrides {
		p := pol.Default
		if o.Methods != nil {
			p.Methods = o.Methods
		}
		if o.AllowUnauthenticatedToLocal != nil {
			p.AllowUnauthenticatedToLocal = *o.AllowUnauthenticatedToLocal
		}
		pol.Domains[dom] = p
	}
	if !cfg.Auth.Enabled {
		return nil, pol, nil
	}
	secret, err := auth.LoadOrCreateSecret(cfg.DataDir)
	if err != nil {
		return nil, pol, fmt.Errorf("auth secret in %s: %w", cfg.DataDir, err)
	}
	var users subscriber.Store
	if st != nil && st.cached != nil {
		users = st.cached
	}
	a := auth.NewAuthenticator(users, secret)
	a.Algorithms = cfg.Auth.Algorithms
	a.NonceTTL = cfg.Auth.NonceTTL.Duration()
	a.MaxFailures = cfg.Auth.MaxFailures
	a.FailureWindow = cfg.Auth.FailureWindow.Duration()
	a.BlockFor = cfg.Auth.BlockFor.Duration()
	a.NeverBlocked = cfg.Security.TrustedPrefixes()
	a.Logger = log
	if st != nil && st.bans != nil {
		a.Shared = st.bans
	}
	return a, pol, nil
}
