// Package auth is SIP digest authentication (RFC 3261 §22, RFC 7616,
// RFC 8760, RFC 2617 compatibility): challenges, verification of
// credentials against the subscriber store, the identity and forwarding
// rules around them, per-domain policy, and fail2ban-like blocking of
// sources that keep guessing.
package auth

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/eventlog"
	"github.com/parley-sip/parley/guard"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/subscriber"
)

// Defaults for the Authenticator's zero fields.
const (
	DefaultNonceTTL      = 5 * time.Minute
	DefaultMaxFailures   = 10
	DefaultFailureWindow = 10 * time.Minute
	DefaultBlockFor      = 15 * time.Minute
	DefaultMaxTracked    = 1 << 16
)

// Authenticator challenges requests and verifies their credentials. Set
// its fields before first use and do not change them afterwards; it is
// then safe for concurrent use. The zero value of each field but Store
// picks a default.
type Authenticator struct {
	// Store holds the subscribers' HA1 hashes.
	Store subscriber.Store
	// Algorithms are offered in this order, one challenge each, and only
	// they are accepted (RFC 8760 §2.4: a UAC takes the first it
	// supports). Nil offers MD5 alone: libre-based phones (baresip 1.0)
	// abandon a challenge list holding anything but MD5, and sipp 3.6
	// reads only the first challenge, so offering SHA-256 is a choice for
	// operators who know their phones.
	Algorithms []string
	// Secret keys the nonce HMAC (see LoadOrCreateSecret). Empty means a
	// random secret for this process only: nonces then die with it.
	Secret []byte
	// NonceTTL is how long a nonce is accepted; an older one gets a
	// stale=true challenge, which phones answer without asking the user.
	NonceTTL time.Duration
	// Now is the clock; tests replace it.
	Now func() time.Time
	// MaxFailures is how many failed attempts from one source within
	// FailureWindow block it for BlockFor; negative never blocks.
	MaxFailures   int
	FailureWindow time.Duration
	BlockFor      time.Duration
	// NeverBlocked are networks whose failures are logged (fail2ban reads
	// the lines) but never block them: security.trusted, an SBC or an
	// office's one NAT address, where one phone with a wrong password
	// would cut off every other. A block made before a reload listed the
	// source no longer applies.
	NeverBlocked []netip.Prefix
	// MaxTracked caps the sources counted and the nonces whose nc is
	// remembered, so that a flood cannot exhaust memory.
	MaxTracked int
	// Logger receives each failure (info), blocks (warn) and their ends
	// (info), and an outage of the subscriber store; nil means
	// slog.Default().
	Logger *slog.Logger
	// Shared is the ban list of the other nodes of a cluster: a source
	// banned there is refused here, and a ban made here is told to them.
	// nil keeps bans to this process.
	Shared SharedBans

	once      sync.Once
	store     *eventlog.Outage // of the subscriber store, logged once per outage
	nonces    *nonceKey
	replay    *replayCache
	fails     *failureTable
	successes atomic.Uint64
	refused   atomic.Uint64
}

// NewAuthenticator returns an Authenticator with the defaults, checking
// credentials against store with nonces keyed by secret.
func NewAuthenticator(store subscriber.Store, secret []byte) *Authenticator {
	return &Authenticator{Store: store, Secret: secret}
}

func (a *Authenticator) init() {
	a.once.Do(func() {
		secret := a.Secret
		if len(secret) == 0 {
			secret = make([]byte, secretLen)
			rand.Read(secret)
		}
		a.nonces = newNonceKey(secret)
		a.store = &eventlog.Outage{What: "subscriber store", Log: a.Logger, Now: a.Now}
		a.replay = newReplayCache(a.maxTracked())
		a.fails = newFailureTable(a.maxTracked())
	})
}

