package subscriber

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is a Store kept in a map. It forgets everything on exit, so it
// serves tests and throwaway servers, not production.
type Memory struct {
	mu      sync.RWMutex
	subs    map[key]Subscriber
	version int64 // bumped by every change, under mu
}

type key struct{ user, domain string }

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{subs: make(map[key]Subscriber)} }

func mkey(user, domain string) key { return key{user, strings.ToLower(domain)} }

// Get implements Store.
func (m *Memory) Get(ctx context.Context, user, domain string) (Subscriber, error) {
	if err := ctx.Err(); err != nil {
		return Subscriber{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.subs[mkey(user, domain)]
	if !ok {
		return Subscriber{}, ErrNotFound
	}
	return s, nil
}

// Put implements Store.
func (m *Memory) Put(ctx context.Context, s Subscriber) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := check(s); err != nil {
		return err
	}
	s = normalize(s, time.Now())
	m.mu.Lock()
	defer m.mu.Unlock()
	m.subs[key{s.User, s.Domain}] = s
	m.version++
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, user, domain string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := mkey(user, domain)
	if _, ok := m.subs[k]; !ok {
		return ErrNotFound
	}
	delete(m.subs, k)
	m.version++
	return nil
}

// List implements Store.
func (m *Memory) List(ctx context.Context, domain string) ([]Subscriber, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	domain = strings.ToLower(domain)
	m.mu.RLock()
	out := make([]Subscriber, 0, len(m.subs))
	for k, s := range m.subs {
		if domain == "" || k.domain == domain {
			out = append(out, s)
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b Subscriber) int {
		return cmp.Or(cmp.Compare(a.Domain, b.Domain), cmp.Compare(a.User, b.User))
	})
	return out, nil
}

// Exists implements Store.
func (m *Memory) Exists(ctx context.Context, user, domain string) (bool, error) {
	_, err := m.Get(ctx, user, domain)
	if err == ErrNotFound {
		return false, nil
	}
	return err == nil, err
}

// Version implements Versioned.
func (m *Memory) Version(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.version, nil
}

// Close implements Store; a closed Memory keeps working, since there is
// nothing to release.
func (m *Memory) Close() error { return nil }
