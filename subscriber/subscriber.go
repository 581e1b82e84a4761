// Package subscriber is Parley's subscriber database: who may register and
// call, and the digest hashes that prove it. Only HA1 hashes are kept
// (H(user:realm:password), RFC 7616 §3.4.2), never a password, so a stolen
// database does not give away passwords reused elsewhere; the realm is
// always the subscriber's domain.
//
// Engines: SQLite (the default, embedded and cgo-free), PostgreSQL (for
// servers that share one database) and an in-memory map for tests. All
// pass the same conformance suite, package storetest.
package subscriber

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"
)

// ErrNotFound is returned by Get and Delete when there is no such
// subscriber.
var ErrNotFound = errors.New("subscriber: not found")

// Subscriber is one account: a user in a domain and its digest hashes.
type Subscriber struct {
	User   string // the user part, case-sensitive as in SIP URIs
	Domain string // lower case; also the digest realm
	// HA1MD5 and HA1SHA256 are hex H(user:domain:password) for the MD5
	// and SHA-256 digest algorithms: both are stored because a phone
	// picks one of the two challenges it is offered.
	HA1MD5    string
	HA1SHA256 string
	// Created is when the account was first stored. Engines keep it to
	// the microsecond; a zero value is set to the time of Put.
	Created time.Time
}

// AOR returns "user@domain".
func (s Subscriber) AOR() string { return s.User + "@" + s.Domain }

// HA1 returns the stored hash for a digest algorithm ("MD5" or "SHA-256",
// any case), or "" for one that is not stored.
func (s Subscriber) HA1(algorithm string) string {
	switch strings.ToUpper(algorithm) {
	case "MD5":
		return s.HA1MD5
	case "SHA-256":
		return s.HA1SHA256
	}
	return ""
}

// New returns a subscriber with both hashes computed from password. The
// domain is lower-cased first because it is the realm the hashes are
// bound to, and realms are compared as domains.
func New(user, domain, password string) Subscriber {
	domain = strings.ToLower(domain)
	return Subscriber{
		User:      user,
		Domain:    domain,
		HA1MD5:    HA1("MD5", user, domain, password),
		HA1SHA256: HA1("SHA-256", user, domain, password),
	}
}

// Store is a subscriber database. Domains are case-insensitive (engines
// store them in lower case); users are case-sensitive. Implementations are
// safe for concurrent use.
type Store interface {
	// Get returns the subscriber, or ErrNotFound.
	Get(ctx context.Context, user, domain string) (Subscriber, error)
	// Put inserts the subscriber or replaces the one with the same user
	// and domain.
	Put(ctx context.Context, s Subscriber) error
	// Delete removes the subscriber, or returns ErrNotFound.
	Delete(ctx context.Context, user, domain string) error
	// List returns the subscribers of a domain ordered by user, or of
	// every domain ordered by domain then user when domain is "".
	List(ctx context.Context, domain string) ([]Subscriber, error)
	// Exists reports whether the subscriber is stored.
	Exists(ctx context.Context, user, domain string) (bool, error)
	// Close releases the store. Calling it again does nothing.
	Close() error
}

// Versioned is a Store that can say cheaply whether it changed: Version
// returns a number that every Put and Delete, by any process sharing the
// database, moves on. A Cache reads it to drop what it holds.
type Versioned interface {
	Version(ctx context.Context) (int64, error)
}

// HA1 returns hex H(user:realm:password) for the digest algorithm "MD5" or
// "SHA-256" (any case; RFC 7616 §3.4.2, RFC 8760), or "" for any other.
func HA1(algorithm, user, realm, password string) string {
	h := newHash(algorithm)
	if h == nil {
		return ""
	}
	h.Write([]byte(user + ":" + realm + ":" + password))
	return hex.EncodeToString(h.Sum(nil))
}

// newHash returns the hash of a digest algorithm, or nil.
func newHash(algorithm string) hash.Hash {
	switch strings.ToUpper(algorithm) {
	case "MD5":
		return md5.New()
	case "SHA-256":
		return sha256.New()
	}
	return nil
}

// ParseAOR splits "alice@example.com" (a "sip:" or "sips:" prefix is
// allowed, as people paste URIs) into a user and a lower-case domain.
func ParseAOR(s string) (user, domain string, err error) {
	s = strings.TrimSpace(s)
	for _, p := range []string{"sip:", "sips:"} {
		if len(s) > len(p) && strings.EqualFold(s[:len(p)], p) {
			s = s[len(p):]
		}
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", "", fmt.Errorf("subscriber: %q is not of the form user@domain", s)
	}
	user, domain = s[:at], strings.ToLower(s[at+1:])
	if strings.ContainsAny(user, " \t\r\n:;<>\"") || strings.ContainsAny(domain, " \t\r\n@;<>/\"") {
		return "", "", fmt.Errorf("subscriber: %q is not of the form user@domain", s)
	}
	return user, domain, nil
}

// check rejects a subscriber an engine must not store: without a key, or
// without the hashes that authentication needs.
func check(s Subscriber) error {
	switch {
	case s.User == "" || s.Domain == "":
		return errors.New("subscriber: user and domain are required")
	case s.HA1MD5 == "" || s.HA1SHA256 == "":
		return errors.New("subscriber: both HA1 hashes are required")
	}
	return nil
}

// normalize lower-cases the domain and sets a zero Created to now, which
// every engine does on Put.
func normalize(s Subscriber, now time.Time) Subscriber {
	s.Domain = strings.ToLower(s.Domain)
	if s.Created.IsZero() {
		s.Created = now
	}
	s.Created = s.Created.Truncate(time.Microsecond).UTC()
	return s
}