// Continue makes a, before its first use, carry on from prev: the
// nonces prev issued stay valid and their counts remembered (the same
// secret and replay cache), and the sources prev counts or blocks stay
// counted and blocked, and an outage of the subscriber store prev
// logged is not logged again. A reload that changes the auth settings builds a
// new Authenticator and continues the old one with it, so that the
// change neither reopens a nonce to replay nor lifts a block.
func (a *Authenticator) Continue(prev *Authenticator) {
	prev.init()
	a.once.Do(func() {
		a.nonces, a.replay, a.fails, a.store = prev.nonces, prev.replay, prev.fails, prev.store
	})
	a.successes.Store(prev.successes.Load())
	a.refused.Store(prev.refused.Load())
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (a *Authenticator) nonceTTL() time.Duration { return orDefault(a.NonceTTL, DefaultNonceTTL) }
func (a *Authenticator) maxTracked() int         { return orDefault(a.MaxTracked, DefaultMaxTracked) }

func (a *Authenticator) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// HeaderName returns the header a challenge goes in: Proxy-Authenticate
// in a 407 when proxy, else WWW-Authenticate in a 401.
func HeaderName(proxy bool) string {
	if proxy {
		return "Proxy-Authenticate"
	}
	return "WWW-Authenticate"
}

// credentialsHeader is the header a client answers a challenge in.
func credentialsHeader(proxy bool) string {
	if proxy {
		return "Proxy-Authorization"
	}
	return "Authorization"
}

// Challenge returns the values of the challenge header for realm: one
// challenge per algorithm, in the configured order, since a phone takes
// the first it supports (RFC 8760 §2.4). All share one fresh nonce. No opaque
// is sent: the nonce already carries all the state a server needs. The
// values are the same for a 401 and a 407; proxy only names which one
// the log line is about.
func (a *Authenticator) Challenge(realm string, proxy bool, stale bool) []string {
	a.init()
	nonce := newNonce(a.nonces, realm, a.now())
	out := make([]string, 0, 2)
	for _, alg := range a.algorithms() {
		v := `Digest realm="` + quote(realm) + `", nonce="` + nonce + `", algorithm=` + alg + `, qop="auth"`
		if stale {
			v += ", stale=true"
		}
		out = append(out, v)
	}
	a.logger().Debug("auth: challenge", "realm", realm, "header", HeaderName(proxy), "stale", stale)
	return out
}

// defaultAlgorithms is what a zero Authenticator offers; see Algorithms.
var defaultAlgorithms = []string{MD5}

// algorithms is the challenge order: Algorithms, or MD5 alone.
func (a *Authenticator) algorithms() []string {
	if len(a.Algorithms) > 0 {
		return a.Algorithms
	}
	return defaultAlgorithms
}

// SharedBans is a ban list the nodes of a cluster share, so that a
// source that guessed passwords at one node is refused at every node
// rather than given a fresh count of guesses at each.
type SharedBans interface {
	// Ban tells the other nodes that source is banned until until. It
	// must not block: it runs on the request's goroutine.
	Ban(source netip.Addr, until time.Time)
	// Banned reports whether another node banned source until after now.
	// It runs for every request checked and must be cheap.
	Banned(source netip.Addr, now time.Time) bool
}

// blocked reports whether source is blocked at now, here or by another
// node of a cluster.
func (a *Authenticator) blocked(source netip.Addr, now time.Time) bool {
	if a.neverBlocked(source) {
		return false
	}
	if a.fails.blocked(source, now) {
		return true
	}
	return a.Shared != nil && source.IsValid() && a.Shared.Banned(guard.SourceKey(source), now)
}

func (a *Authenticator) neverBlocked(source netip.Addr) bool {
	source = source.Unmap()
	for _, p := range a.NeverBlocked {
		if p.Contains(source) {
			return true
		}
	}
	return false
}

// IsBlocked reports whether source is blocked now, for a stage that wants
// to turn a blocked source away before any other work.
func (a *Authenticator) IsBlocked(source netip.Addr) bool {
	a.init()
	return a.blocked(source, a.now())
}

// Stats are the Authenticator's counters since it started.
type Stats struct {
	Successes   uint64 // credentials accepted
	Failures    uint64 // wrong password or unknown user
	Refused     uint64 // requests turned away because their source was blocked
	BlocksTotal uint64 // times a source was blocked
	BlockedNow  int    // sources blocked at this moment
	Tracked     int    // sources with a failure on record
	Nonces      int    // nonces whose nc is remembered
}

// Stats returns the counters; BlockedNow walks the tracked sources, so
// call it for a metrics scrape, not per request.
func (a *Authenticator) Stats() Stats {
	a.init()
	st := Stats{Successes: a.successes.Load(), Refused: a.refused.Load(), Nonces: a.replay.len()}
	st.Failures, st.BlocksTotal, st.BlockedNow, st.Tracked = a.fails.stats(a.now())
	return st
}

// Outcome is what Verify decided.
type Outcome int

// The outcomes of Verify.
const (
	// OK: the credentials are right; Result.User is who sent them.
	OK Outcome = iota
	// Challenge: no credentials for this realm; answer 401/407.
	Challenge
	// Stale: the password was right but the nonce expired, is not ours,
	// or its nc was used before; answer 401/407 with stale=true.
	Stale
	// Forbidden: wrong password or unknown user, deliberately not told
	// apart; answer 403.
	Forbidden
	// Blocked: the source failed too often recently; answer 403 or drop.
	Blocked
	// Bad: the credentials are malformed; answer 400.
	Bad
	// ServerError: the subscriber store failed; answer 503 with
	// Retry-After, which sends a phone to another server if it knows one.
	ServerError
)

var outcomeNames = [...]string{"OK", "Challenge", "Stale", "Forbidden", "Blocked", "Bad", "ServerError"}

// String returns the outcome's name, for logs and metric labels.
func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Result is Verify's verdict.
type Result struct {
	Outcome Outcome
	User    string // OK only: the authenticated user, in Realm
	Realm   string
	Proxy   bool   // true when it was about Proxy-Authorization (407)
	Reason  string // Bad only: a reason phrase naming the defect
	Err     error  // ServerError only: what failed
}

// Status returns the status code and reason phrase to answer with, or 0
// for OK.
func (r Result) Status() (code int, reason string) {
	switch r.Outcome {
	case OK:
		return 0, ""
	case Challenge, Stale:
		if r.Proxy {
			return 407, "Proxy Authentication Required"
		}
		return 401, "Unauthorized"
	case Forbidden, Blocked:
		return 403, "Forbidden"
	case Bad:
		return 400, orDefault(r.Reason, "Bad Request")
	}
	return 503, "Subscriber Store Unavailable"
}

// RetryAfter is the Retry-After, in seconds, of the 503 sent when the
// subscriber store cannot be read: long enough for a database restart,
// short enough that phones without another server soon come back.
const RetryAfter = "5"

// Respond builds the response to req for a Result other than OK: the
// challenge headers for 401/407 (with stale=true for Stale), else just the
// status. toTag is the To tag a UAS adds to its final response.
func (a *Authenticator) Respond(req *sip.Message, r Result, toTag string) *sip.Message {
	code, reason := r.Status()
	var extra []string
	switch r.Outcome {
	case Challenge, Stale:
		for _, v := range a.Challenge(r.Realm, r.Proxy, r.Outcome == Stale) {
			extra = append(extra, HeaderName(r.Proxy), v)
		}
	case ServerError:
		extra = append(extra, "Retry-After", RetryAfter)
	}
	return sip.NewResponse(req, code, reason, toTag, extra...)
}

// Verify checks req's credentials for realm: Authorization when proxy is
// false (requests to this server, RFC 3261 §22.2), Proxy-Authorization
// when true (§22.3). source is the address the request came from; failures
// are counted against it (an invalid Addr is never counted or blocked).
func (a *Authenticator) Verify(ctx context.Context, req *sip.Message, realm string, proxy bool, source netip.Addr) Result {
	a.init()
	now := a.now()
	res := Result{Realm: realm, Proxy: proxy}
	if a.blocked(source, now) {
		a.refused.Add(1)
		res.Outcome = Blocked
		return res
	}
	cred, found, bad := findCredentials(req, credentialsHeader(proxy), realm)
	if bad == "" && found {
		bad = validate(cred)
	}
	if bad == "" && found && !slices.Contains(a.algorithms(), canonicalAlgorithm(cred.Algorithm)) {
		bad = reasonAlgorithm // one the operator turned off
	}
	switch {
	case bad != "":
		res.Outcome, res.Reason = Bad, bad
		return res
	case !found:
		res.Outcome = Challenge
		return res
	}
	return a.check(ctx, req.Method(), cred, res, source, now)
}

// check verifies validated credentials. The order matters: the digest is
// checked before the nonce, so that stale=true, which tells a phone to
// retry silently with the same password, is only ever said to a client
// that knows the password.
func (a *Authenticator) check(ctx context.Context, method string, c Credentials, res Result, source netip.Addr, now time.Time) Result {
	alg := canonicalAlgorithm(c.Algorithm)
	ha1, err := a.lookup(ctx, c.Username, res.Realm, alg)
	if err != nil {
		res.Outcome, res.Err = ServerError, err
		a.store.Failed(err)
		return res
	}
	if f, ok := a.Store.(storeFailure); !ok || f.StoreErr() == nil {
		a.store.Succeeded() // not a cached answer given while the store is down
	}
	var sum, sent [sha256.Size]byte
	want := requestDigest(&sum, alg, cmp.Or(ha1, dummyHA1[alg]), method, c.URI, c.Nonce, c.NC, c.CNonce, c.QOP)
	match := subtle.ConstantTimeCompare(want, decodeHex(sent[:], c.Response)) == 1
	if ha1 == "" || !match {
		a.fail(source, now, res.Realm, c.Username, ha1 == "")
		res.Outcome = Forbidden
		return res
	}
	if !a.freshAndUnused(c, res.Realm, now) {
		res.Outcome = Stale
		return res
	}
	a.successes.Add(1)
	res.Outcome, res.User = OK, c.Username
	return res
}

// dummyHA1 stands in for an unknown user's hash, so that an unknown user
// costs the same hashing as a wrong password and timing tells nothing.
var dummyHA1 = map[string]string{MD5: strings.Repeat("0", 32), SHA256: strings.Repeat("0", 64)}

// storeFailure is a subscriber store that answers from memory while the
// database under it fails (subscriber.Cache), and says so.
type storeFailure interface{ StoreErr() error }

// lookup returns the user's HA1 for alg, or "" for an unknown user.
func (a *Authenticator) lookup(ctx context.Context, user, realm, alg string) (string, error) {
	if a.Store == nil {
		return "", errors.New("auth: no subscriber store")
	}
	sub, err := a.Store.Get(ctx, user, realm)
	if errors.Is(err, subscriber.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return sub.HA1(alg), nil
}

// freshAndUnused checks the nonce's HMAC and age and, with qop, that its nc
// is higher than any seen before.
func (a *Authenticator) freshAndUnused(c Credentials, realm string, now time.Time) bool {
	ttl := a.nonceTTL()
	issued, fresh := checkNonce(a.nonces, c.Nonce, realm, now, ttl)
	if !fresh {
		a.logger().Debug("auth: stale or foreign nonce", "realm", realm, "user", c.Username)
		return false
	}
	if c.QOP == "" {
		// RFC 2069-style credentials have no nc: only the nonce's age
		// bounds their replay.
		return true
	}
	nc, _ := strconv.ParseUint(c.NC, 16, 32)
	if !a.replay.accept(c.Nonce, nc, issued.Add(ttl+maxClockSkew), now) {
		a.logger().Debug("auth: nc replay refused", "realm", realm, "user", c.Username, "nc", c.NC)
		return false
	}
	return true
}

// fail counts a failure and logs it, the line contrib/fail2ban reads. The
// log tells an unknown user from a wrong password, for the operator; the
// answer on the wire never does.
func (a *Authenticator) fail(source netip.Addr, now time.Time, realm, user string, unknown bool) {
	log, ctx := a.logger(), context.Background()
	if log.Enabled(ctx, slog.LevelInfo) {
		reason := "wrong password"
		if unknown {
			reason = "unknown user"
		}
		log.LogAttrs(ctx, slog.LevelInfo, "auth failed", slog.String("user", user), slog.String("realm", realm),
			slog.String("source", source.String()), slog.String("reason", reason))
	}
	limit := orDefault(a.MaxFailures, DefaultMaxFailures)
	window := orDefault(a.FailureWindow, DefaultFailureWindow)
	blockFor := orDefault(a.BlockFor, DefaultBlockFor)
	if !a.neverBlocked(source) && a.fails.fail(source, now, limit, window, blockFor) {
		if a.Shared != nil {
			a.Shared.Ban(guard.SourceKey(source), now.Add(blockFor))
		}
		log.LogAttrs(ctx, slog.LevelWarn, "source banned", slog.String("source", guard.SourceKey(source).String()),
			slog.String("reason", "auth failures"), slog.Int("failures", limit),
			slog.String("window", window.String()), slog.String("for", blockFor.String()))
	}
}

// LogEndedBlocks logs the blocks that have run out, one "source ban
// ended" line each; the server calls it every second.
func (a *Authenticator) LogEndedBlocks() {
	a.init()
	for _, src := range a.fails.ended(a.now()) {
		a.logger().LogAttrs(context.Background(), slog.LevelInfo, "source ban ended",
			slog.String("source", src.String()), slog.String("reason", "auth failures"))
	}
}
