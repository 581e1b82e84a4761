package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/b2bua"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/cluster"
	"github.com/parley-sip/parley/cluster/members"
	"github.com/parley-sip/parley/cluster/redisstate"
	"github.com/parley-sip/parley/cluster/takeover"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/sip"
)

// clusterNode is this node's part in a cluster beside flow affinity:
// its heartbeat, the snapshots of its answered B2BUA calls, and the
// takeover of dead nodes' calls (docs/CLUSTER.md).
type clusterNode struct {
	self      string
	sip       string
	records   string // the name this node's call records carry
	after     time.Duration
	interval  time.Duration
	members   members.Store
	peers     *members.Peers // the other nodes' addresses: their calls are recorded where they entered
	calls     takeover.Calls
	close     func()
	ops       chan callOp // snapshot writes, in the order the calls made them
	answered  sync.Map    // call id -> true for calls with a snapshot stored
	log       *slog.Logger
	heartbeat *members.Heart
	taker     *takeover.Taker

	// leftRecords counts the calls not recorded here because they came
	// from a node (parley_cdr_left_to_node_total).
	leftRecords atomic.Uint64
}

// callOp is one write of the snapshots: a put, or a removal (snap nil).
type callOp struct {
	id   string
	snap *b2bua.Snapshot
}

// maxCallOps bounds the snapshot writes waiting for Redis; past it they
// are dropped (a call Redis never heard of cannot be taken over).
const maxCallOps = 4096

// openCluster connects the node to the state the cluster shares in
// Redis; nil without cluster.node.
func openCluster(cfg *config.Config, log *slog.Logger) (*clusterNode, error) {
	if !cfg.Cluster.Enabled() {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := redisstate.Open(ctx, cfg.Storage.RedisURL, cfg.Storage.RedisPrefix)
	if err != nil {
		return nil, fmt.Errorf("storage.redis_url: %w", err)
	}
	if err := nameFree(ctx, st, cfg); err != nil {
		st.Close()
		return nil, err
	}
	return newClusterNode(cfg, st, st, st.Close, log), nil
}

// nameFree refuses a cluster.node that a live node at another address
// beats under. A members store that cannot be read is no reason not to
// start: the node then runs as it would have.
func nameFree(ctx context.Context, st members.Store, cfg *config.Config) error {
	ms, err := st.Members(ctx)
	if err != nil {
		return nil
	}
	now := time.Now()
	if m, taken := members.NameInUse(ms, cfg.Cluster.Node, cfg.Cluster.Address, now, cfg.Cluster.TakeoverAfter.Duration()); taken {
		return fmt.Errorf("cluster.node: %q is the name of a live node at %s (last beat %s ago); give every node a name of its own (if that node moved here, start this one once it has been silent for cluster.takeover_after, %s)",
			m.ID, m.SIP, now.Sub(m.Seen).Round(time.Millisecond), cfg.Cluster.TakeoverAfter.Duration())
	}
	return nil
}

// newClusterNode is a node on the given stores.
func newClusterNode(cfg *config.Config, ms members.Store, calls takeover.Calls, closeFn func(), log *slog.Logger) *clusterNode {
	after := cfg.Cluster.TakeoverAfter.Duration()
	return &clusterNode{self: cfg.Cluster.Node, sip: cfg.Cluster.Address, records: recordsNode(cfg), after: after,
		interval: members.Interval(after), members: ms, peers: members.NewPeers(cfg.Cluster.Node, cfg.Cluster.Address), calls: calls, close: closeFn,
		ops: make(chan callOp, maxCallOps), log: log}
}

// startCluster begins beating, writing snapshots and sweeping for dead
// nodes: first the calls this node's last run left (a crash), then
// every heartbeat interval.
func (s *Server) startCluster(ctx context.Context) {
	cn := s.cluster
	if cn == nil {
		return
	}
	admin := ""
	if s.obs != nil && s.obs.admin != nil {
		admin = s.obs.admin.Addr().String()
	}
	cn.heartbeat = &members.Heart{Store: cn.members, Interval: cn.interval, Log: s.log, Counts: s.clusterCounts,
		Self: members.Member{ID: cn.self, SIP: cn.sip, Admin: admin}}
	watched := members.WarnUntrusted(cn.peers.Watch(cn.members), cn.self, s.trustsNode, s.log)
	cn.taker = takeover.New(takeover.Config{Self: cn.self, Members: watched, Calls: cn.calls, After: cn.after,
		Interval: cn.interval, Send: s.sendOriginated, Record: s.recordTakeover, Log: s.log})
	s.bg.Go(func() { cn.heartbeat.Run(ctx) })
	s.bg.Go(func() { cn.writeCalls(ctx) })
	s.bg.Go(func() {
		if _, err := cn.taker.EndLeftovers(ctx); err != nil {
			s.log.Warn("cluster: the calls of this node's last run not read; a surviving node ends them", "error", err)
		}
		cn.taker.Run(ctx)
	})
	s.log.Info("cluster: heartbeat started", "node", cn.self, "interval", cn.interval.String(), "takeover_after", cn.after.String())
}

// closeCluster closes the connection to the shared state, after the
// background work has stopped.
func (s *Server) closeCluster() {
	if s.cluster != nil && s.cluster.close != nil {
		s.cluster.close()
	}
}

// clusterCounts is what this node's heartbeat says it holds.
func (s *Server) clusterCounts() (calls, subscriptions int) {
	if s.b2b != nil {
		calls = s.b2b.Len()
	}
	if s.presence != nil {
		for _, n := range s.presence.n.Stats().Subscriptions { // by event package
			subscriptions += n
		}
	}
	return calls, subscriptions
}

// originatedTimeout bounds a takeover BYE: its transaction's own timeout
// (64×T1) answers first.
const originatedTimeout = 40 * time.Second

// sendOriginated sends a request no dialog of this node holds (a dead
// node's BYE) and waits for its final response.
func (s *Server) sendOriginated(ctx context.Context, req *sip.Message) (*sip.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, originatedTimeout)
	defer cancel()
	return s.out.Do(ctx, outbound.Request{Msg: req})
}

