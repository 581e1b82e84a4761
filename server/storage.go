package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/location"
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
func openStorage(cfg *config.Config, log, events *slog.Logger) (*storage, error) {
	switch cfg.Storage.Engine {
	case config.EngineMemory:
		st := &storage{bindings: location.NewMemory()}
		if cfg.CDR.Enabled {
			st.cdrs = cdr.NewMemory()
		}
		return st, nil
	case config.EnginePostgres:
		return openPostgres(cfg, events)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	path := filepath.Join(cfg.DataDir, subscriber.DBFile)
	users, err := subscriber.OpenSQLite(path)
	if err != nil {
		return nil, fmt.Errorf("subscriber database %s: %w", path, err)
	}
	start := time.Now()
	bindings, err := sqlstore.OpenSQLite(path, sqlstore.WithLogger(events))
	if err != nil {
		users.Close()
		return nil, fmt.Errorf("location database %s: %w", path, err)
	}
	n, aors := bindings.Count()
	log.Info("location store loaded", "path", path, "bindings", n, "aors", aors, "took", time.Since(start).Round(time.Millisecond).String())
	st := (&storage{bindings: bindings}).withUsers(users)
	if cfg.CDR.Enabled {
		if st.cdrs, err = cdr.OpenSQLite(path); err != nil {
			st.Close()
			return nil, fmt.Errorf("call detail records %s: %w", path, err)
		}
	}
	return st, nil
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
	st := (&storage{bindings: bindings}).withUsers(users)
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
// may hold a password).
func StorageName(cfg *config.Config) string {
	if cfg.Storage.Engine == config.EngineSQLite {
		return "sqlite " + filepath.Join(cfg.DataDir, subscriber.DBFile)
	}
	return string(cfg.Storage.Engine)
}

// Close closes the stores.
func (st *storage) Close() error {
	err := st.bindings.Close()
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
	a.Logger = log
	return a, pol, nil
}
