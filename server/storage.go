package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/location/redisstore"
	"github.com/parley-sip/parley/location/sqlstore"
	"github.com/parley-sip/parley/subscriber"
)

// storage is what the server keeps across requests: the location store
// and, with a database, the subscribers.
type storage struct {
	bindings location.Store
	users    *subscriber.SQL // nil with storage.engine memory
}

// openStorage opens the configured engine. With sqlite both stores share
// DATA_DIR/parley.db. A durable location store logs to events: the two
// lines of an outage, and at debug a line per refused change, which the
// events budget bounds.
//
// With storage.location redis the registrations go to Redis instead, and
// the engine keeps the subscribers alone.
func openStorage(cfg *config.Config, log, events *slog.Logger) (*storage, error) {
	if cfg.Storage.Location == config.EngineRedis {
		return openRedis(cfg, log, events)
	}
	switch cfg.Storage.Engine {
	case config.EngineMemory:
		return &storage{bindings: location.NewMemory()}, nil
	case config.EnginePostgres:
		return openPostgres(cfg, events)
	}
	users, path, err := openSQLiteUsers(cfg)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	bindings, err := sqlstore.OpenSQLite(path, sqlstore.WithLogger(events))
	if err != nil {
		users.Close()
		return nil, fmt.Errorf("location database %s: %w", path, err)
	}
	n, aors := bindings.Count()
	log.Info("location store loaded", "path", path, "bindings", n, "aors", aors, "took", time.Since(start).Round(time.Millisecond).String())
	return &storage{bindings: bindings, users: users}, nil
}

// openSQLiteUsers opens the subscribers in DATA_DIR/parley.db.
func openSQLiteUsers(cfg *config.Config) (*subscriber.SQL, string, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	path := filepath.Join(cfg.DataDir, subscriber.DBFile)
	users, err := subscriber.OpenSQLite(path)
	if err != nil {
		return nil, "", fmt.Errorf("subscriber database %s: %w", path, err)
	}
	return users, path, nil
}

// openRedis opens the location store in Redis, and the subscribers in
// storage.engine's database.
func openRedis(cfg *config.Config, log, events *slog.Logger) (*storage, error) {
	var users *subscriber.SQL
	var err error
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch cfg.Storage.Engine {
	case config.EnginePostgres:
		if users, err = subscriber.OpenPostgres(ctx, cfg.Storage.DSN); err != nil {
			return nil, fmt.Errorf("storage.dsn: subscriber database: %w", err)
		}
	case config.EngineSQLite:
		if users, _, err = openSQLiteUsers(cfg); err != nil {
			return nil, err
		}
	}
	bindings, err := redisstore.Open(ctx, cfg.Storage.RedisURL, redisstore.WithLogger(events))
	if err != nil {
		if users != nil {
			users.Close()
		}
		return nil, fmt.Errorf("storage.redis_url: %w", err)
	}
	n, aors := bindings.Count()
	log.Info("location store in Redis", "bindings", n, "aors", aors)
	return &storage{bindings: bindings, users: users}, nil
}

func openPostgres(cfg *config.Config, events *slog.Logger) (*storage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	users, err := subscriber.OpenPostgres(ctx, cfg.Storage.DSN)
	if err != nil {
		return nil, fmt.Errorf("storage.dsn: subscriber database: %w", err)
	}
	bindings, err := sqlstore.OpenPostgres(ctx, cfg.Storage.DSN, sqlstore.WithLogger(events))
	if err != nil {
		users.Close()
		return nil, fmt.Errorf("storage.dsn: location database: %w", err)
	}
	return &storage{bindings: bindings, users: users}, nil
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

// Close closes both stores.
func (st *storage) Close() error {
	err := st.bindings.Close()
	if st.users != nil {
		if uerr := st.users.Close(); err == nil {
			err = uerr
		}
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
	a := auth.NewAuthenticator(st.users, secret)
	a.Algorithms = cfg.Auth.Algorithms
	a.NonceTTL = cfg.Auth.NonceTTL.Duration()
	a.MaxFailures = cfg.Auth.MaxFailures
	a.FailureWindow = cfg.Auth.FailureWindow.Duration()
	a.BlockFor = cfg.Auth.BlockFor.Duration()
	a.Logger = log
	return a, pol, nil
}
