package server

import (
	"cmp"
	"context"
	"os"
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/observe"
)

// records writes a call detail record of every call the observer
// follows. The writer commits in groups: see cdr.Writer for what a
// kill -9 can lose.
type records struct {
	w    *cdr.Writer
	node string
}

// newRecords starts the writer on the storage's CDR store, or returns
// nil when cdr.enabled is off.
func (s *Server) newRecords(cfg *config.Config) *records {
	if s.storage.cdrs == nil {
		return nil
	}
	node := recordsNode(cfg)
	s.recoverCalls(s.storage.cdrs, node)
	return &records{w: cdr.NewWriter(s.storage.cdrs, s.log), node: node}
}

// recordsNode is the name this server's call records carry.
func recordsNode(cfg *config.Config) string {
	node := cmp.Or(cfg.CDR.Node, cfg.Cluster.Node) // a cluster's nodes are told apart by the names it knows them by
	if node == "" {
		node, _ = os.Hostname()
	}
	return node
}

// onCall is the observer's OnCall: the call log line, and the record of
// a call that ended.
func (s *Server) onCall() func(observe.CallChange, observe.Call) {
	logCall := observe.CallLog(s.events)
	if ps := s.presence; ps != nil {
		logOnly := logCall
		logCall = func(change observe.CallChange, c observe.Call) { logOnly(change, c); ps.onCall(change, c) }
	}
	rec := s.records
	if rec == nil {
		return logCall
	}
	return func(change observe.CallChange, c observe.Call) {
		logCall(change, c)
		if change == observe.CallFinished && !c.RefusedByPolicy() && !s.ownedByB2BUA(c.CallID) {
			r := c.Record(rec.node, c.End)
			r.Trunk, r.Route = s.proxiedTrunk(&c)
			rec.w.Write(r)
		}
	}
}

// recordsFlushTimeout bounds how long a stop waits for the last records
// to commit, after the drain.
const recordsFlushTimeout = 10 * time.Second

// closeRecords runs once the observer has stopped: the calls it still
// follows are recorded as interrupted, and everything is committed
// before the store closes.
func (s *Server) closeRecords() {
	rec := s.records
	if rec == nil {
		return
	}
	if s.obs != nil {
		active, _ := s.obs.obs.Calls()
		now := time.Now()
		for i := range active {
			if !s.ownedByB2BUA(active[i].CallID) {
				rec.w.Write(active[i].Record(rec.node, now))
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), recordsFlushTimeout)
	defer cancel()
	if err := rec.w.Close(ctx); err != nil {
		s.log.Error("cdr: records still waiting at shutdown were lost", "error", err)
	}
}
