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
	// Cached as long as a change made elsewhere takes to be seen anyway.
	s.watchers = &watcherLists{policy: &watchers.Policy{Store: store, Log: s.events, CacheFor: watcherPoll}}
	return nil
}

// WatcherPolicy is who may watch whom, from the lists `parley watchers`
// and the admin API keep: the notifier's notify.Authorizer (pass it as
// notify.Config.Authorizer when wiring presence).
func (s *Server) WatcherPolicy() *watchers.Policy { return s.watchers.policy }

// watchWatcherLists makes fn hear of every user whose lists changed:
// at once for a change through the admin API, within watcherPoll for
// one `parley watchers` made in its own process. It is wiring for
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
	return &watchers.Notifying{Store: s.watchers.policy.Store, OnChange: s.watcherListChanged}
}

// How the server follows changes another process makes to the lists
// (`parley watchers`): it asks the store every watcherPoll which users
// changed since its last look, less watcherOverlap for a commit that
// took its time. A user may so be reported twice, which Reauthorize
// bears.
const (
	watcherPoll    = 2 * time.Second
	watcherOverlap = 3 * time.Second
)

// followWatcherLists tells the watchWatcherLists listeners of changes
// made elsewhere, until ctx ends.
func (s *Server) followWatcherLists(ctx context.Context) {
	if s.watchers == nil || len(s.watchers.listeners) == 0 {
		return
	}
	t := time.NewTicker(watcherPoll)
	defer t.Stop()
	since := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		users, err := s.watchers.policy.Store.Changed(ctx, since.Add(-watcherOverlap))
		if err != nil {
			continue // the policy's own reads log a failing database
		}
		since = now
		for _, u := range users {
			s.watcherListChanged(u)
		}
	}
}

// pendingWatchers is the policy's pending requests, for the admin API.
func (s *Server) pendingWatchers() func(string) []watchers.Request {
	if s.watchers == nil {
		return nil
	}
	return s.watchers.policy.Pending
}

// watcherListChanged drops the user's cached entries and tells the
// listeners.
func (s *Server) watcherListChanged(user string) {
	s.watchers.policy.Forget(user)
	for _, fn := range s.watchers.listeners {
		fn(user)
	}
}

// closeWatchers closes the lists' store.
func (s *Server) closeWatchers() {
	if s.watchers != nil {
		_ = s.watchers.policy.Store.Close()
	}
}
