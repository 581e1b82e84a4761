package server

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/guard"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/transport"
)

// guardConfig translates the security block into the guard's policy.
func guardConfig(cfg *config.Config, log *slog.Logger) guard.Config {
	s := &cfg.Security
	return guard.Config{
		Rate:           s.Rate,
		Burst:          s.Burst,
		BanAfter:       s.BanAfter.Duration(),
		BanFor:         s.BanFor.Duration(),
		MaxSources:     s.MaxSources,
		Trusted:        append(s.TrustedPrefixes(), gatewayPrefixes(cfg)...),
		DropUserAgents: s.DropUserAgents,
		Logger:         log,
	}
}

// newGuard builds the per-source limits from cfg and says what they are,
// so that an operator wondering why a peer is dropped finds it in the log;
// bans and their ends go to events.
func newGuard(cfg *config.Config, log, events *slog.Logger) *guard.Guard {
	s := &cfg.Security
	log.Info("per-source limits", "rate", s.Rate, "burst", s.Burst, "ban_after", s.BanAfter.String(),
		"ban_for", s.BanFor.String(), "trusted", len(s.Trusted), "scanner_agents", len(s.DropUserAgents))
	return guard.New(guardConfig(cfg, events))
}

// watchBans logs, every second until ctx ends, the bans of the guard and
// the authenticator that have run out: neither has a timer of its own.
func (s *Server) watchBans(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.guard.LogEndedBans()
		if a := s.authn.Load(); a != nil {
			a.LogEndedBlocks()
		}
	}
}

// guardTransport makes the guard the transport's Admit hook, so that
// banned and over-limit sources are dropped before any parsing.
func (s *Server) guardTransport(tc transport.Config) transport.Config {
	tc.Admit = s.guard.Admit
	return tc
}

// guardProxy gives the proxy the trusted networks: they may relay between
// any domains, and skip authentication when configured so. A gateway's
// address is trusted both ways: its calls are a trunk's. It reads the current settings, so a
// reload changes it at once.
func (s *Server) guardProxy(pc *proxy.Config) {
	pc.Trusted = func(src netip.Addr) bool {
		return s.fromGateway(src) || s.settings.Load().cfg.Security.TrustedSkipAuth && s.guard.Trusted(src)
	}
	pc.RelayTrusted = func(src netip.Addr) bool { return s.fromGateway(src) || s.guard.Trusted(src) }
}

// dropScanner reports whether a message is a request from a known
// scanner, to be dropped without a word. It runs before the transaction
// layer, because an answer of any kind tells a scanner that a SIP server
// lives here: the transaction layer's immediate 100 Trying to an INVITE,
// or the sanity stage's 400 to svmap's REGISTER (it sends "Contact:
// None"), would give the server away (svmap lists it on either).
// Dropped here, the request also creates no transaction.
func (s *Server) dropScanner(in *transport.Incoming) bool {
	if !in.Msg.IsRequest() || !s.guard.DropAgent(in.Source.Addr(), in.Msg.Header("User-Agent")) {
		return false
	}
	s.log.Debug("dropped a scanner's request", "source", in.Source.String(), "method", in.Msg.Method())
	return true
}

// reloadGuard applies a reloaded security block; sources keep their
// tokens and bans, and max_sources waits for a restart.
func (s *Server) reloadGuard(cfg *config.Config) {
	s.guard.Reconfigure(guardConfig(cfg, s.events))
}

// GuardStats returns the per-source limits' counters, for metrics.
func (s *Server) GuardStats() guard.Stats { return s.guard.Stats() }
