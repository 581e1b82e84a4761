// Package calllimit counts concurrent calls per user, per domain and per
// trunk, and refuses a call that would take any of them past its maximum
// (issue 16, "full control"). Admitting and releasing are O(1) in the
// number of calls, safe from any goroutine, and a call's slots are
// released exactly once however many times its end is reported.
//
// The package knows nothing of SIP messages: the B2BUA names the keys of
// a call (Keys) and answers with the Refusal's code and reason.
package calllimit

import (
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is what a counter counts calls of.
type Kind uint8

// Kinds.
const (
	Caller Kind = iota // the calling user (counted in the user limit)
	Callee             // the called user (counted in the user limit)
	Domain
	Trunk
)

// String names the kind for logs and reason phrases.
func (k Kind) String() string {
	switch k {
	case Caller:
		return "caller"
	case Callee:
		return "callee"
	case Domain:
		return "domain"
	case Trunk:
		return "trunk"
	}
	return "unknown"
}

// Limits are the maxima. A maximum of 0 means no limit; a name in one of
// the maps overrides the default for that user, domain or trunk (0 there
// lifts the limit for that name alone).
type Limits struct {
	// PerUser bounds the calls a user is in, as caller or callee.
	PerUser int
	// PerDomain bounds the calls a domain's users are in.
	PerDomain int
	// PerTrunk bounds the calls on one trunk.
	PerTrunk int
	// Users, Domains and Trunks override the defaults by name: users by
	// address of record (user@domain), domains and trunks by name.
	Users, Domains, Trunks map[string]int
	// RetryAfter is what a 503 tells a domain's or trunk's caller to wait.
	RetryAfter time.Duration
}

func (l *Limits) limit(k key) int {
	m, def := l.Users, l.PerUser
	switch k.kind {
	case Domain:
		m, def = l.Domains, l.PerDomain
	case Trunk:
		m, def = l.Trunks, l.PerTrunk
	}
	if n, ok := m[k.name]; ok {
		return n
	}
	return def
}

// Keys names what one call counts against. Empty names are skipped, and
// a name given twice counts once (a user calling itself, a call inside
// one domain).
type Keys struct {
	Caller, Callee             string // addresses of record
	CallerDomain, CalleeDomain string
	Trunk                      string
}

// Refusal says why a call was not admitted, in the words the B2BUA
// answers with.
type Refusal struct {
	// Code is 486 when a user is at its limit (the user is busy) and 503
	// when a domain or a trunk is (the service is, for a while).
	Code int
	// Reason is the reason phrase, naming the limit reached.
	Reason string
	// RetryAfter is the Retry-After of a 503 in seconds; 0 for a 486.
	RetryAfter int
	// Kind and Name say which counter was full, and Max its maximum.
	Kind Kind
	Name string
	Max  int
}

// Error returns the refusal as a status line would show it.
func (r *Refusal) Error() string {
	return "calllimit: " + strconv.Itoa(r.Code) + " " + r.Reason + " (" + r.Kind.String() + " " + r.Name + ", max " + strconv.Itoa(r.Max) + ")"
}

type key struct {
	kind Kind // Caller and Callee are both stored as Caller: one user counter
	name string
}

const shards = 32

type shard struct {
	mu     sync.Mutex
	counts map[key]int
}

// Limiter holds the counters. The zero Limiter is not usable; use New.
type Limiter struct {
	limits atomic.Pointer[Limits]
	seed   maphash.Seed
	shards [shards]shard
}

// New returns a Limiter enforcing l.
func New(l Limits) *Limiter {
	lim := &Limiter{seed: maphash.MakeSeed()}
	for i := range lim.shards {
		lim.shards[i].counts = make(map[key]int)
	}
	lim.SetLimits(l)
	return lim
}

// SetLimits changes the maxima (a config reload). Calls in progress keep
// their slots; a lowered maximum refuses new calls until enough end.
func (lim *Limiter) SetLimits(l Limits) {
	l.Users = lowerKeys(l.Users, false)
	l.Domains = lowerKeys(l.Domains, true)
	l.Trunks = lowerKeys(l.Trunks, true)
	lim.limits.Store(&l)
}

// lowerKeys folds the case of domain and trunk names, and of the domain
// part of a user's address: users' own parts are case-sensitive (RFC 3261
// §19.1.4).
func lowerKeys(m map[string]int, whole bool) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[fold(k, whole)] = v
	}
	return out
}

