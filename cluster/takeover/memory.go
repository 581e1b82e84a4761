package takeover

import (
	"context"
	"sync"
	"time"

	"github.com/parley-sip/parley/b2bua"
	"github.com/parley-sip/parley/clock"
)

// Memory is Calls in one process's memory: the cluster of one that tests
// run. Claims expire on its clock.
type Memory struct {
	clk    clock.Clock
	mu     sync.Mutex
	calls  map[string]map[string]b2bua.Snapshot // node -> call id -> snapshot
	claims map[string]memClaim
}

type memClaim struct {
	by    string
	until time.Time
}

// NewMemory returns an empty Memory whose claims expire on clk.
func NewMemory(clk clock.Clock) *Memory {
	return &Memory{clk: clk, calls: map[string]map[string]b2bua.Snapshot{}, claims: map[string]memClaim{}}
}

// Put implements Calls.
func (m *Memory) Put(_ context.Context, node string, s b2bua.Snapshot) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.calls[node] == nil {
		m.calls[node] = map[string]b2bua.Snapshot{}
	}
	m.calls[node][s.ID] = s
	return nil
}

// Remove implements Calls.
func (m *Memory) Remove(_ context.Context, node, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.calls[node], id)
	return nil
}

// List implements Calls.
func (m *Memory) List(_ context.Context, node string) ([]b2bua.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]b2bua.Snapshot, 0, len(m.calls[node]))
	for _, s := range m.calls[node] {
		out = append(out, s)
	}
	return out, nil
}

// Claim implements Calls.
func (m *Memory) Claim(_ context.Context, dead, by string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clk.Now()
	if c, ok := m.claims[dead]; ok && now.Before(c.until) {
		return false, nil
	}
	m.claims[dead] = memClaim{by: by, until: now.Add(ttl)}
	return true, nil
}
