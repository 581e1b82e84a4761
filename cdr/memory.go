package cdr

import (
	"context"
	"strings"
	"sync"
	"time"
)

// MaxMemoryRecords bounds the memory store: past it the oldest records
// are forgotten, a tenth at a time, so that a server on storage.engine
// memory does not grow by a record per call for as long as it runs.
const MaxMemoryRecords = 100_000

// Memory is a Store in memory, for storage.engine memory and tests:
// nothing survives the process, and it keeps the newest MaxMemoryRecords.
type Memory struct {
	mu     sync.Mutex
	recs   []Record
	seen   map[callRef]struct{} // the calls in recs, which make Add idempotent
	nextID int64
	max    int
	closed bool
}

// callRef identifies a call's record: the key sameCall compares.
type callRef struct {
	node, callID string
	setup        int64 // Unix microseconds, as normalize keeps it
}

func refOf(r *Record) callRef { return callRef{r.Node, r.CallID, r.Setup.UnixMicro()} }

// NewMemory returns an empty memory store.
func NewMemory() *Memory { return newMemory(MaxMemoryRecords) }

func newMemory(max int) *Memory { return &Memory{seen: map[callRef]struct{}{}, max: max} }

// Add implements Store. A record of a call already kept is skipped with a
// map lookup, not a scan, so Add costs the same at the millionth call.
func (m *Memory) Add(_ context.Context, recs []Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, r := range recs {
		r = normalize(r)
		ref := refOf(&r)
		if _, dup := m.seen[ref]; dup {
			continue
		}
		m.nextID++
		r.ID = m.nextID
		m.seen[ref] = struct{}{}
		m.recs = append(m.recs, r)
	}
	if len(m.recs) > m.max {
		m.forget(len(m.recs) - m.max + m.max/10)
	}
	return nil
}

// forget drops the n oldest records.
func (m *Memory) forget(n int) {
	for i := range n {
		delete(m.seen, refOf(&m.recs[i]))
	}
	m.recs = append(m.recs[:0], m.recs[n:]...)
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
