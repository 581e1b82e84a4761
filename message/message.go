// Package message keeps MESSAGE requests (RFC 3428) for users who are
// offline and hands them over when the user next registers: the store
// of waiting messages (memory, SQLite, PostgreSQL; one conformance suite
// in message/storetest), the proxy stage that stores a MESSAGE for a
// user with no binding and answers 202 Accepted, and the deliverer that
// sends the waiting messages, in order and each once, to a phone that
// has just registered.
package message

import (
	"context"
	"errors"
	"time"
)

// Message is one stored MESSAGE: what the sender sent, less what only
// the hop it came on needs (Via, Call-ID, CSeq, Route).
type Message struct {
	// ID is given by the store; a user's messages are delivered in the
	// order of their IDs, which is the order they were stored in.
	ID int64
	// User is the recipient's address of record, "user@domain".
	User string
	// From and To are the header values as received (tag included), so
	// that the phone shows the original sender.
	From, To string
	// Date is the Date header as received, or the time Parley stored the
	// message when the sender sent none (RFC 3428 §7 suggests it for a
	// message that may be delayed).
	Date        string
	ContentType string
	Body        []byte
	// Stored is when the store took the message; the age limit counts
	// from it.
	Stored time.Time
}

// Size is what a message counts against the user's byte quota: its body.
func (m *Message) Size() int64 { return int64(len(m.Body)) }

// Quota bounds what one user may have waiting. A zero field is no bound.
type Quota struct {
	MaxCount int
	MaxBytes int64
}

// The quota errors Add returns; a store reports the first bound a new
// message would cross, count before bytes.
var (
	ErrCountQuota = errors.New("message: the user has as many messages waiting as the quota allows")
	ErrByteQuota  = errors.New("message: the message would exceed the user's byte quota")
	// ErrClosed is returned by a store's methods after Close.
	ErrClosed = errors.New("message: store closed")
)

// Screen is a Store that knows, in this process and without a query,
// which users have no message waiting: the memory store, and SQLite's,
// which one process owns. The Deliverer asks it before it starts a run,
// so that a REGISTER for a user with nothing waiting (nearly every one)
// costs no goroutine and no copy of an empty list (issue 20).
type Screen interface {
	// MayHave reports false only when user surely has no message
	// waiting; a race with Add may answer true, never a wrong false.
	MayHave(user string) bool
}

// Store keeps the waiting messages. Implementations are safe for
// concurrent use; every engine passes message/storetest.
type Store interface {
	// Add stores m for m.User when q allows it, setting ID and Stored.
	// The quota check and the insert are one atomic step, so two messages
	// racing for the last place cannot both get it.
	Add(ctx context.Context, m Message, q Quota) (Message, error)
	// Pending returns the user's messages, oldest first.
	Pending(ctx context.Context, user string) ([]Message, error)
	// Delete removes one message; it reports false when the message was
	// already gone (delivered elsewhere, or expired).
	Delete(ctx context.Context, id int64) (bool, error)
	// Lease makes holder the only deliverer of the user's messages for d,
	// so that two registrations at once (on this server or on another
	// sharing the database) do not deliver a message twice. It reports
	// false while another holder's lease runs; the same holder may renew.
	Lease(ctx context.Context, user, holder string, d time.Duration) (bool, error)
	// Release ends holder's lease early; another holder's is left alone.
	Release(ctx context.Context, user, holder string) error
	// Expire removes every message stored at or before before and
	// returns how many it removed; each is counted by one caller only.
	Expire(ctx context.Context, before time.Time) (int, error)
	// Page returns up to limit messages with an ID above after, oldest
	// first: of one user, or of every user when user is "".
	Page(ctx context.Context, user string, after int64, limit int) ([]Message, error)
	// Totals returns how many messages wait and their bytes.
	Totals(ctx context.Context) (count int, bytes int64, err error)
	// Close releases the store; a second Close returns nil.
	Close() error
}

// storeTime is t as every engine keeps it: UTC, whole microseconds.
func storeTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
