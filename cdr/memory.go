package cdr

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is a Store in memory, for storage.engine memory and tests:
// nothing survives the process.
type Memory struct {
	mu     sync.Mutex
	recs   []Record
	closed bool
}

// NewMemory returns an empty memory store.
func NewMemory() *Memory { return &Memory{} }

// Add implements Store.
func (m *Memory) Add(_ context.Context, recs []Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, r := range recs {
		if slices.ContainsFunc(m.recs, func(o Record) bool { return sameCall(&o, &r) }) {
			continue
		}
		r.ID = int64(len(m.recs) + 1)
		m.recs = append(m.recs, normalize(r))
	}
	return nil
}

// List implements Store.
func (m *Memory) List(_ context.Context, q Query) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	out := []Record{}
	for i := range m.recs {
		j := i
		if q.Newest {
			j = len(m.recs) - 1 - i
		}
		if r := &m.recs[j]; q.matches(r) {
			out = append(out, *r)
			if len(out) == q.limit() {
				break
			}
		}
	}
	return out, nil
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// sameCall tells whether two records are of one call, the key that makes
// Add idempotent.
func sameCall(a, b *Record) bool {
	return a.Node == b.Node && a.CallID == b.CallID && a.Setup.Equal(b.Setup)
}

// matches is the Query as the memory store applies it; the SQL engines
// say the same in WHERE clauses.
func (q *Query) matches(r *Record) bool {
	switch {
	case q.Newest && q.Before > 0 && r.ID >= q.Before,
		!q.Newest && r.ID <= q.After,
		q.Disposition != "" && r.Disposition != q.Disposition,
		!q.Since.IsZero() && r.Setup.Before(q.Since),
		!q.Until.IsZero() && !r.Setup.Before(q.Until),
		!containsFold(r.Caller, q.Caller),
		!containsFold(r.Callee, q.Callee):
		return false
	}
	return true
}

func containsFold(s, sub string) bool {
	return sub == "" || strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// normalize keeps what the SQL engines keep: UTC times to the microsecond.
func normalize(r Record) Record {
	for _, t := range []*time.Time{&r.Setup, &r.Ringing, &r.Answered, &r.End} {
		if !t.IsZero() {
			*t = t.UTC().Truncate(time.Microsecond)
		}
	}
	return r
}
