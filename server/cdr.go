package server

import (
	"cmp"
	"context"
	"net/netip"
	"os"
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/observe"
	"github.com/parley-sip/parley/sip"
)

// records writes a call detail record of every call the observer
// follows. The writer commits in groups: see cdr.Writer for what a
// kill -9 can lose.
type records struct {
	w    *cdr.Writer
	node string
}

// newRecords starts the writer on the storage's CDR store, or returns
// nil when cdr.enabled is off. The journal of calls up at the last stop
// is recovered later, by recoverJournal, once the listeners are bound.
func (s *Server) newRecords(cfg *config.Config) *records {
	if s.storage.cdrs == nil {
		return nil
	}
	return &records{w: cdr.NewWriter(s.storage.cdrs, s.log), node: recordsNode(cfg)}
}

// recoverJournal records the calls the last run left up, as the
// transport's Bound hook: only after binding does this process know it
// is the one server on its addresses. A second `parley serve` started
// beside a running one (by hand, or a node's file copied unchanged)
// fails to bind; recovering before that took the running server's calls
// for its own leftovers, recorded them as interrupted, and their true
// records were lost to the table's key when they ended.
func (s *Server) recoverJournal() error {
	if s.records != nil {
		s.recoverCalls(s.storage.cdrs, s.records.node)
	}
	return nil
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
		if change == observe.CallFinished && s.recordsProxied(&c) {
			rec.w.Write(s.proxiedRecord(&c, rec.node, c.End))
		}
	}
}

// recordsProxied reports whether this node writes the record of c, a
// call the proxy followed: not when the policy refused it, the B2BUA
// took it, or another node relayed it here (that node records it).
func (s *Server) recordsProxied(c *observe.Call) bool {
	return !c.RefusedByPolicy() && !s.ownedByB2BUA(c.CallID) && !s.cluster.leftToNode(c.Source, false)
}

// proxiedRecord is the record of a call the proxy relayed, with what the
// tracker cannot know: the trunk, the route and, for a trunk's call, the
// DID it was for and the user it rang (callRouting).
func (s *Server) proxiedRecord(c *observe.Call, node string, now time.Time) cdr.Record {
	r := c.Record(node, now)
	var src netip.Addr
	if ap, err := netip.ParseAddrPort(c.Source); err == nil {
		src = ap.Addr()
	}
	r.Trunk = s.proxiedTrunk(c, src)
	ruri, err := sip.ParseURI(c.RequestURI)
	if err != nil {
		return r
	}
	var to sip.URI
	if na, err := sip.ParseNameAddr(c.Callee); err == nil {
		to = na.URI
	}
	o := s.callRouting(src, ruri, to)
	r.Dialled, r.Route = o.Dialled, o.Route
	if o.Callee != "" {
		r.Callee = o.Callee
	}
	return r
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
			if s.recordsProxied(&active[i]) {
				rec.w.Write(s.proxiedRecord(&active[i], rec.node, now))
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), recordsFlushTimeout)
	defer cancel()
	if err := rec.w.Close(ctx); err != nil {
		s.log.Error("cdr: records still waiting at shutdown were lost", "error", err)
	}
}
