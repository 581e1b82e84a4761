package server

import (
	"context"
	"net/netip"

	"github.com/parley-sip/parley/b2bua"
	"github.com/parley-sip/parley/cdr"
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

// proxiedTrunk names the trunk of a proxied call for its record, as far
// as the call tracker's view allows: a call from a gateway's address (to
// a DID) is that gateway's; a callee's Contact at a gateway's address
// names the gateway. A call no gateway answered, or one whose provider
// answers from elsewhere, names none.
func (s *Server) proxiedTrunk(c *observe.Call, src netip.Addr) string {
	if s.trunks == nil {
		return ""
	}
	if trunk, ok := s.trunks.gateways.Source(src); ok {
		return trunk
	}
	target, err := sip.ParseURI(c.CalleeTarget)
	if err != nil {
		return ""
	}
	addr, err := netip.ParseAddr(sip.TrimBrackets(target.Host))
	if err != nil {
		return ""
	}
	trunk, _ := s.trunks.gateways.Source(addr)
	return trunk
}

// callRouting says what a call's caller dialled and how Parley routed
// it, for its record and the B2BUA's calls list: the same answer for a
// proxied call (from the tracker's view of the wire) and a B2BUA call
// (from its INVITE as it arrived). src is where the call came from, ruri
// its Request-URI as the caller sent it, to its To.
//
// Dialled is the Request-URI's user, but for a gateway's call to one of
// the dids the number as the provider wrote it (in the Request-URI or in
// To), and Callee then the user it rings (the To names the number).
// Route is the name of the dial plan route
// that took the call (to gateways, or local: true), cdr.RouteLocal for a
// call to a local user that no route took (a trunk's call to a DID too:
// its trunk names the gateway), and "" for one relayed to another domain.
func (s *Server) callRouting(src netip.Addr, ruri, to sip.URI) b2bua.Origin {
	o := b2bua.Origin{Dialled: sip.Unescape(ruri.User)}
	if s.trunks != nil {
		t := s.trunks.stage.Table()
		_, fromGateway := s.trunks.gateways.Source(src)
		if n, ok := t.Number(ruri, to); ok && fromGateway {
			o.Dialled, o.Route = n, cdr.RouteLocal
			if uri, ok := t.Inbound(ruri, to); ok {
				if u, err := sip.ParseURI(uri); err == nil {
					o.Callee = u.AOR()
				}
			}
			return o
		}
		// A gateway's requests are never routed out again.
		if dp := t.Plan; dp != nil && !fromGateway && o.Dialled != "" {
			if r, _, ok := dp.Match(o.Dialled, ruri.Host); ok {
				o.Route = r.Name
				return o
			}
		}
	}
	if ruri.IsSIP() && (s.isOurDomain(ruri.Host) || s.proxy.IsUs(&ruri)) {
		o.Route = cdr.RouteLocal
	}
	return o
}
