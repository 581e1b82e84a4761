package members

import (
	"context"
	"sync"
)

// Memory is a Store in one process's memory: the cluster of one that
// tests run, where every "node" shares the process.
type Memory struct {
	mu      sync.Mutex
	members map[string]Member
	// Err, when set, fails every call: a store that is unreachable.
	Err error
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{members: map[string]Member{}} }

// Beat implements Store.
func (s *Memory) Beat(_ context.Context, m Member) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return s.Err
	}
	s.members[m.ID] = m
	return nil
}

// Members implements Store.
func (s *Memory) Members(context.Context) ([]Member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return nil, s.Err
	}
	out := make([]Member, 0, len(s.members))
	for _, m := range s.members {
		out = append(out, m)
	}
	return out, nil
}

// Fail makes every later call fail with err (nil heals it).
func (s *Memory) Fail(err error) {
	s.mu.Lock()
	s.Err = err
	s.mu.Unlock()
}
