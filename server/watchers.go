package server

import (
	"context"
	"fmt"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/presence/watchers"
)

// watcherLists is who may watch whom: the lists, the policy that reads
// them, and who hears of changes made through the admin API.
type watcherLists struct {
	policy    *watchers.Policy
	listeners []func(user string)
}

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
	s.watchers = &watcherLists{policy: &watchers.Policy{Store: store, Log: s.events}}
	return nil
}

// WatcherPolicy is who may watch whom, from the lists `parley watchers`
// and the admin API keep: the notifier's notify.Authorizer (pass it as
// notify.Config.Authorizer when wiring presence).
func (s *Server) WatcherPolicy() *watchers.Policy { return s.watchers.policy }

// watchWatcherLists makes fn hear of every user whose lists the admin
// API changed, once the change is stored: wiring for
// notify.Notifier.Reauthorize, so that a watcher allowed or blocked now
// is told so now. Called from New, before the server starts.
func (s *Server) watchWatcherLists(fn func(user string)) {
	s.watchers.listeners = append(s.watchers.listeners, fn)
}

// watcherStore is the lists as the admin API changes them: each change
// is told to the watchWatcherLists listeners.
func (s *Server) watcherStore() watchers.Store {
	if s.watchers == nil {
		return nil
	}
	return &watchers.Notifying{Store: s.watchers.policy.Store, OnChange: func(user string) {
		for _, fn := range s.watchers.listeners {
			fn(user)
		}
	}}
}

// closeWatchers closes the lists' store.
func (s *Server) closeWatchers() {
	if s.watchers != nil {
		_ = s.watchers.policy.Store.Close()
	}
}
