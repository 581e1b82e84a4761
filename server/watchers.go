package server

import (
	"context"
	"fmt"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/presence/watchers"
)

// openWatchers opens the watcher lists in the storage engine's database,
// or in memory with storage.engine memory, and the policy that reads them.
func (s *Server) openWatchers(cfg *config.Config) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var store watchers.Store
	switch cfg.Storage.Engine {
	case config.EngineMemory:
		store = watchers.NewMemory(clock.Default())
	case config.EnginePostgres:
		st, err := watchers.OpenPostgres(ctx, cfg.Storage.DSN, clock.Default())
		if err != nil {
			return fmt.Errorf("storage.dsn: watcher lists: %w", err)
		}
		store = st
	default:
		st, err := watchers.Open(ctx, string(config.EngineSQLite), cfg.DataDir, "", clock.Default())
		if err != nil {
			return fmt.Errorf("watcher lists in %s: %w", cfg.DataDir, err)
		}
		store = st
	}
	s.watchers = &watchers.Policy{Store: store, Log: s.events}
	return nil
}

// WatcherPolicy is who may watch whom, from the lists `parley watchers`
// and the admin API keep: the notifier's notify.Authorizer (pass it as
// the Notifier's Authorizer when wiring presence).
func (s *Server) WatcherPolicy() *watchers.Policy { return s.watchers }

// watcherStore is the lists, for the admin API; nil before they open.
func (s *Server) watcherStore() watchers.Store {
	if s.watchers == nil {
		return nil
	}
	return s.watchers.Store
}

// closeWatchers closes the lists' store.
func (s *Server) closeWatchers() {
	if s.watchers != nil {
		_ = s.watchers.Store.Close()
	}
}
