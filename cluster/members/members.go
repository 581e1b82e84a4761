// Package members is who is in a cluster: each node beats, writing its
// own entry (name, addresses, when it was last seen, what it holds) to a
// store every node reads, and the others judge it alive, silent or dead
// by the age of its last beat. An entry is never removed by the others:
// a dead node stays listed, as dead, until it beats again.
//
// Ages are measured against the reader's clock, so the nodes' clocks
// must agree (NTP) to well within the heartbeat interval.
package members

import (
	"context"
	"log/slog"
	"sort"
	"time"

	"github.com/parley-sip/parley/clock"
)

// Member is one node as its last beat described it.
type Member struct {
	// ID is the node's name (cluster.node).
	ID string `json:"id"`
	// SIP is where the other nodes reach its SIP listener
	// (cluster.address); Admin its admin API, "" when it has none.
	SIP   string `json:"sip"`
	Admin string `json:"admin,omitempty"`
	// Seen is when it last beat, by its own clock.
	Seen time.Time `json:"seen"`
	// Calls and Subscriptions are what it held at that beat: B2BUA
	// calls in progress and presence subscriptions.
	Calls         int `json:"calls"`
	Subscriptions int `json:"subscriptions"`
}

// Store keeps the members' entries where every node reads them.
type Store interface {
	// Beat writes m as its node's entry, replacing the one before.
	Beat(ctx context.Context, m Member) error
	// Members returns every entry, in any order.
	Members(ctx context.Context) ([]Member, error)
}

// State is what a node's last beat says of it now.
type State string

// A node is alive while its beats come, silent once SilentAfter beats
// are missing, and dead once it has been silent longer than the
// takeover timeout: then a surviving node ends its calls.
const (
	Alive  State = "alive"
	Silent State = "silent"
	Dead   State = "dead"
)

// SilentAfter is how many heartbeat intervals without a beat make a node
// silent: one late beat (a pause, a slow store) is not yet an outage.
const SilentAfter = 3

// StateOf judges m at now by its age: silent past SilentAfter intervals,
// dead past deadAfter.
func StateOf(m Member, now time.Time, interval, deadAfter time.Duration) State {
	age := now.Sub(m.Seen)
	switch {
	case age > deadAfter:
		return Dead
	case age > SilentAfter*interval:
		return Silent
	}
	return Alive
}

// Interval is the heartbeat interval for a takeover timeout: a quarter
// of it, at most a second, so a node is silent well before it is dead;
// at least minInterval, so that no timeout makes the beats spin.
func Interval(takeoverAfter time.Duration) time.Duration {
	return max(min(time.Second, takeoverAfter/4), minInterval)
}

// minInterval is the shortest heartbeat interval.
const minInterval = 100 * time.Millisecond

// NameInUse returns the member of ms that beats under the name self
// from an address other than sip, with a beat no older than deadAfter at
// now: a live node, whose name a process starting with the same
// cluster.node (a node's file copied and not changed) would take. Such a
// process must not start: it would take the live node's open calls, in
// the call journal and the snapshots, for leftovers of its own crash,
// record them as interrupted and hang them up.
func NameInUse(ms []Member, self, sip string, now time.Time, deadAfter time.Duration) (Member, bool) {
	for _, m := range ms {
		if m.ID == self && m.SIP != sip && now.Sub(m.Seen) < deadAfter {
			return m, true
		}
	}
	return Member{}, false
}

// Sorted returns ms sorted by ID, for a stable listing.
func Sorted(ms []Member) []Member {
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	return ms
}

// Heart beats for this node until its context ends.
type Heart struct {
	// Store receives the beats.
	Store Store
	// Self is this node's entry; Seen and the counts are filled in at
	// each beat.
	Self Member
	// Counts, when set, returns what the node holds now.
	Counts func() (calls, subscriptions int)
	// Interval is the time between beats.
	Interval time.Duration
	// Clock times the beats; nil is clock.Default().
	Clock clock.Clock
	// Log hears of a failed beat, once per outage, and of the recovery.
	Log *slog.Logger
}

// Run beats now and then every Interval until ctx ends. A failed beat is
// retried at the next interval: to the others the node is silent
// meanwhile, which is the truth as far as they can tell.
func (h *Heart) Run(ctx context.Context) {
	clk, log := h.Clock, h.Log
	if clk == nil {
		clk = clock.Default()
	}
	if log == nil {
		log = slog.Default()
	}
	failing := false
	for {
		err := h.Beat(ctx, clk.Now())
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			log.Warn("cluster: heartbeat not written; other nodes will see this node silent", "error", err)
		case err == nil && failing:
			log.Info("cluster: heartbeat written again")
		}
		failing = err != nil
		if !sleep(ctx, clk, h.Interval) {
			return
		}
	}
}

// Beat writes one beat stamped now.
func (h *Heart) Beat(ctx context.Context, now time.Time) error {
	m := h.Self
	m.Seen = now
	if h.Counts != nil {
		m.Calls, m.Subscriptions = h.Counts()
	}
	ctx, cancel := context.WithTimeout(ctx, max(h.Interval, time.Second))
	defer cancel()
	return h.Store.Beat(ctx, m)
}

// sleep waits d on clk; false when ctx ended first.
func sleep(ctx context.Context, clk clock.Clock, d time.Duration) bool {
	done := make(chan struct{})
	t := clk.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return true
	case <-ctx.Done():
		t.Stop()
		return false
	}
}
