package server

import (
	"context"
	"net/netip"

	"github.com/parley-sip/parley/b2bua"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/dialplan"
	"github.com/parley-sip/parley/gateway"
	"github.com/parley-sip/parley/observe"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// This file joins the trunks to the B2BUA: the dial plan as its Router,
// the gateways' accounts for the challenges providers send its B legs.

// router is the dial plan as the B2BUA's Router, or nil when the server
// has no gateways (routes to them need a restart to appear) or keeps no
// transactions. It takes the gateway routes that the dialplan stage
// passed on: those with b2bua: true, every one in mode: b2bua. Local
// routes are not its: the dialplan stage rewrites them for the location
// stage, and mode b2bua takes them after it.
func (t *trunks) router(cfg *config.Config) b2bua.Router {
	if t == nil || len(cfg.Gateways) == 0 || cfg.Mode == config.ModeStateless {
		return nil
	}
	return func(ctx context.Context, req *sip.Message) (b2bua.Plan, bool) {
		dp := t.stage.Table().Plan
		if dp == nil {
			return b2bua.Plan{}, false
		}
		p, ok := dp.Route(ctx, req)
		if !ok || !p.B2BUA || p.Trunk == "" {
			return b2bua.Plan{}, false
		}
		return b2buaPlan(p), true
	}
}

func b2buaPlan(p dialplan.Plan) b2bua.Plan {
	out := b2bua.Plan{Route: p.Route, Trunk: p.Trunk, DialledUser: p.DialledUser, Destinations: make([]b2bua.Destination, len(p.Destinations))}
	for i, d := range p.Destinations {
		out.Destinations[i] = b2bua.Destination{URI: d.URI, Trunk: d.Trunk}
	}
	return out
}

// viaB2BUA says which routes go through the B2BUA: in mode b2bua all,
// in mode stateless none (it has no transactions to hold calls with).
func viaB2BUA(mode config.Mode, route bool) bool {
	switch mode {
	case config.ModeB2BUA:
		return true
	case config.ModeStateless:
		return false
	}
	return route
}

// trunkAccounts are the gateways' accounts as the B2BUA answers their
// challenges and writes its B legs' From: a registering account's From
// defaults to the AOR it registers.
func trunkAccounts(cfg *config.Config, set *gateway.Set) map[string]b2bua.TrunkAccount {
	out := make(map[string]b2bua.TrunkAccount, len(cfg.Gateways))
	for _, g := range cfg.Gateways {
		acc := b2bua.TrunkAccount{FromUser: g.FromUser, FromHost: g.FromHost, IdentityUser: g.IdentityUser}
		switch g.IdentityHeader {
		case "pai":
			acc.IdentityHeader = b2bua.HeaderPAI
		case "ppi":
			acc.IdentityHeader = b2bua.HeaderPPI
		}
		acc.Username, acc.Password, _ = set.Credentials(g.Name)
		if g.Register {
			if acc.FromUser == "" {
				acc.FromUser = g.Username
			}
			if acc.FromHost == "" {
				acc.FromHost = registrarHost(g)
			}
		}
		out[g.Name] = acc
	}
	return out
}

// registrarHost is the host of the AOR a gateway's account registers.
func registrarHost(g config.GatewayConfig) string {
	addr := g.Address
	if g.Registrar != "" {
		addr = g.Registrar
	}
	u, err := gateway.ParseAddress(addr, g.Transport)
	if err != nil {
		return ""
	}
	return u.Host
}

// trunkAccount is the B2BUA's Config.Trunks.
func (s *Server) trunkAccount(name string) (b2bua.TrunkAccount, bool) {
	if s.trunks == nil {
		return b2bua.TrunkAccount{}, false
	}
	acc, ok := s.trunks.accounts[name]
	return acc, ok
}

// notFromGateway keeps a gateway's requests away from stage: a call a
// provider sends to one of its DIDs must never be routed out to a
// trunk again, even when the local user it maps to matches a route.
func (s *Server) notFromGateway(stage proxy.Stage) proxy.Stage {
	return proxy.StageFunc{StageName: stage.Name(), Fn: func(r *proxy.Request, next func()) {
		if s.fromGateway(r.In.Source.Addr()) {
			next()
			return
		}
		stage.Serve(r, next)
	}}
}

// inboundVia is the B2BUA's Config.Inbound: a gateway's calls (to
// DIDs) are B2BUA calls to the phones in mode b2bua, and in mode
// stateful with b2bua.inbound; their records name the gateway.
func (s *Server) inboundVia(cfg *config.Config) func(in *transport.Incoming) (string, bool) {
	if cfg.Mode == config.ModeStateless || cfg.Mode == config.ModeStateful && !cfg.B2BUA.Inbound {
		return nil
	}
	return func(in *transport.Incoming) (string, bool) {
		if s.trunks == nil {
			return "", false
		}
		return s.trunks.gateways.Source(in.Source.Addr())
	}
}

// proxiedTrunk names the trunk and route of a proxied call for its
// record, as far as the call tracker's view allows: a call from a
// gateway's address (to a DID) is that gateway's; a callee's Contact at a
// gateway's address names the gateway, and the dial plan's rule for the
// dialled user then names the route. A call no gateway answered, or one
// whose provider answers from elsewhere, names neither.
func (s *Server) proxiedTrunk(c *observe.Call) (trunk, route string) {
	if s.trunks == nil {
		return "", ""
	}
	if src, err := netip.ParseAddrPort(c.Source); err == nil {
		if trunk, ok := s.trunks.gateways.Source(src.Addr()); ok {
			return trunk, ""
		}
	}
	target, err := sip.ParseURI(c.CalleeTarget)
	if err != nil {
		return "", ""
	}
	addr, err := netip.ParseAddr(sip.TrimBrackets(target.Host))
	if err != nil {
		return "", ""
	}
	trunk, ok := s.trunks.gateways.Source(addr)
	if !ok {
		return "", ""
	}
	dialled, err := sip.ParseURI(c.RequestURI)
	if dp := s.trunks.stage.Table().Plan; dp != nil && err == nil {
		if r, _, ok := dp.Match(sip.Unescape(dialled.User), dialled.Host); ok && !r.Local {
			route = r.Name
		}
	}
	return trunk, route
}
