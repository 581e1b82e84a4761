package watchers

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/presence/notify"
)

// lookupTimeout bounds one decision's read of the lists; the notifier
// asks on the SUBSCRIBE's way through.
const lookupTimeout = 2 * time.Second

// Policy decides who may watch whom from a Store's lists. It is a
// notify.Authorizer.
//
// The most specific entry wins: a watcher's own entry before its
// domain's, so that "block example.net, allow carol@example.net" lets
// carol in; at the same level block wins over allow. Without an entry,
// users of the resource's own domain may watch each other (and everyone
// may watch themselves: a phone subscribes to its own registrations);
// anyone else is pending until the user decides.
type Policy struct {
	Store Store
	// Log hears of a store that fails; its subscriptions are pending,
	// which shows nothing and refuses nothing.
	Log *slog.Logger
	// Clock stamps the pending requests and ages the cache; nil is the
	// process's clock.
	Clock clock.Clock
	// CacheFor keeps a user's entries in memory that long after a read,
	// so that a burst of SUBSCRIBEs (a desk phone's sixty BLF keys after
	// a reboot) reads the database once per user; 0 reads it every time.
	// Forget drops a user's entries at once after a change.
	CacheFor time.Duration

	mu      sync.Mutex
	pending map[string]map[string]Request // resource → watcher → its latest pending request
	cache   map[string]cached
}

// cached is a user's entries as read at a time.
type cached struct {
	entries []Entry
	at      time.Time
}

// maxCached bounds the cache; past it the cache starts again empty.
const maxCached = 65536

// Request is a subscription left pending: who asked to watch whom, for
// which event package, and when last. It is what the user (or the
// operator, through /api/watchers/pending) decides on with allow or block.
type Request struct {
	Watcher string    `json:"watcher"`
	Event   string    `json:"event"`
	At      time.Time `json:"at"`
}

// Bounds of the pending requests kept in memory: a stranger sending
// SUBSCRIBEs under ever new names must not grow them without end.
const (
	maxPendingUsers   = 65536
	maxPendingPerUser = 64
)

// ownOnly are the event packages whose state is the user's own
// business, whatever the lists say: reg shows where the phones are
// (their addresses), message-summary how much voicemail waits.
var ownOnly = map[string]bool{"reg": true, "message-summary": true}

// Authorize implements notify.Authorizer. watcher and resource are
// "user@domain".
func (p *Policy) Authorize(watcher, resource, event string) notify.Decision {
	if watcher == resource {
		return notify.Allow
	}
	if ownOnly[event] {
		return notify.Block
	}
	entries, err := p.entries(resource)
	if err != nil {
		if p.Log != nil {
			p.Log.Warn("watchers: policy unreadable; subscription left pending", "watcher", watcher, "resource", resource, "error", err)
		}
		return notify.Pending
	}
	d := Decide(entries, watcher, resource)
	p.note(d, watcher, resource, event)
	return d
}

// entries returns the user's entries, from the cache while it is fresh.
func (p *Policy) entries(user string) ([]Entry, error) {
	now := p.now()
	if p.CacheFor > 0 {
		p.mu.Lock()
		c, ok := p.cache[user]
		p.mu.Unlock()
		if ok && now.Sub(c.at) < p.CacheFor {
			return c.entries, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	entries, err := p.Store.List(ctx, user)
	if err != nil || p.CacheFor <= 0 {
		return entries, err
	}
	p.mu.Lock()
	if p.cache == nil || len(p.cache) >= maxCached {
		p.cache = map[string]cached{}
	}
	p.cache[user] = cached{entries, now}
	p.mu.Unlock()
	return entries, nil
}

// Forget drops the user's cached entries: the next decision reads the
// store. Call it after a change (watchers.Notifying's OnChange).
func (p *Policy) Forget(user string) {
	p.mu.Lock()
	delete(p.cache, user)
	p.mu.Unlock()
}

func (p *Policy) now() time.Time {
	if p.Clock == nil {
		return clock.Default().Now()
	}
	return p.Clock.Now()
}

// note keeps a pending request, and forgets one that is now decided.
func (p *Policy) note(d notify.Decision, watcher, resource, event string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d != notify.Pending {
		delete(p.pending[resource], watcher)
		if len(p.pending[resource]) == 0 {
			delete(p.pending, resource)
		}
		return
	}
	if p.pending == nil {
		p.pending = map[string]map[string]Request{}
	}
	ws := p.pending[resource]
	if ws == nil {
		if len(p.pending) >= maxPendingUsers {
			return
		}
		ws = map[string]Request{}
		p.pending[resource] = ws
	}
	if _, ok := ws[watcher]; !ok && len(ws) >= maxPendingPerUser {
		return
	}
	ws[watcher] = Request{Watcher: watcher, Event: event, At: p.now().UTC()}
}

// Pending returns the requests left pending for user in this process,
// oldest first, so that someone can allow or block them.
func (p *Policy) Pending(user string) []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Request, 0, len(p.pending[user]))
	for _, r := range p.pending[user] {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Request) int { return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Watcher, b.Watcher)) })
	return out
}

// Decide is the rule Policy applies to the resource's entries.
func Decide(entries []Entry, watcher, resource string) notify.Decision {
	if watcher == resource {
		return notify.Allow
	}
	wdom := domainOf(watcher)
	var byAOR, byDomain List
	for _, e := range entries {
		switch e.Watcher {
		case watcher:
			byAOR = stronger(byAOR, e.List)
		case wdom:
			byDomain = stronger(byDomain, e.List)
		}
	}
	for _, l := range []List{byAOR, byDomain} {
		switch l {
		case Block:
			return notify.Block
		case Allow:
			return notify.Allow
		}
	}
	if wdom == domainOf(resource) {
		return notify.Allow
	}
	return notify.Pending
}

// stronger is block over allow over nothing.
func stronger(a, b List) List {
	if a == Block || b == Block {
		return Block
	}
	return b
}

var _ notify.Authorizer = (*Policy)(nil)