// recordTakeover writes a record of another node's call (its name stays
// on the record, and its journal row goes with the write).
func (s *Server) recordTakeover(r cdr.Record) {
	if s.records == nil || s.cluster.leftToNode(r.Source, true) {
		return
	}
	s.records.w.Write(r)
}

// trustsNode reports whether a call relayed from another node at addr
// is taken as authenticated there: always without auth.enabled, else
// when security.trusted covers addr and trusted_skip_auth is set (the
// settings of now: a reload that fixes them counts at once).
func (s *Server) trustsNode(addr netip.Addr) bool {
	cfg := s.settings.Load().cfg
	return !cfg.Auth.Enabled || cfg.Security.TrustedSkipAuth && s.guard.Trusted(addr)
}

// recordedElsewhere reports whether a call whose INVITE came from source
// is recorded by another node: one that came from a node (a proxied or
// B2BUA call relayed to the node holding the callee's flow) is recorded
// by the node it entered the cluster at, which saw all of it, so that a
// shared table holds one record per call. self also counts this node's
// own address: a dead node's call relayed by this one.
func (cn *clusterNode) recordedElsewhere(source string, self bool) bool {
	if cn == nil {
		return false
	}
	src, err := netip.ParseAddrPort(source)
	if err != nil {
		return false
	}
	if self {
		return cn.peers.IsNode(src)
	}
	return cn.peers.Has(src)
}

// leftToNode is recordedElsewhere for a call's final record: a call
// left to another node is counted.
func (cn *clusterNode) leftToNode(source string, self bool) bool {
	if !cn.recordedElsewhere(source, self) {
		return false
	}
	cn.leftRecords.Add(1)
	return true
}

// clusterOnChange is b2bua.Config.OnChange: the snapshot written again
// when a takeover's BYEs would change; nil off a cluster, where calls
// have no snapshot to keep current and no check runs.
func (s *Server) clusterOnChange() func(*b2bua.Call) {
	if s.cluster == nil {
		return nil
	}
	return s.clusterCallSnapshot
}

// clusterCallSnapshot stores the answered call's snapshot, on the call's
// queue (b2bua.Config.OnAnswer, OnChange), replacing the one before; the
// write itself goes to writeCalls, in the order the calls made them.
func (s *Server) clusterCallSnapshot(c *b2bua.Call) {
	cn := s.cluster
	if cn == nil {
		return
	}
	snap, ok := c.Snapshot()
	if !ok {
		return
	}
	snap.Record.Node = cn.records
	cn.answered.Store(snap.ID, true)
	cn.queue(callOp{id: snap.ID, snap: &snap})
}

// clusterCallEnded forgets the snapshot of an ended call, if it had one.
func (s *Server) clusterCallEnded(c *b2bua.Call) {
	if cn := s.cluster; cn != nil {
		if _, had := cn.answered.LoadAndDelete(c.ID()); had {
			cn.queue(callOp{id: c.ID()})
		}
	}
}

func (cn *clusterNode) queue(op callOp) {
	select {
	case cn.ops <- op:
	default:
		cn.log.Warn("cluster: call snapshot dropped, Redis is behind; a takeover would miss the call", "call", op.id)
	}
}

