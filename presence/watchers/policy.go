package watchers

import (
	"context"
	"log/slog"
	"time"

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
}

// Authorize implements notify.Authorizer. watcher and resource are
// "user@domain".
func (p *Policy) Authorize(watcher, resource, event string) notify.Decision {
	if watcher == resource {
		return notify.Allow
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	entries, err := p.Store.List(ctx, resource)
	if err != nil {
		if p.Log != nil {
			p.Log.Warn("watchers: policy unreadable; subscription left pending", "watcher", watcher, "resource", resource, "error", err)
		}
		return notify.Pending
	}
	return Decide(entries, watcher, resource)
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
