package presence

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/parley-sip/parley/clock"
)

// Memory is a Store in memory, for tests and for servers that may lose
// published state on restart (phones republish within their refresh
// interval).
type Memory struct {
	clk clock.Clock

	mu      sync.Mutex
	byETag  map[string]*memPub
	byOwner map[owner][]*memPub
	expiry  clock.Heap[*memPub]
}

// owner is the entity and event a publication belongs to.
type owner struct{ entity, event string }

// memPub is a stored publication and its place in the expiry heap.
type memPub struct {
	Publication
	index int
}

// Before implements clock.Entry: the heap holds the next to expire on top.
func (p *memPub) Before(o *memPub) bool { return p.Expires.Before(o.Expires) }

// SetIndex implements clock.Entry.
func (p *memPub) SetIndex(i int) { p.index = i }

// NewMemory returns an empty store reading time from clk.
func NewMemory(clk clock.Clock) *Memory {
	return &Memory{clk: clk, byETag: map[string]*memPub{}, byOwner: map[owner][]*memPub{}}
}

// Publish implements Store.
func (m *Memory) Publish(_ context.Context, r Request) (Publication, error) {
	kind, err := classify(r)
	if err != nil {
		return Publication{}, err
	}
	now := storeTime(m.clk.Now())
	m.mu.Lock()
	defer m.mu.Unlock()
	if kind == opInitial {
		p := &memPub{Publication: Publication{
			Entity: r.Entity, Event: r.Event, ETag: newETag(), ContentType: r.ContentType,
			Body: slices.Clone(r.Body), Expires: storeTime(now.Add(r.Expires)), Modified: now,
		}}
		m.add(p)
		return p.copy(), nil
	}
	p := m.byETag[r.IfMatch]
	if p == nil || p.Entity != r.Entity || p.Event != r.Event || !p.Expires.After(now) {
		return Publication{}, ErrConditionFailed
	}
	m.remove(p)
	switch kind {
	case opRemove:
		p.Expires = now
		return p.copy(), nil
	case opModify:
		p.ContentType, p.Body, p.Modified = r.ContentType, slices.Clone(r.Body), now
	}
	p.ETag, p.Expires = newETag(), storeTime(now.Add(r.Expires))
	m.add(p)
	return p.copy(), nil
}

// List implements Store.
func (m *Memory) List(_ context.Context, entity, event string) ([]Publication, error) {
	now := m.clk.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Publication
	for _, p := range m.byOwner[owner{entity, event}] {
		if p.Expires.After(now) {
			out = append(out, p.copy())
		}
	}
	sortByModified(out)
	return out, nil
}

// Expire implements Store.
func (m *Memory) Expire(context.Context) ([]Publication, error) {
	now := m.clk.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Publication
	for len(m.expiry) > 0 && !m.expiry[0].Expires.After(now) {
		p := m.expiry[0]
		m.remove(p)
		out = append(out, p.copy())
	}
	return out, nil
}

// Close implements Store; the memory is left to the collector.
func (m *Memory) Close() error { return nil }

func (m *Memory) add(p *memPub) {
	m.byETag[p.ETag] = p
	o := owner{p.Entity, p.Event}
	m.byOwner[o] = append(m.byOwner[o], p)
	m.expiry.Push(p)
}

func (m *Memory) remove(p *memPub) {
	delete(m.byETag, p.ETag)
	o := owner{p.Entity, p.Event}
	if rest := slices.DeleteFunc(m.byOwner[o], func(q *memPub) bool { return q == p }); len(rest) > 0 {
		m.byOwner[o] = rest
	} else {
		delete(m.byOwner, o)
	}
	m.expiry.Remove(p.index)
}

// copy returns the publication with its own body, so callers cannot
// change what the store holds.
func (p *memPub) copy() Publication {
	c := p.Publication
	c.Body = slices.Clone(c.Body)
	return c
}

// sortByModified orders publications as List returns them; the ETag
// breaks ties so that every engine gives the same order.
func sortByModified(ps []Publication) {
	slices.SortFunc(ps, func(a, b Publication) int {
		return cmp.Or(a.Modified.Compare(b.Modified), cmp.Compare(a.ETag, b.ETag))
	})
}

var _ Store = (*Memory)(nil)
