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
