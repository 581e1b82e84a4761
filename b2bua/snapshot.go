package b2bua

import (
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/dialog"
)

// Snapshot is what a process that never held an answered call needs to
// end it: both legs' dialog state, from which it builds a BYE for each
// (dialog.Info.Request), and the call's record so far, which it
// completes. A cluster node keeps its calls' snapshots in shared storage
// so that a surviving node can end them if it dies (cluster/takeover).
type Snapshot struct {
	// ID is the call's identifier in the admin API.
	ID string `json:"id"`
	// Record is the call's record so far: no end, disposition answered.
	Record cdr.Record `json:"record"`
	// A and B are the caller's and the callee's dialogs as Parley holds
	// them: Parley's party and tag are the local ones.
	A dialog.Info `json:"a"`
	B dialog.Info `json:"b"`
}

// Snapshot returns the snapshot of an answered call; ok is false for a
// call not answered or already ended. Call it on the call's queue
// (Config.OnAnswer, Post): it reads the call's state without a lock.
func (c *Call) Snapshot() (s Snapshot, ok bool) {
	if c.state != stateAnswered || c.a == nil || c.bl == nil {
		return Snapshot{}, false
	}
	return Snapshot{ID: c.id, Record: c.Record(), A: c.a.d.Info(), B: c.bl.d.Info()}, true
}

// SnapshotSeqStep is how far a leg's local CSeq moves past the last
// snapshot's before OnChange hears of it. A takeover's BYE jumps
// further past the snapshot (cluster/takeover.CSeqGap), so the requests
// the B2BUA sends itself (session refreshes) need no write each.
const SnapshotSeqStep = 500

// snapMark is what ending the call from elsewhere needs of its legs, as
// the last snapshot OnAnswer or OnChange saw had it.
type snapMark struct {
	a, b             *dialog.Dialog
	aTarget, bTarget string
	aSeq, bSeq       uint32
}

// markOf is the call's mark now; ok is false off an answered call.
func (c *Call) markOf() (m snapMark, ok bool) {
	if c.state != stateAnswered || c.a == nil || c.bl == nil {
		return snapMark{}, false
	}
	m.a, m.b = c.a.d, c.bl.d
	m.aTarget, m.aSeq = m.a.TargetSeq()
	m.bTarget, m.bSeq = m.b.TargetSeq()
	return m, true
}

// covers reports whether a snapshot taken at m still ends the call as
// one taken at now would.
func (m snapMark) covers(now snapMark) bool {
	return m.a == now.a && m.b == now.b && m.aTarget == now.aTarget && m.bTarget == now.bTarget &&
		now.aSeq-m.aSeq < SnapshotSeqStep && now.bSeq-m.bSeq < SnapshotSeqStep
}

// noteChange runs after each event of the call (its queue's After, with
// Config.OnChange set) and calls OnChange when the snapshot went stale.
func (c *Call) noteChange() {
	m, ok := c.markOf()
	if !ok || (c.mark != nil && c.mark.covers(m)) {
		return
	}
	if c.mark == nil {
		c.mark = new(snapMark)
	}
	*c.mark = m
	c.b.cfg.OnChange(c)
}
