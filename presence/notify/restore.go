package notify

import (
	"context"
	"strings"
)

// restoreSeqGap is how far a restored dialog's CSeq jumps past the one
// stored. The store is written when a subscription is made or refreshed,
// not on every NOTIFY, so the NOTIFYs sent since (at most one per
// throttle interval, a handful of retries) must fit in the gap for the
// next to be above the last the watcher saw (RFC 3261 §12.2.2). The
// bodies' version (RFC 4235, RFC 3680) jumps as far, for the same reason:
// a watcher drops a document older than the last it has.
const restoreSeqGap = 1 << 16

// Restore reads back the subscriptions the store kept, drops those that
// expired or whose package is gone, and goes on with the others: each
// gets a NOTIFY with its resource's current state, which may have changed
// while Parley was down. It returns how many it restored; without a
// store, none.
func (n *Notifier) Restore(ctx context.Context) (int, error) {
	if n.cfg.Store == nil {
		return 0, nil
	}
	recs, err := n.cfg.Store.List(ctx)
	if err != nil {
		return 0, err
	}
	now, restored := n.clk.Now(), 0
	for _, rec := range recs {
		pkg := n.pkg(eventToken(rec.Event))
		if rec.Node != n.cfg.Node && rec.Expires.After(now) {
			continue // another node's, which that node restores
		}
		if pkg == nil || !rec.Expires.After(now) {
			if err := n.cfg.Store.Delete(ctx, rec.Key()); err != nil {
				return restored, err
			}
			continue
		}
		info := rec.Dialog
		info.LocalSeq += restoreSeqGap
		d, err := n.table.Restore(info)
		if err != nil {
			n.log.Warn("notify: a stored subscription cannot be restored", "event", rec.Event, "resource", rec.Resource, "error", err)
			_ = n.cfg.Store.Delete(ctx, rec.Key())
			continue
		}
		s := &sub{n: n, key: rec.Key(), d: d, pkg: pkg, event: rec.Event, flow: parseFlow(rec.Flow),
			watch:   Watch{Watcher: rec.Watcher, Resource: rec.Resource, Version: rec.Version + restoreSeqGap},
			pending: rec.Pending, expires: rec.Expires, dirty: true}
		n.add(s)
		s.mu.Lock()
		s.arm()
		n.schedule(s)
		s.mu.Unlock()
		restored++
	}
	return restored, nil
}

// eventToken is an Event value's package, without parameters.
func eventToken(event string) string {
	tok, _, _ := strings.Cut(event, ";")
	return strings.TrimSpace(tok)
}
