package server

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/parley-sip/parley/b2bua"
	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/dialplan"
	"github.com/parley-sip/parley/gateway"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/upstream"
)

// trunks is the way to and from the phone network: the gateways with
// their pings, the registrations to providers, and the dial plan stage.
type trunks struct {
	gateways *gateway.Set
	clients  upstream.Clients
	stage    *dialplan.Stage
	accounts map[string]b2bua.TrunkAccount
}

// trunkStats is what /api/stats shows of them.
type trunkStats struct {
	Gateways      []gateway.State   `json:"gateways"`
	Registrations []upstream.Status `json:"registrations"`
}

// newTrunks builds them from cfg. It runs after the outbound service
// exists. The stage is there even with nothing configured, so that a
// reload can add routes and DIDs (gateways need a restart).
func (s *Server) newTrunks(cfg *config.Config) (*trunks, error) {
	clk := clock.Default()
	fromHost := "parley.invalid"
	if len(cfg.Domains) > 0 {
		fromHost = cfg.Domains[0]
	}
	gcs := make([]gateway.Config, len(cfg.Gateways))
	for i, g := range cfg.Gateways {
		gcs[i] = gateway.Config{Name: g.Name, Address: g.Address, Transport: g.Transport, PingInterval: g.PingInterval.Duration(),
			Sources: g.SourcePrefixes(), Username: g.Username, Password: g.Password}
	}
	set, err := gateway.New(gcs, gateway.Options{Sender: s.out, Resolver: s.out.Resolver(), Clock: clk,
		FromHost: fromHost, UserAgent: cfg.ServerHeader, Log: s.log})
	if err != nil {
		return nil, err
	}
	t := &trunks{gateways: set, accounts: trunkAccounts(cfg, set)}
	for i, g := range cfg.Gateways {
		if !g.Register {
			continue
		}
		addr := g.Address
		if g.Registrar != "" {
			addr = g.Registrar
		}
		u, err := gateway.ParseAddress(addr, g.Transport)
		if err != nil {
			return nil, fmt.Errorf("gateways[%d].registrar: %w", i, err)
		}
		t.clients = append(t.clients, upstream.New(upstream.Account{Name: g.Name, Registrar: u, Username: g.Username,
			Password: g.Password, ContactUser: g.ContactUser, Expires: g.Expires.Duration(), UserAgent: cfg.ServerHeader}, s.out, clk, s.log))
	}
	t.stage = dialplan.NewStage(set.Source, t.table(cfg))
	return t, nil
}

// table is the dial plan, DIDs and DID domain of cfg.
func (t *trunks) table(cfg *config.Config) dialplan.Table {
	tb := dialplan.Table{DIDs: dialplan.DIDs(cfg.DIDs)}
	if len(cfg.Routes) > 0 {
		tb.Plan = dialplan.New(rules(cfg.Mode, cfg.Routes), t.gateways)
	}
	if len(cfg.Domains) > 0 {
		tb.Domain = cfg.Domains[0]
	}
	return tb
}

// reloadTrunks applies reloaded routes, DIDs and domains. The gateways
// they name are the running ones: validation refuses a reload whose
// routes name a gateway added since the start.
func (s *Server) reloadTrunks(cfg *config.Config) {
	if s.trunks != nil {
		s.trunks.stage.Update(s.trunks.table(cfg))
	}
}

// gatewayPrefixes are the gateways' networks known from config alone
// (addresses written as IPs, and sources): the guard exempts them from
// per-source rate limits and bans, since a trunk carries many callers'
// traffic from one address.
func gatewayPrefixes(cfg *config.Config) []netip.Prefix {
	var out []netip.Prefix
	for _, g := range cfg.Gateways {
		out = append(out, g.SourcePrefixes()...)
		if u, err := gateway.ParseAddress(g.Address, ""); err == nil {
			if a, err := netip.ParseAddr(sip.TrimBrackets(u.Host)); err == nil {
				out = append(out, netip.PrefixFrom(a, a.BitLen()))
			}
		}
	}
	return out
}

// rules converts the config's routes.
func rules(mode config.Mode, routes []config.RouteConfig) []dialplan.Rule {
	out := make([]dialplan.Rule, len(routes))
	for i, r := range routes {
		out[i] = dialplan.Rule{Name: r.Name, Prefix: r.Prefix, Regex: r.Regex.Compiled(), Domain: r.Domain, Replace: r.Replace,
			Strip: r.Strip, CountryCode: r.CountryCode, NationalPrefix: r.NationalPrefix, InternationalPrefix: r.InternationalPrefix,
			AddPrefix: r.AddPrefix, Gateways: r.Gateways, Local: r.Local, B2BUA: viaB2BUA(mode, r.B2BUA)}
	}
	return out
}

// stages puts the dial plan before location.
func (t *trunks) stages(stages []proxy.Stage) ([]proxy.Stage, error) {
	return proxy.Insert(stages, "location", t.stage)
}

// fromGateway reports whether src is a gateway's address: its calls are
// a trunk's, trusted to relay and not challenged.
func (s *Server) fromGateway(src netip.Addr) bool {
	if s.trunks == nil {
		return false
	}
	_, ok := s.trunks.gateways.Source(src)
	return ok
}

// startTrunks starts the pings and the registrations, and shows their
// state in /metrics.
func (s *Server) startTrunks(ctx context.Context) {
	t := s.trunks
	if t == nil {
		return
	}
	t.gateways.Start(ctx)
	t.clients.Start(ctx)
	if s.obs != nil {
		reg := s.obs.obs.Metrics().Registry()
		if err := reg.Register(t.gateways); err != nil {
			s.log.Error("trunks: gateway metrics not registered", "error", err)
		}
		if err := reg.Register(t.clients); err != nil {
			s.log.Error("trunks: registration metrics not registered", "error", err)
		}
	}
}

// stopTrunks removes the registrations to providers before the
// listeners close, so that providers stop sending calls here; it waits
// at most two seconds.
func (s *Server) stopTrunks() {
	if s.trunks == nil || len(s.trunks.clients) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.trunks.clients.Unregister(ctx)
}

func (s *Server) trunkStats() *trunkStats {
	if s.trunks == nil || len(s.trunks.gateways.States()) == 0 {
		return nil
	}
	return &trunkStats{Gateways: s.trunks.gateways.States(), Registrations: s.trunks.clients.Statuses()}
}
