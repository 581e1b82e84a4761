package server

import (
	"context"

	"github.com/parley-sip/parley/b2bua"
	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sessiontimer"
	"github.com/parley-sip/parley/sip"
)

// b2buaControlOf is the B2BUA's call control from the b2bua block.
func b2buaControlOf(cfg *config.Config) b2bua.Control {
	return b2bua.Control{
		SessionTimer: sessiontimer.Policy{Expires: cfg.B2BUA.SessionExpires.Duration(), MinSE: cfg.B2BUA.MinSE.Duration()},
		MaxDuration:  cfg.B2BUA.MaxCallDuration.Duration(),
	}
}

// callLimitsOf is the concurrent call limits of limits.calls.
func callLimitsOf(cfg *config.Config) calllimit.Limits {
	c := cfg.Limits.Calls
	return calllimit.Limits{PerUser: c.PerUser, PerDomain: c.PerDomain, PerTrunk: c.PerTrunk,
		Users: c.Users, Domains: c.Domains, Trunks: c.Trunks, RetryAfter: c.RetryAfter.Duration()}
}

// reloadB2BUA applies the live call control keys: new calls (and the
// refreshes of calls under way) follow them; calls in progress keep their
// slots in the limits.
func (s *Server) reloadB2BUA(cfg *config.Config) {
	if s.b2b == nil {
		return
	}
	s.b2b.SetControl(b2buaControlOf(cfg))
	s.b2bLimits.SetLimits(callLimitsOf(cfg))
}

// locateTransfer finds a REFER's target for the B2BUA as the location
// stage would: the proxy is built after the B2BUA, so it is read here,
// when a transfer asks.
func (s *Server) locateTransfer(ctx context.Context, u sip.URI) ([]proxy.Target, error) {
	return s.proxy.Locate(ctx, u)
}
