package server

import (
	"context"

	"github.com/parley-sip/parley/admin"
	"github.com/parley-sip/parley/b2bua"
	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/config"
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
		Locate:       s.locateTransfer,
		Trunks:       s.trunkAccount,
		Inbound:      inbound,
		Record:       s.recordB2BUA,
		Journal:      s.journalB2BUA,
		Durable:      s.durableB2BUA,
		Agent:        func() string { return s.settings.Load().cfg.ServerHeader },
		OnAnswer:     s.clusterCallSnapshot,
		OnChange:     s.clusterOnChange(),
		OnEnd:        s.b2buaCallEnded,
		Lifetime:     lifetime,
		Log:          s.events,
	})
	var err error
	for _, at := range []struct {
		before string
		stage  proxy.Stage
	}{{"cancel", b.Dialogs()}, {"location", s.notFromGateway(b.Routed())}, {"relay", b.Located()}} {
		if stages, err = proxy.Insert(stages, at.before, at.stage); err != nil {
			return nil, err
		}
	}
	s.b2b, s.b2bLimits = b, b.Limits()
	return stages, nil
}

// recordB2BUA writes a B2BUA call's record when cdr.enabled is on.
func (s *Server) recordB2BUA(r cdr.Record) {
	if s.records == nil {
		return
	}
	r.Node = s.records.node
	s.records.w.Write(r)
}

// b2buaCallEnded tells the observer that a B2BUA call's A leg is over:
// when Parley sends that leg's BYE itself, no message it follows says so.
func (s *Server) b2buaCallEnded(c *b2bua.Call) {
	s.clusterCallEnded(c)
	if s.obs == nil {
		return
	}
	a, _ := c.CallIDs()
	by, reason := c.HungUpBy()
	s.obs.obs.EndCall(a, reason, by)
}

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
