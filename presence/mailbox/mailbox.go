// Package mailbox is message-summary (RFC 3842) at Parley: the latest
// summary of each account, as a voicemail system last sent it, kept in a
// Store (memory, SQLite or PostgreSQL) so that it survives a restart and
// answers every new subscription of the account's phones.
//
// A voicemail system updates an account with an unsolicited NOTIFY (Event:
// message-summary) or a PUBLISH (RFC 3903) for the account's URI; Stage
// takes both, from trusted sources and authenticated senders, and Package
// serves the summary to the notifier.
package mailbox

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"slices"
	"sync"
	"time"
)

// Summary is the latest message-summary of one account.
type Summary struct {
	Account string    // "user@domain"
	Body    []byte    // an RFC 3842 body, as mwi.Summary.Marshal writes it
	ETag    string    // the entity-tag a PUBLISH refers to it by
	Updated time.Time // when it was last set
}

// Errors of a Store.
var (
	// ErrNotFound is an account without a summary.
	ErrNotFound = errors.New("mailbox: no summary for the account")
	// ErrConditionFailed is a conditional change whose entity-tag is not
	// the stored one (RFC 3903's 412).
	ErrConditionFailed = errors.New("mailbox: entity-tag does not match")
	// ErrClosed is a call after Close.
	ErrClosed = errors.New("mailbox: store closed")
)

// Store keeps the latest summary of each account. Implementations are
// safe for concurrent use; a conditional change is atomic, so two
// PUBLISHes racing with one SIP-If-Match cannot both win.
type Store interface {
	// Get returns the account's summary, or ErrNotFound.
	Get(ctx context.Context, account string) (Summary, error)
	// Put stores s as its account's summary. With ifMatch "" it replaces
	// whatever was there; otherwise only a summary whose ETag is ifMatch,
	// and ErrConditionFailed is returned when there is none.
	Put(ctx context.Context, s Summary, ifMatch string) error
	// Delete removes the account's summary if its ETag is ifMatch, else
	// returns ErrConditionFailed.
	Delete(ctx context.Context, account, ifMatch string) error
	// Close releases the store; later calls return ErrClosed. A second
	// Close returns nil.
	Close() error
}

// NewETag returns a fresh entity-tag: random, so that one a server issued
// before a restart is never issued again.
func NewETag() string {
	var b [10]byte
	rand.Read(b[:])
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}

// Memory is a Store in memory: what storage.engine memory uses, and a
// reference for the others.
type Memory struct {
	mu     sync.Mutex
	m      map[string]Summary
	closed bool
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory { return &Memory{m: make(map[string]Summary)} }

// Get implements Store.
func (s *Memory) Get(_ context.Context, account string) (Summary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Summary{}, ErrClosed
	}
	sum, ok := s.m[account]
	if !ok {
		return Summary{}, ErrNotFound
	}
	sum.Body = slices.Clone(sum.Body)
	return sum, nil
}

// Put implements Store.
func (s *Memory) Put(_ context.Context, sum Summary, ifMatch string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if ifMatch != "" && s.m[sum.Account].ETag != ifMatch {
		return ErrConditionFailed
	}
	sum.Body = slices.Clone(sum.Body)
	s.m[sum.Account] = sum
	return nil
}

// Delete implements Store.
func (s *Memory) Delete(_ context.Context, account, ifMatch string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	cur, ok := s.m[account]
	if !ok || cur.ETag != ifMatch {
		return ErrConditionFailed
	}
	delete(s.m, account)
	return nil
}

// Close implements Store.
func (s *Memory) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

var _ Store = (*Memory)(nil)