func fold(name string, whole bool) string {
	if whole {
		return strings.ToLower(name)
	}
	i := strings.LastIndexByte(name, '@')
	if i < 0 || !hasUpper(name[i+1:]) {
		return name
	}
	return name[:i+1] + strings.ToLower(name[i+1:])
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// Call is an admitted call's hold on its counters.
type Call struct {
	lim      *Limiter
	names    [5]string // the counters' names: a held call keeps its Call, so no key's kind is stored twice
	from     [5]Kind   // the kind each key was named as, for the refusal
	party    [5]uint8  // whose each key is: partyCaller, partyCallee, both or neither (a trunk)
	n        uint8
	released atomic.Bool
}

// key is the counter of the call's i-th key.
func (c *Call) key(i int) key { return counterKey(c.from[i], c.names[i]) }

// counterKey is the counter of a key named as kind: Caller and Callee are
// one user counter.
func counterKey(kind Kind, name string) key {
	if kind == Callee {
		kind = Caller
	}
	return key{kind: kind, name: name}
}

// The parties a key of a Call counts, as bits of Call.party.
const (
	partyCaller uint8 = 1 << iota
	partyCallee
)

// Admit takes a slot of every counter k names, or none: when one is full
// it returns the Refusal for the first full one, in the order caller,
// callee, caller's domain, callee's domain, trunk.
func (lim *Limiter) Admit(k Keys) (*Call, *Refusal) {
	c := &Call{lim: lim}
	c.add(Caller, fold(k.Caller, false), partyCaller)
	c.add(Callee, fold(k.Callee, false), partyCallee)
	c.add(Domain, fold(k.CallerDomain, true), partyCaller)
	c.add(Domain, fold(k.CalleeDomain, true), partyCallee)
	c.add(Trunk, fold(k.Trunk, true), 0)
	l := lim.limits.Load()
	for i := 0; i < int(c.n); i++ {
		if limit := l.limit(c.key(i)); !lim.take(c.key(i), limit) {
			for j := 0; j < i; j++ {
				lim.give(c.key(j))
			}
			return nil, refusal(c.from[i], c.names[i], limit, l.RetryAfter)
		}
	}
	return c, nil
}

// MoveTrunk moves a call going out through gateways to trunk's counter:
// it takes a slot of trunk, then gives back held, the slot of the trunk
// tried before (nil for none), so that the call counts against the trunk
// that carries it and never against none in between. Refused, it returns
// held as it was, with the refusal.
func (lim *Limiter) MoveTrunk(held *Call, trunk string) (*Call, *Refusal) {
	next, refused := lim.Admit(Keys{Trunk: trunk})
	if refused != nil {
		return held, refused
	}
	held.Release()
	return next, nil
}

// add appends a key of party unless it is empty or already there (then
// it counts for both parties).
func (c *Call) add(kind Kind, name string, party uint8) {
	if name == "" {
		return
	}
	k := counterKey(kind, name)
	for i := 0; i < int(c.n); i++ {
		if c.key(i) == k {
			c.party[i] |= party
			return
		}
	}
	c.names[c.n] = name
	c.from[c.n] = kind
	c.party[c.n] = party
	c.n++
}

// DropParty gives back the slots of one party of the call, the callee's
// or the caller's (its user, and its domain unless the other party
// shares it), and keeps the rest: a party that left a call that goes on
// (a transfer's referrer) is free for other calls. A trunk's slot stays.
// It must not run concurrently with Release; after Release it does
// nothing.
func (c *Call) DropParty(callee bool) {
	if c == nil || c.released.Load() {
		return
	}
	p := partyCaller
	if callee {
		p = partyCallee
	}
	for i := 0; i < int(c.n); {
		if c.party[i] != p {
			c.party[i] &^= p
			i++
			continue
		}
		c.lim.give(c.key(i))
		c.n--
		c.names[i], c.from[i], c.party[i] = c.names[c.n], c.from[c.n], c.party[c.n]
		c.names[c.n] = ""
	}
}

func refusal(kind Kind, name string, limit int, retry time.Duration) *Refusal {
	r := &Refusal{Code: 503, Kind: kind, Name: name, Max: limit}
	switch kind {
	case Caller:
		r.Code, r.Reason = 486, "Caller Call Limit Reached"
	case Callee:
		r.Code, r.Reason = 486, "Callee Call Limit Reached"
	case Domain:
		r.Reason = "Domain Call Limit Reached"
	case Trunk:
		r.Reason = "Trunk Call Limit Reached"
	}
	if r.Code == 503 {
		r.RetryAfter = max(1, int(retry/time.Second))
	}
	return r
}

// Release gives the call's slots back. Only the first call does anything,
// so every path that ends a call may report it.
func (c *Call) Release() {
	if c == nil || !c.released.CompareAndSwap(false, true) {
		return
	}
	for i := 0; i < int(c.n); i++ {
		c.lim.give(c.key(i))
	}
}

func (lim *Limiter) shard(k key) *shard {
	h := maphash.String(lim.seed, k.name) ^ uint64(k.kind)
	return &lim.shards[h%shards]
}

func (lim *Limiter) take(k key, limit int) bool {
	s := lim.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.counts[k]
	if limit > 0 && n >= limit {
		return false
	}
	s.counts[k] = n + 1
	return true
}

func (lim *Limiter) give(k key) {
	s := lim.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Entries at zero are removed, so the table holds only names in a
	// call and cannot grow with every number ever dialled.
	if n := s.counts[k]; n > 1 {
		s.counts[k] = n - 1
	} else {
		delete(s.counts, k)
	}
}

// Active returns the calls counted against a name: a user (kind Caller or
// Callee, which share a counter), a domain or a trunk.
func (lim *Limiter) Active(kind Kind, name string) int {
	k := counterKey(kind, fold(name, kind == Domain || kind == Trunk))
	s := lim.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[k]
}