// writeCalls writes the snapshots in order until ctx ends, then what is
// still queued (the calls a shutdown ended), within drainTimeout in all:
// a Redis that no longer answers must not hold the shutdown.
func (cn *clusterNode) writeCalls(ctx context.Context) {
	for {
		select {
		case op := <-cn.ops:
			cn.write(context.Background(), op)
		case <-ctx.Done():
			drain, cancel := context.WithTimeout(context.Background(), drainTimeout)
			defer cancel()
			for {
				select {
				case op := <-cn.ops:
					cn.write(drain, op)
				default:
					return
				}
			}
		}
	}
}

// drainTimeout bounds the snapshot writes left at shutdown; opTimeout
// each write.
const (
	drainTimeout = 5 * time.Second
	opTimeout    = 5 * time.Second
)

func (cn *clusterNode) write(parent context.Context, op callOp) {
	ctx, cancel := context.WithTimeout(parent, opTimeout)
	defer cancel()
	var err error
	if op.snap != nil {
		err = cn.calls.Put(ctx, cn.self, *op.snap)
	} else {
		err = cn.calls.Remove(ctx, cn.self, op.id)
	}
	if err != nil {
		cn.log.Warn("cluster: call snapshot not written", "call", op.id, "error", err)
	}
}

// ClusterView is what /api/cluster shows: every node with its state and
// what it holds, and every answered B2BUA call with its node.
type ClusterView struct {
	Cluster       bool          `json:"cluster"` // true: a node of a cluster
	Self          string        `json:"self"`
	TakeoverAfter string        `json:"takeover_after"`
	Nodes         []NodeView    `json:"nodes"`
	Calls         []ClusterCall `json:"calls"`
	// Unassigned counts the bindings no node holds the flow of: phones
	// behind an edge proxy that keeps it.
	Unassigned int `json:"unassigned_registrations"`
}

// NodeView is one node in the ClusterView.
type NodeView struct {
	members.Member
	State         members.State `json:"state"`
	Registrations int           `json:"registrations"`
}

// ClusterCall is an answered B2BUA call of some node.
type ClusterCall struct {
	Node     string    `json:"node"`
	ID       string    `json:"id"`
	Caller   string    `json:"caller"`
	Callee   string    `json:"callee"`
	Answered time.Time `json:"answered"`
	ACallID  string    `json:"a_call_id"`
	BCallID  string    `json:"b_call_id"`
}

// clusterAPI is the admin API's view of the cluster, nil without
// cluster.node.
func (s *Server) clusterAPI() func(ctx context.Context) (any, error) {
	cn := s.cluster
	if cn == nil {
		return nil
	}
	return func(ctx context.Context) (any, error) { return cn.view(ctx, s.store, time.Now()) }
}

// viewTimeout bounds the reads behind /api/cluster. Without it a request
// with Redis down never ended: the client retries a read until its
// context ends, and an admin request's context ends only when the browser
// gives up (the console asks again every 3 s, piling them up).
const viewTimeout = 2 * time.Second

func (cn *clusterNode) view(ctx context.Context, store location.Store, now time.Time) (*ClusterView, error) {
	ctx, cancel := context.WithTimeout(ctx, viewTimeout)
	defer cancel()
	ms, err := cn.members.Members(ctx)
	if err != nil {
		return nil, err
	}
	v := &ClusterView{Cluster: true, Self: cn.self, TakeoverAfter: cn.after.String(), Nodes: []NodeView{}, Calls: []ClusterCall{}}
	held := map[string]int{}
	store.Range(func(_ string, bs []location.Binding) bool {
		for _, b := range bs {
			held[cluster.NodeOf(b.Path)]++
		}
		return true
	})
	v.Unassigned = held[""]
	for _, m := range members.Sorted(ms) {
		calls, err := cn.calls.List(ctx, m.ID)
		if err != nil {
			return nil, err
		}
		state := members.StateOf(m, now, cn.interval, cn.after)
		if state != members.Alive {
			// Its last beat's count goes stale the moment its calls are
			// taken over or drained at a stop: what it still holds is
			// what is stored for a takeover to end.
			m.Calls = len(calls)
		}
		v.Nodes = append(v.Nodes, NodeView{Member: m, State: state, Registrations: held[m.ID]})
		for _, c := range calls {
			v.Calls = append(v.Calls, ClusterCall{Node: m.ID, ID: c.ID, Caller: c.Record.Caller, Callee: c.Record.Callee,
				Answered: c.Record.Answered, ACallID: c.A.ID.CallID, BCallID: c.B.ID.CallID})
		}
	}
	return v, nil
}
