package server

import (
	"context"
	"time"

	"github.com/parley-sip/parley/cdr"
)

// recoverTimeout bounds the recovery of the journal at start.
const recoverTimeout = 30 * time.Second

// recoverCalls turns the journal rows a crash left (calls this node had
// ringing or answered when it was killed) into records with disposition
// interrupted, before any new call can add rows. They end at the
// restart: the media ran phone to phone, so the call may well have gone
// on after the crash, and the restart is the first moment Parley knows
// it no longer holds the call (an upper bound on the talk time, and the
// record says it was interrupted). The memory engine keeps no journal:
// nothing survives its restart to recover.
func (s *Server) recoverCalls(store cdr.Store, node string) {
	j, ok := store.(cdr.Journal)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), recoverTimeout)
	defer cancel()
	n, err := j.Recover(ctx, node, time.Now())
	switch {
	case err != nil:
		s.log.Error("cdr: calls up at the last stop not recovered; they stay in the journal for the next start", "error", err)
	case n > 0:
		s.log.Warn("cdr: calls up when the server last stopped recorded as interrupted", "calls", n, "node", node)
	}
}

// journalB2BUA writes a B2BUA call in progress to the journal.
func (s *Server) journalB2BUA(r cdr.Record) {
	if s.records == nil || s.cluster.recordedElsewhere(r.Source, false) { // its record is written elsewhere too
		return
	}
	r.Node = s.records.node
	s.records.w.Open(r)
}

// durableB2BUA runs fn once the records handed over so far are
// committed; at once when there are no records.
func (s *Server) durableB2BUA(fn func()) {
	if s.records == nil {
		fn()
		return
	}
	s.records.w.AfterCommit(fn)
}
