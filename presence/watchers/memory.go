package watchers

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/parley-sip/parley/clock"
)

// Memory is a Store in memory, for tests and storage.engine memory.
type Memory struct {
	clk     clock.Clock
	mu      sync.Mutex
	closed  bool
	byUser  map[string]map[string]Entry // user → watcher → entry
	changes []change                    // oldest first
}

// change is one user's lists changed at a time.
type change struct {
	user string
	at   time.Time
}

// noteChange records a change and forgets those past ChangesKept.
func (s *Memory) noteChange(user string) {
	now := s.clk.Now()
	i := 0
	for i < len(s.changes) && now.Sub(s.changes[i].at) > ChangesKept {
		i++
	}
	s.changes = append(s.changes[i:], change{user, now})
}

// Changed implements Store.
func (s *Memory) Changed(_ context.Context, since time.Time) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range s.changes {
		if !c.at.Before(since) && !seen[c.user] {
			seen[c.user] = true
			out = append(out, c.user)
		}
	}
	return out, nil
}

// NewMemory returns an empty store reading time from clk.
func NewMemory(clk clock.Clock) *Memory {
	return &Memory{clk: clk, byUser: map[string]map[string]Entry{}}
}

// Put implements Store.
func (s *Memory) Put(_ context.Context, e Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.byUser[e.User] == nil {
		s.byUser[e.User] = map[string]Entry{}
	}
	e.Added = s.clk.Now().UTC().Truncate(time.Microsecond)
	s.byUser[e.User][e.Watcher] = e
	s.noteChange(e.User)
	return nil
}

// Remove implements Store.
func (s *Memory) Remove(_ context.Context, user, watcher string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, ErrClosed
	}
	_, ok := s.byUser[user][watcher]
	delete(s.byUser[user], watcher)
	if len(s.byUser[user]) == 0 {
		delete(s.byUser, user)
	}
	if ok {
		s.noteChange(user)
	}
	return ok, nil
}

// List implements Store.
func (s *Memory) List(_ context.Context, user string) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var out []Entry
	for u, m := range s.byUser {
		if user != "" && u != user {
			continue
		}
		for _, e := range m {
			out = append(out, e)
		}
	}
	sortEntries(out)
	return out, nil
}

// sortEntries orders entries as List promises, in Go rather than SQL so
// that every engine gives the same order whatever its collation.
func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.Watcher, b.Watcher))
	})
}

// Close implements Store.
func (s *Memory) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

var _ Store = (*Memory)(nil)
