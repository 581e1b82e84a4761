package message

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/parley-sip/parley/clock"
)

// Memory is a Store in memory: for tests, and for servers run with
// storage.engine memory, which lose waiting messages on restart.
type Memory struct {
	clk clock.Clock

	mu     sync.Mutex
	closed bool
	nextID int64
	byUser map[string][]Message // each user's messages in ID order
	leases map[string]lease
}

type lease struct {
	holder string
	until  time.Time
}

// NewMemory returns an empty store reading time from clk.
func NewMemory(clk clock.Clock) *Memory {
	return &Memory{clk: clk, byUser: map[string][]Message{}, leases: map[string]lease{}}
}

// Add implements Store.
func (s *Memory) Add(_ context.Context, m Message, q Quota) (Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Message{}, ErrClosed
	}
	waiting := s.byUser[m.User]
	if q.MaxCount > 0 && len(waiting) >= q.MaxCount {
		return Message{}, ErrCountQuota
	}
	if q.MaxBytes > 0 && bytesOf(waiting)+m.Size() > q.MaxBytes {
		return Message{}, ErrByteQuota
	}
	s.nextID++
	m.ID, m.Stored, m.Body = s.nextID, storeTime(s.clk.Now()), slices.Clone(m.Body)
	s.byUser[m.User] = append(waiting, m)
	return copyOf(m), nil
}

func bytesOf(ms []Message) int64 {
	var n int64
	for i := range ms {
		n += ms[i].Size()
	}
	return n
}

// copyOf gives the caller a body of its own.
func copyOf(m Message) Message {
	m.Body = slices.Clone(m.Body)
	return m
}

// Pending implements Store.
func (s *Memory) Pending(_ context.Context, user string) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	out := make([]Message, 0, len(s.byUser[user]))
	for _, m := range s.byUser[user] {
		out = append(out, copyOf(m))
	}
	return out, nil
}

// MayHave implements Screen.
func (s *Memory) MayHave(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byUser[user]) > 0
}

// Delete implements Store.
func (s *Memory) Delete(_ context.Context, id int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, ErrClosed
	}
	for user, ms := range s.byUser {
		if i := slices.IndexFunc(ms, func(m Message) bool { return m.ID == id }); i >= 0 {
			s.set(user, slices.Delete(ms, i, i+1))
			return true, nil
		}
	}
	return false, nil
}

// set replaces a user's messages, forgetting a user with none.
func (s *Memory) set(user string, ms []Message) {
	if len(ms) == 0 {
		delete(s.byUser, user)
		return
	}
	s.byUser[user] = ms
}

// Lease implements Store.
func (s *Memory) Lease(_ context.Context, user, holder string, d time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, ErrClosed
	}
	now := s.clk.Now()
	if l, ok := s.leases[user]; ok && l.holder != holder && l.until.After(now) {
		return false, nil
	}
	s.leases[user] = lease{holder: holder, until: now.Add(d)}
	return true, nil
}

// Release implements Store.
func (s *Memory) Release(_ context.Context, user, holder string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.leases[user].holder == holder {
		delete(s.leases, user)
	}
	return nil
}

// Expire implements Store.
func (s *Memory) Expire(_ context.Context, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	n := 0
	for user, ms := range s.byUser {
		kept := slices.DeleteFunc(ms, func(m Message) bool { return !m.Stored.After(before) })
		n += len(ms) - len(kept)
		s.set(user, kept)
	}
	return n, nil
}

// Page implements Store.
func (s *Memory) Page(_ context.Context, user string, after int64, limit int) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var out []Message
	for u, ms := range s.byUser {
		if user != "" && u != user {
			continue
		}
		for _, m := range ms {
			if m.ID > after {
				out = append(out, copyOf(m))
			}
		}
	}
	slices.SortFunc(out, func(a, b Message) int { return cmp.Compare(a.ID, b.ID) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Totals implements Store.
func (s *Memory) Totals(context.Context) (int, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, 0, ErrClosed
	}
	n, b := 0, int64(0)
	for _, ms := range s.byUser {
		n += len(ms)
		b += bytesOf(ms)
	}
	return n, b, nil
}

// Close implements Store.
func (s *Memory) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

var _ Store = (*Memory)(nil)
