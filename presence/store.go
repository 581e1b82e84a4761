package presence

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"time"

	"github.com/parley-sip/parley/sip"
)

// Publication is one piece of event state a device published (RFC 3903
// §2): the body of its last PUBLISH, under the entity-tag the store gave
// it, until it expires.
type Publication struct {
	Entity      string // the presentity's AOR, "alice@example.com"
	Event       string // the event package, "presence"
	ETag        string // the SIP-ETag of the last successful PUBLISH
	ContentType string
	Body        []byte
	Expires     time.Time // when it lapses unless refreshed
	Modified    time.Time // when its body was last set
}

// Request is one PUBLISH as the store needs it, with the Expires the
// notifier granted (Min-Expires and the server's maximum applied).
type Request struct {
	Entity      string
	Event       string
	IfMatch     string // SIP-If-Match; "" for an initial publication
	ContentType string
	Body        []byte        // empty for a refresh or a removal
	Expires     time.Duration // 0 removes the publication
}

// Store is an event state compositor's state (RFC 3903 §6): publications
// by entity-tag, each of one entity and event. Engines use the clock they
// were made with; a publication whose Expires has come is gone to every
// method, whether Expire has removed it yet or not. Implementations are
// safe for concurrent use.
type Store interface {
	// Publish applies one PUBLISH and returns the publication as it
	// now stands, with a new ETag for the response's SIP-ETag; for a
	// removal, as it stood, with Expires set to now. The errors are
	// ErrNoBody, ErrExpiresZero (400) and ErrConditionFailed (412).
	Publish(ctx context.Context, r Request) (Publication, error)
	// List returns entity's publications of event that have not
	// expired, the least recently modified first.
	List(ctx context.Context, entity, event string) ([]Publication, error)
	// Expire removes every publication that has expired and returns
	// them, each once, so that the notifier can tell their watchers.
	Expire(ctx context.Context) ([]Publication, error)
	// Close releases the store. Calling it again does nothing.
	Close() error
}

// Errors of Publish, with the status and reason phrase to answer with.
var (
	// ErrNoBody is an initial PUBLISH (no SIP-If-Match) without a body
	// (RFC 3903 §6 step 4).
	ErrNoBody = &sip.Error{Code: 400, Reason: "Initial PUBLISH Without Body"}
	// ErrExpiresZero is an initial PUBLISH with Expires: 0: there is
	// nothing to remove.
	ErrExpiresZero = &sip.Error{Code: 400, Reason: "Initial PUBLISH With Expires 0"}
	// ErrConditionFailed is a SIP-If-Match naming no publication of this
	// entity and event that is still in force (RFC 3903 §6 step 2).
	ErrConditionFailed = &sip.Error{Code: 412, Reason: "Conditional Request Failed"}
	// ErrNegativeExpires is a caller's mistake: the notifier decides the
	// Expires it grants before asking the store.
	ErrNegativeExpires = errors.New("presence: negative Expires")
)

// op is what a PUBLISH asks for (RFC 3903 §4).
type op uint8

const (
	opInitial op = iota + 1
	opRefresh
	opModify
	opRemove
)

// classify says what r asks for, or why it is refused before any state
// is read. Every engine goes through it, so all refuse the same things.
func classify(r Request) (op, error) {
	switch {
	case r.Expires < 0:
		return 0, ErrNegativeExpires
	case r.IfMatch == "" && len(r.Body) == 0:
		return 0, ErrNoBody
	case r.IfMatch == "" && r.Expires == 0:
		return 0, ErrExpiresZero
	case r.IfMatch == "":
		return opInitial, nil
	case r.Expires == 0:
		return opRemove, nil
	case len(r.Body) == 0:
		return opRefresh, nil
	}
	return opModify, nil
}

// etagEncoding writes entity-tags as lower-case letters and digits, a
// token in any header.
var etagEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newETag returns a fresh entity-tag: 80 random bits, so tags never
// repeat across restarts or between servers sharing one database.
func newETag() string {
	var b [10]byte
	rand.Read(b[:])
	return etagEncoding.EncodeToString(b[:])
}

// storeTime is how engines keep times: to the microsecond, in UTC, which
// both SQL engines round-trip exactly.
func storeTime(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }
