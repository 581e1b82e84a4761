// Package takeover ends the B2BUA calls of a cluster node that died.
// A node keeps a snapshot of each answered call (both legs' dialogs and
// the record so far, b2bua.Snapshot) in storage every node reads, and
// removes it when the call ends. When a node's heartbeat has been
// missing longer than the takeover timeout, one surviving node — the one
// whose claim on the dead node wins — sends BYE on both legs of each of
// its calls, straight to each leg's remote target (the dead node's flows
// died with it), and writes each call's record with disposition
// ended-by-takeover and hung up by node-failure. The phones would
// otherwise talk on through their media path with no record, or sit in
// a call nobody can end.
package takeover

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parley-sip/parley/b2bua"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/cluster/members"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/sip"
)

// Calls keeps the answered calls' snapshots by node, where every node
// reads them.
type Calls interface {
	// Put stores the snapshot of one of node's calls.
	Put(ctx context.Context, node string, s b2bua.Snapshot) error
	// Remove forgets node's call id; forgetting one not there is no
	// error.
	Remove(ctx context.Context, node, id string) error
	// List returns node's snapshots, in any order.
	List(ctx context.Context, node string) ([]b2bua.Snapshot, error)
	// Claim makes by the node that ends dead's calls for ttl; false when
	// another node holds the claim.
	Claim(ctx context.Context, dead, by string, ttl time.Duration) (bool, error)
}

// Config is what a Taker is built from. Members, Calls, Send and Record
// are needed.
type Config struct {
	// Self is this node's name: it never takes itself over while alive.
	Self string
	// Members lists the nodes and their last beats.
	Members members.Store
	// Calls holds every node's call snapshots.
	Calls Calls
	// After is how long a node's heartbeat must be missing before its
	// calls are ended (cluster.takeover_after); Interval is the
	// heartbeat interval, also the time between sweeps.
	After, Interval time.Duration
	// Send sends a request Parley originates and waits for its final
	// response (the outbound service's Do).
	Send func(ctx context.Context, req *sip.Message) (*sip.Message, error)
	// Record writes a call's finished record.
	Record func(cdr.Record)
	// Clock tells the time of sweeps and records; nil is clock.Default().
	Clock clock.Clock
	Log   *slog.Logger
}

// CSeqGap is how far a takeover BYE's CSeq jumps past the snapshot's:
// the snapshot is written again only once a leg's CSeq moved
// b2bua.SnapshotSeqStep, so the dead node may have sent that many
// requests since (session refreshes, re-INVITEs). A CSeq must only grow
// (RFC 3261 §12.2.1.1), so a jump is allowed where a repeat is refused.
const CSeqGap = 1000

// parallel bounds the calls ended at once, each waiting for two BYE
// transactions.
const parallel = 32

// claimTTL is how long a claim on a dead node holds: long enough for
// its calls' BYE transactions (64×T1 each), short enough that another
// node finishes the job if the claimant dies in it.
const claimTTL = 2 * time.Minute

// Taker ends dead nodes' calls.
type Taker struct {
	cfg Config
	clk clock.Clock
	log *slog.Logger
	// watching is since when Sweep has read the members without a
	// failure; zero after a failure. Sweep takes no node over before it
	// has watched for members.SilentAfter intervals: after an outage of
	// the store every node's last beat is old, and a live node needs an
	// interval to beat again.
	watching time.Time
}

// New returns a Taker for cfg.
func New(cfg Config) *Taker {
	t := &Taker{cfg: cfg, clk: cfg.Clock, log: cfg.Log}
	if t.clk == nil {
		t.clk = clock.Default()
	}
	if t.log == nil {
		t.log = slog.Default()
	}
	return t
}

// Run sweeps every Interval until ctx ends.
func (t *Taker) Run(ctx context.Context) {
	for {
		if _, err := t.Sweep(ctx); err != nil && ctx.Err() == nil {
			t.log.Debug("cluster: takeover sweep failed", "error", err)
		}
		done := make(chan struct{})
		tm := t.clk.AfterFunc(t.cfg.Interval, func() { close(done) })
		select {
		case <-done:
		case <-ctx.Done():
			tm.Stop()
			return
		}
	}
}

// Sweep ends the calls of every node dead now whose claim this node
// wins, and returns how many it ended. Sweeps run one at a time.
func (t *Taker) Sweep(ctx context.Context) (int, error) {
	ms, err := t.cfg.Members.Members(ctx)
	now, total := t.clk.Now(), 0
	if err != nil {
		t.watching = time.Time{}
		return 0, err
	}
	if t.watching.IsZero() {
		t.watching = now
	}
	if now.Sub(t.watching) < members.SilentAfter*t.cfg.Interval {
		return 0, nil
	}
	for _, m := range ms {
		if m.ID == t.cfg.Self || members.StateOf(m, now, t.cfg.Interval, t.cfg.After) != members.Dead {
			continue
		}
		n, err := t.takeOver(ctx, m)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// EndLeftovers ends the calls this node's last run left in storage: at
// a restart after a crash none of them is held any more, and their
// phones may still be talking. Their records were written already by
// the journal's recovery, so the ones written here are dropped as
// repeats by the store.
func (t *Taker) EndLeftovers(ctx context.Context) (int, error) {
	calls, err := t.cfg.Calls.List(ctx, t.cfg.Self)
	if err != nil || len(calls) == 0 {
		return 0, err
	}
	t.log.Warn("cluster: ending the calls up when this node last stopped", "calls", len(calls))
	return t.endAll(ctx, t.cfg.Self, calls, "node "+t.cfg.Self+" restarted"), nil
}

// takeOver claims dead m and ends its calls.
func (t *Taker) takeOver(ctx context.Context, m members.Member) (int, error) {
	calls, err := t.cfg.Calls.List(ctx, m.ID)
	if err != nil || len(calls) == 0 {
		return 0, err
	}
	won, err := t.cfg.Calls.Claim(ctx, m.ID, t.cfg.Self, claimTTL)
	if err != nil || !won {
		return 0, err
	}
	// Listed again under the claim: calls another claimant ended before
	// its claim ran out are gone now.
	if calls, err = t.cfg.Calls.List(ctx, m.ID); err != nil {
		return 0, err
	}
	t.log.Warn("cluster: node dead; ending its calls", "node", m.ID, "last_seen", m.Seen.UTC().Format(time.RFC3339Nano), "calls", len(calls))
	reason := fmt.Sprintf("node %s silent since %s; ended by %s", m.ID, m.Seen.UTC().Format(time.RFC3339), t.cfg.Self)
	return t.endAll(ctx, m.ID, calls, reason), nil
}

// endAll ends calls, parallel at a time, and returns how many.
func (t *Taker) endAll(ctx context.Context, node string, calls []b2bua.Snapshot, reason string) int {
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, s := range calls {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			t.end(ctx, node, s, reason)
		})
	}
	wg.Wait()
	return len(calls)
}

// end writes one call's record, forgets the call and sends both BYEs.
// The record does not wait for the BYEs' answers: the call is over for
// Parley either way (a phone that does not answer is gone too), and a
// BYE nobody answers takes its transaction's whole timeout. A survivor
// that dies in between leaves the BYEs unsent; the phones' own session
// timers or their users end those calls.
func (t *Taker) end(ctx context.Context, node string, s b2bua.Snapshot, reason string) {
	r := s.Record
	r.End, r.Disposition, r.HungUpBy, r.Reason = t.clk.Now().UTC(), cdr.EndedByTakeover, cdr.NodeFailure, reason
	t.cfg.Record(r)
	if err := t.cfg.Calls.Remove(ctx, node, s.ID); err != nil {
		t.log.Debug("cluster: ended call not forgotten; the next sweep ends it again", "node", node, "call", s.ID, "error", err)
	}
	var wg sync.WaitGroup
	for _, leg := range []*dialog.Info{&s.A, &s.B} {
		wg.Go(func() { t.bye(ctx, s.ID, leg) })
	}
	wg.Wait()
}

// bye sends one leg's BYE.
func (t *Taker) bye(ctx context.Context, call string, leg *dialog.Info) {
	req, err := leg.Request("BYE", "", leg.LocalSeq+CSeqGap)
	if err != nil {
		t.log.Debug("cluster: no BYE for a leg of a dead node's call", "call", call, "call_id", leg.ID.CallID, "error", err)
		return
	}
	resp, err := t.cfg.Send(ctx, req)
	if err != nil {
		t.log.Info("cluster: BYE of a dead node's call not answered", "call", call, "call_id", leg.ID.CallID, "error", err)
		return
	}
	t.log.Debug("cluster: BYE of a dead node's call answered", "call", call, "call_id", leg.ID.CallID, "status", resp.StatusCode())
}
