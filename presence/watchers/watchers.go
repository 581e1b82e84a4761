// Package watchers is watcher policy (RFC 6665 §5.2, RFC 3857's
// pending state): for each user, lists of who may watch them (allow) and
// who may not (block), each entry a watcher's address of record or a
// whole domain, kept in memory, SQLite or PostgreSQL (one conformance
// suite in presence/watchers/storetest). Policy reads the lists and is
// the notifier's notify.Authorizer.
package watchers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parley-sip/parley/sip"
)

// List is the list an entry is on.
type List string

// The two lists.
const (
	Allow List = "allow"
	Block List = "block"
)

// Entry is one watcher, or one domain of watchers, on a user's list.
type Entry struct {
	// User is the watched user's address of record, "user@domain".
	User string `json:"user"`
	// Watcher is "user@domain" for one watcher, or "domain" for all of
	// a domain's.
	Watcher string    `json:"watcher"`
	List    List      `json:"list"`
	Added   time.Time `json:"added"` // when the entry was last set
}

// ChangesKept is how long a store remembers which users' lists changed.
const ChangesKept = time.Hour

// ErrClosed is returned by a store's methods after Close.
var ErrClosed = errors.New("watchers: store closed")

// Store keeps the lists. Implementations are safe for concurrent use;
// every engine passes presence/watchers/storetest.
type Store interface {
	// Put sets e.Watcher on e.List of e.User, taking it off the other
	// list: a watcher is allowed or blocked, never both. Added is set by
	// the store.
	Put(ctx context.Context, e Entry) error
	// Remove takes a watcher off the user's lists; false when it was on
	// neither.
	Remove(ctx context.Context, user, watcher string) (bool, error)
	// List returns the user's entries ordered by watcher, or every
	// user's (ordered by user, then watcher) when user is "".
	List(ctx context.Context, user string) ([]Entry, error)
	// Changed returns the users whose lists a Put or Remove changed at
	// or after since (each once), so that a server hears of changes
	// another process made (`parley watchers`). Changes are kept for
	// ChangesKept.
	Changed(ctx context.Context, since time.Time) ([]string, error)
	// Close releases the store; a second Close returns nil.
	Close() error
}

// ParseUser reads the watched user: "user@domain", with or without a
// sip: or sips: scheme or angle brackets, as people paste them. The
// domain is lower-cased; the user part is case-sensitive in SIP and
// kept as written.
func ParseUser(s string) (string, error) {
	w, err := ParseWatcher(s)
	if err == nil && !strings.Contains(w, "@") {
		err = fmt.Errorf("watchers: %q is a domain, not user@domain", s)
	}
	return w, err
}

// ParseWatcher reads a list entry: "user@domain" for one watcher or
// "domain" for all of a domain's, in the same forms ParseUser takes.
func ParseWatcher(s string) (string, error) {
	bad := func() (string, error) {
		return "", fmt.Errorf("watchers: %q is neither user@domain nor a domain", s)
	}
	v := strings.TrimSpace(s)
	v = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
	for _, p := range []string{"sip:", "sips:"} {
		if len(v) > len(p) && strings.EqualFold(v[:len(p)], p) {
			v = v[len(p):]
		}
	}
	user, domain, hasUser := strings.Cut(v, "@")
	if !hasUser {
		user, domain = "", v
	}
	if hasUser && (user == "" || strings.ContainsFunc(user, badUserRune)) {
		return bad()
	}
	domain = strings.ToLower(domain)
	if !sip.ValidHostname(sip.TrimBrackets(domain)) {
		return bad()
	}
	if hasUser {
		return user + "@" + domain, nil
	}
	return domain, nil
}

// badUserRune is what may not stand in the user part of an entry: what
// would end it inside a SIP URI, blanks and control characters.
func badUserRune(r rune) bool {
	return r <= ' ' || r == 0x7f || strings.ContainsRune(`@:;<>"/?`, r)
}

// domainOf returns the domain of "user@domain".
func domainOf(aor string) string {
	if i := strings.LastIndexByte(aor, '@'); i >= 0 {
		return aor[i+1:]
	}
	return aor
}
