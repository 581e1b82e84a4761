// Package guard holds the per-source limits that keep one address from
// taking the server for itself: a token bucket per source IP, bans for
// sources that stay over their rate, the trusted networks that bypass
// both, and the scanner user agents whose requests are dropped
// unanswered.
//
// Admit is cheap enough to run on every datagram and every accepted
// connection before any parsing, which is where a flood must be stopped:
// by the time a message is parsed, the flood has already cost its price.
package guard

import (
	"context"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the Config fields left zero.
const (
	DefaultMaxSources = 100_000
	// calmGap ends an over-limit episode: a source that has sent nothing
	// over its rate for this long starts afresh, so that a phone's burst
	// now and then never adds up to a ban.
	calmGap = time.Second
	// shards spreads the table over several locks: every UDP socket's
	// reader calls Admit for every datagram.
	shards = 32
)

// Config is the guard's policy. The zero value admits everything.
type Config struct {
	// Rate is the messages (datagrams, stream messages and new
	// connections) per second one source may send on average; 0 turns
	// rate limiting, and with it banning, off.
	Rate int
	// Burst is how many messages a source may send at once before Rate
	// applies; it is at least 1.
	Burst int
	// BanAfter is how long a source may stay over its rate before it is
	// banned; 0 bans at the first message over.
	BanAfter time.Duration
	// BanFor is how long a ban lasts; 0 never bans (sources are only
	// limited).
	BanFor time.Duration
	// MaxSources bounds the sources tracked, and so the table's memory
	// (about 150 bytes a source); when full, an idle one is forgotten.
	// Fixed at New: Reconfigure keeps the first value.
	MaxSources int
	// Trusted networks bypass every limit: gateways, other nodes of a
	// cluster, an SBC that concentrates many phones behind one address.
	Trusted []netip.Prefix
	// DropUserAgents are substrings (case-insensitive) of the User-Agent
	// of known scanners, whose requests DropAgent says to drop.
	DropUserAgents []string
	// Now is the clock; nil is time.Now. Tests replace it.
	Now func() time.Time
	// Logger receives a warning for every ban and a line when it ends;
	// nil is slog.Default().
	Logger *slog.Logger
}

// rules is the part of the Config that Reconfigure swaps at once.
type rules struct {
	rate     float64 // tokens per nanosecond
	burst    float64
	banAfter int64 // nanoseconds
	banFor   int64
	trusted  []netip.Prefix
	agents   []string // lower case
}

func newRules(cfg Config) *rules {
	return &rules{
		rate:     float64(cfg.Rate) / float64(time.Second),
		burst:    float64(max(cfg.Burst, 1)),
		banAfter: int64(cfg.BanAfter),
		banFor:   int64(cfg.BanFor),
		trusted:  unmapPrefixes(cfg.Trusted),
		agents:   lowerAll(cfg.DropUserAgents),
	}
}

// Guard applies a Config. It is safe for concurrent use.
type Guard struct {
	rules  atomic.Pointer[rules]
	tables [shards]table
	seed   maphash.Seed
	base   time.Time
	now    func() time.Time
	log    *slog.Logger

	trusted      atomic.Uint64
	scannerDrops atomic.Uint64

	// bans in force, oldest first, so that their ends can be logged;
	// bans are rare, so one lock will do. At most maxBans are followed.
	bansMu  sync.Mutex
	bans    []ban
	maxBans int
}

// ban is one source banned until a time (nanoseconds since New).
type ban struct {
	key   netip.Addr
	until int64
}

// New returns a guard applying cfg.
func New(cfg Config) *Guard {
	g := &Guard{seed: maphash.MakeSeed(), now: cfg.Now, log: cfg.Logger}
	if g.now == nil {
		g.now = time.Now
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	// A second before now, so that no time the table holds is 0, which
	// marks "never".
	g.base = g.now().Add(-time.Second)
	per := max(cfg.MaxSources, 0)
	if per == 0 {
		per = DefaultMaxSources
	}
	g.maxBans = per
	per = max(per/shards, 1)
	for i := range g.tables {
		g.tables[i].init(per)
	}
	g.rules.Store(newRules(cfg))
	return g
}

// Reconfigure applies a new policy (on a configuration reload) to every
// message from now on. Sources keep their tokens and bans.
func (g *Guard) Reconfigure(cfg Config) { g.rules.Store(newRules(cfg)) }

// Admit reports whether a message or connection from src may go on. It
// is the transport's hook, called before any parsing: a source over its
// rate or banned costs a map lookup and nothing more.
func (g *Guard) Admit(src netip.Addr) bool {
	r := g.rules.Load()
	if r.isTrusted(src) {
		g.trusted.Add(1)
		return true
	}
	if r.rate <= 0 || !src.IsValid() {
		return true
	}
	key := SourceKey(src)
	t := &g.tables[maphash.Comparable(g.seed, key)%shards]
	switch v := t.admit(key, g.clock(), r); v {
	case admitted:
		return true
	case newlyBanned:
		g.banned(key, r)
	}
	return false
}

// banned logs a new ban and follows it until it ends.
func (g *Guard) banned(key netip.Addr, r *rules) {
	g.log.LogAttrs(context.Background(), slog.LevelWarn, "source banned", slog.String("source", key.String()),
		slog.String("reason", "rate limit"), slog.String("for", time.Duration(r.banFor).String()))
	g.bansMu.Lock()
	if len(g.bans) < g.maxBans {
		g.bans = append(g.bans, ban{key: key, until: g.clock() + r.banFor})
	}
	g.bansMu.Unlock()
}

// LogEndedBans logs the bans that have run out, one "source ban ended"
// line each; the server calls it every second. A reload may change
// ban_for, so bans are not assumed to end in the order they began.
func (g *Guard) LogEndedBans() {
	now := g.clock()
	var ended []netip.Addr
	g.bansMu.Lock()
	kept := g.bans[:0]
	for _, b := range g.bans {
		if b.until <= now {
			ended = append(ended, b.key)
		} else {
			kept = append(kept, b)
		}
	}
	clear(g.bans[len(kept):])
	g.bans = kept
	g.bansMu.Unlock()
	for _, key := range ended {
		g.log.LogAttrs(context.Background(), slog.LevelInfo, "source ban ended",
			slog.String("source", key.String()), slog.String("reason", "rate limit"))
	}
}

// Trusted reports whether src is in a trusted network.
func (g *Guard) Trusted(src netip.Addr) bool { return g.rules.Load().isTrusted(src) }

// DropAgent reports whether a request from src with this User-Agent is
// a scanner's, to be dropped without an answer (and counts it). Trusted
// sources are never dropped.
func (g *Guard) DropAgent(src netip.Addr, userAgent string) bool {
	r := g.rules.Load()
	if userAgent == "" || !matchAny(r.agents, userAgent) || r.isTrusted(src) {
		return false
	}
	g.scannerDrops.Add(1)
	return true
}

// clock is nanoseconds since New, on the monotonic clock: an int64 is
// all a table entry needs to hold for a time.
func (g *Guard) clock() int64 { return int64(g.now().Sub(g.base)) }

func (r *rules) isTrusted(src netip.Addr) bool {
	if len(r.trusted) == 0 {
		return false
	}
	src = src.Unmap()
	for _, p := range r.trusted {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// SourceKey maps an address to the source it counts as: the address
// itself, or the /64 of an IPv6 address, since one host owns a whole /64
// and could otherwise step to a fresh address for every message (or, at
// the digest layer, every password guess). Every per-source limit keys
// by it, so that all of them agree on what one source is.
func SourceKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

func unmapPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out
}

// Stats are the guard's counters since New, for logs and metrics.
type Stats struct {
	Admitted     uint64 // messages and connections let through from metered sources
	Trusted      uint64 // let through unmetered from trusted networks
	Limited      uint64 // refused: over the source's rate
	Banned       uint64 // refused: the source is banned
	Bans         uint64 // bans imposed
	Evicted      uint64 // sources forgotten because the table was full
	ScannerDrops uint64 // requests dropped for a scanner's User-Agent
	Sources      int    // sources tracked now (at most MaxSources)
	BannedNow    int    // sources banned now
}

// Stats returns the counters. It walks the table to count the bans in
// force, so call it for a metrics scrape, not per message.
func (g *Guard) Stats() Stats {
	st := Stats{Trusted: g.trusted.Load(), ScannerDrops: g.scannerDrops.Load()}
	now := g.clock()
	for i := range g.tables {
		g.tables[i].addStats(&st, now)
	}
	return st
}
