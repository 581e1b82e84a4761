package server

import (
	"context"

	"github.com/parley-sip/parley/admin"
	"github.com/parley-sip/parley/b2bua"
	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/observe"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/transport"
)

// newB2BUA builds the B2BUA of mode: b2bua, or of a dial plan whose
// routes ask for one (router, nil for none), and puts its stages in the
// chain: the in-dialog stage before the proxy's cancel stage (a B2BUA
// call's CANCELs and in-dialog requests are not proxied ones, and are
// not challenged), the router's before location, the mode's before
// relay. Without either it returns stages unchanged and no B2BUA.
func (s *Server) newB2BUA(cfg *config.Config, tp transport.Sender, lifetime context.Context, router b2bua.Router, stages []proxy.Stage) ([]proxy.Stage, error) {
	inbound := s.inboundVia(cfg)
	if cfg.Mode != config.ModeB2BUA && router == nil && inbound == nil {
		return stages, nil
	}
	b := b2bua.New(b2bua.Config{
		Outbound:     s.out,
		Sender:       tp,
		T1:           cfg.Transaction.T1.Duration(),
		T2:           cfg.Transaction.T2.Duration(),
		RingTimeout:  cfg.Proxy.TimerC.Duration(),
		PassHeaders:  cfg.B2BUA.PassHeaders,
		PassXHeaders: cfg.B2BUA.PassXHeaders,
		All:          cfg.Mode == config.ModeB2BUA,
		Router:       router,
		Control:      b2buaControlOf(cfg),
		Limits:       calllimit.New(callLimitsOf(cfg)),
		Vouched:      (*proxy.Request).Vouched,
		Accountable:  (*proxy.Request).Accountable,
		Passwords:    func() bool { return s.settings.Load().cfg.Auth.Enabled },
		Locate:       s.locateTransfer,
		Trunks:       s.trunkAccount,
		Inbound:      inbound,
		Routing:      s.callRouting,
		Record:       s.recordB2BUA,
		Journal:      s.journalB2BUA,
		Durable:      s.durableB2BUA,
		Agent:        func() string { return s.settings.Load().cfg.ServerHeader },
		OnAnswer:     s.clusterCallSnapshot,
		OnChange:     s.clusterOnChange(),
		OnEnd:        s.clusterCallEnded,
		Watch:        s.watchB2BUA,
		Lifetime:     lifetime,
		Log:          s.events,
	})
	var err error
	for _, at := range []struct {
		before string
		stage  proxy.Stage
	}{{"cancel", b.Dialogs()}, {"local", b.Replacing()}, {"location", s.notFromGateway(b.Routed())}, {"relay", b.Located()}} {
		if stages, err = proxy.Insert(stages, at.before, at.stage); err != nil {
			return nil, err
		}
	}
	s.b2b, s.b2bLimits = b, b.Limits()
	return stages, nil
}

// recordB2BUA writes a B2BUA call's record when cdr.enabled is on.
func (s *Server) recordB2BUA(r cdr.Record) {
	if s.records == nil || s.cluster.leftToNode(r.Source, false) {
		return
	}
	r.Node = s.records.node
	s.records.w.Write(r)
}

// watchB2BUA keeps the observer's view of B2BUA calls without its
// tracker: the tracker lets go of a call's A leg as the B2BUA takes it
// (a held call would cost twice its dialogs), and the B2BUA's steps take
// the place of what the tracker would have read off the wire.
func (s *Server) watchB2BUA(c *b2bua.Call, step b2bua.Step) {
	if s.obs == nil {
		return
	}
	if step == b2bua.Started {
		a, _ := c.CallIDs()
		s.obs.obs.Disown(a)
		return
	}
	change := map[b2bua.Step]observe.CallChange{b2bua.Ringing: observe.CallAlerting,
		b2bua.Answered: observe.CallAnswered, b2bua.Ended: observe.CallFinished}[step]
	oc := observedCall(c.Current())
	if step == b2bua.Ended {
		r := c.Record()
		oc.State, oc.End, oc.Status, oc.Reason, oc.HungUpBy = observe.CallEnded, r.End, r.Status, r.Reason, r.HungUpBy
		for i := range oc.Branches {
			oc.Branches[i].State = "terminated"
		}
	}
	s.obs.obs.Report(change, oc)
}

// observedCall is a B2BUA call as the observer shows a call: its A leg,
// the caller's dialog with Parley, as the tracker would have followed it.
func observedCall(ci b2bua.CallInfo) observe.Call {
	states := map[string]observe.CallState{"setup": observe.CallTrying, "ringing": observe.CallRinging,
		"answered": observe.CallEstablished, "ended": observe.CallEnded}
	oc := observe.Call{CallID: ci.A.CallID, Caller: "<" + ci.Caller + ">", Callee: "<" + ci.Callee + ">",
		Source: ci.Source, State: states[ci.State], Start: ci.Setup, Ringing: ci.Ringing, Answered: ci.Answered,
		Relayed: true, CallerTag: ci.A.RemoteTag, CallerTarget: ci.A.Remote}
	if ci.A.State != "setup" { // the A dialog is made: Parley's tag is the callee side's
		oc.Branches = []observe.Branch{{Tag: ci.A.LocalTag, State: ci.A.State}}
	}
	if oc.State == observe.CallEstablished {
		oc.Status = 200 // Parley's own answer on the caller's leg, whatever the callee's 2xx
	}
	return oc
}

// b2buaCalls is the B2BUA as the observer's Config.Owned.
type b2buaCalls struct{ b *b2bua.B2BUA }

// Calls lists the B2BUA's calls as the observer shows calls.
func (bc b2buaCalls) Calls() []observe.Call {
	infos := bc.b.Calls()
	out := make([]observe.Call, len(infos))
	for i := range infos {
		out[i] = observedCall(infos[i])
	}
	return out
}

// Count counts them without waiting for their queues.
func (bc b2buaCalls) Count() (setup, answered int) { return bc.b.Counts() }

// ownedByB2BUA reports whether the observer's call is a B2BUA call's A
// leg, whose record the B2BUA writes itself.
func (s *Server) ownedByB2BUA(callID string) bool {
	return s.b2b != nil && s.b2b.Owns(callID)
}

// b2buaControl is the B2BUA as the admin API sees it; node is
// cluster.node, empty off a cluster.
type b2buaControl struct {
	b    *b2bua.B2BUA
	node string
}

// NodeCall is a call of /api/b2bua/calls: the B2BUA's view of it and, in
// a cluster, the node that holds it — the one whose API can hang it up,
// and the one whose death a takeover ends it after.
type NodeCall struct {
	b2bua.CallInfo
	Node string `json:"node,omitempty"`
}

// List returns the calls with both legs and their node.
func (c b2buaControl) List() any {
	calls := c.b.Calls()
	out := make([]NodeCall, len(calls))
	for i, ci := range calls {
		out[i] = NodeCall{CallInfo: ci, Node: c.node}
	}
	return out
}

// Hangup ends a call from the admin API.
func (c b2buaControl) Hangup(id string) bool { return c.b.Hangup(id) }

// callControl is the admin API's CallControl, nil outside mode: b2bua.
func (s *Server) callControl() admin.CallControl {
	if s.b2b == nil {
		return nil
	}
	c := b2buaControl{b: s.b2b}
	if s.cluster != nil {
		c.node = s.cluster.self
	}
	return c
}
