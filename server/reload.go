package server

import (
	"fmt"
	"strings"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/registrar"
	"github.com/parley-sip/parley/transport"
)

// ReloadState is what /api/config shows: when the configuration was last
// applied and which keys of the file wait for a restart.
type ReloadState struct {
	// LoadedAt is when the configuration in force was applied.
	LoadedAt time.Time `json:"loaded_at"`
	// Reloads counts the reloads tried since start, failed ones included.
	Reloads int `json:"reloads"`
	// PendingRestart lists the keys whose new value takes effect only
	// after a restart; the server runs with their old value until then.
	PendingRestart []string `json:"pending_restart"`
	// LastError is why the last reload failed; empty when it succeeded.
	LastError string `json:"last_error,omitempty"`
}

// Reload applies a new configuration: every key tagged live in the config
// schema takes effect for the requests that follow, and every key that
// needs a restart keeps its running value and is reported, in a warning
// per key and in ReloadState. When the result cannot be applied (it fails
// validation, a new certificate does not load) nothing changes and the
// error says why.
func (s *Server) Reload(next *config.Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	running := s.Config()
	cfg, pending, err := forReload(running, next)
	if err == nil {
		err = s.applyReload(cfg)
	}
	if err != nil {
		s.recordFailure(err)
		return err
	}
	st := *s.reloadState.Load()
	st.Reloads++
	st.LoadedAt, st.PendingRestart, st.LastError = time.Now(), append([]string{}, pending...), "" // [] in JSON, not null
	s.reloadState.Store(&st)
	for _, key := range pending {
		s.log.Warn("reload: key changed but takes effect only after a restart; keeping the running value", "key", key)
	}
	s.log.Info("configuration reloaded", "changed", strings.Join(config.Changed(running, cfg), ","), "pending_restart", len(pending))
	return nil
}

// ReloadFailed records a reload whose file could not be used at all (a
// syntax error, an unknown key), so that /api/config shows it as well as
// the log.
func (s *Server) ReloadFailed(err error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.recordFailure(err)
}

func (s *Server) recordFailure(err error) {
	st := *s.reloadState.Load()
	st.Reloads++
	st.LastError = err.Error()
	s.reloadState.Store(&st)
	s.log.Error("reload failed; keeping the running configuration", "error", err)
}

// forReload is config.ForReload for a configuration that must validate
// before and after the restart-only keys are set back.
func forReload(running, next *config.Config) (*config.Config, []string, error) {
	if err := next.Validate(); err != nil {
		return nil, nil, err
	}
	cfg, pending := config.ForReload(running, next)
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("the new values do not fit the running values of %s, which need a restart: %w",
			strings.Join(pending, ", "), err)
	}
	return cfg, pending, nil
}

// applyReload does the fallible steps first, so that a failure leaves the
// running configuration whole.
func (s *Server) applyReload(cfg *config.Config) error {
	a, pol, err := s.newAuth(cfg)
	if err != nil {
		return err
	}
	before := s.settings.Load()
	old := before.cfg
	if cfg.TLS.CertFile != old.TLS.CertFile || cfg.TLS.KeyFile != old.TLS.KeyFile {
		if err := s.tp.UseTLSFiles(cfg.TLS.CertFile, cfg.TLS.KeyFile); err != nil {
			return fmt.Errorf("tls.cert_file, tls.key_file: %w", err)
		}
	}
	// A self-signed certificate must name new domains and aliases; one
	// that cannot be renewed is no reason to refuse the rest of the reload.
	if err := s.tp.SetTLSNames(tlsNames(cfg)); err != nil {
		s.log.Error("reload: the self-signed TLS certificate could not be renewed for the new domains and aliases; keeping the old one", "error", err)
	}
	if err := s.tp.SetAllowedOrigins(cfg.WebSocket.AllowedOrigins); err != nil {
		return fmt.Errorf("websocket.allowed_origins: %w", err) // Validate passed it: unreachable
	}
	s.apply(cfg)
	s.reloadGuard(cfg)
	s.reloadB2BUA(cfg)
	s.authn.Store(a)
	s.proxy.Reconfigure(s.proxyConfig(cfg, a, pol))
	s.reloadTrunks(cfg)
	s.presence.reload(cfg)
	if relayPolicy(before) != relayPolicy(s.settings.Load()) {
		s.logRelayPolicy()
	} else if fmt.Sprint(before.cfg.Limits.Calls) != fmt.Sprint(cfg.Limits.Calls) { // fmt prints maps sorted
		s.logCallLimits(cfg)
	}
	return nil
}

// newAuth builds the authenticator cfg asks for (nil with auth off) and
// its per-domain policy. A new authenticator carries on from the last
// one, so that a reload neither forgets blocks nor reopens used nonces.
func (s *Server) newAuth(cfg *config.Config) (*auth.Authenticator, auth.Policies, error) {
	a, pol, err := authenticator(cfg, s.storage, s.events)
	if err != nil || a == nil {
		return nil, pol, err
	}
	if s.lastAuth != nil {
		a.Continue(s.lastAuth)
	}
	s.lastAuth = a
	return a, pol, nil
}

// proxyConfig is the proxy's reloadable policy from cfg.
func (s *Server) proxyConfig(cfg *config.Config, a *auth.Authenticator, pol auth.Policies) proxy.Config {
	pc := proxyConfig(cfg, s.isOurDomain)
	pc.Names = s.isOurName
	pc.UDPFlowTimeout = udpFlowTimeout(cfg)
	pc.OpenRelay = func() bool { return s.settings.Load().cfg.Proxy.Relay == config.RelayOpen }
	s.guardProxy(&pc)
	pc.Auth, pc.AuthPolicy = a, pol
	return pc
}

// udpFlowTimeout is the longest time any domain's UDP outbound flows may
// go without a keepalive: its Flow-Timer and the grace. The proxy judges
// a flow without knowing its domain, so the longest one is taken: a
// dead flow may be seen late, a live one is never failed early.
func udpFlowTimeout(cfg *config.Config) time.Duration {
	timeout := func(r config.RegistrarConfig) time.Duration {
		return registrar.FlowTimeout(registrar.Policy{FlowTimer: r.FlowTimer.Duration()}, transport.UDP)
	}
	longest := timeout(cfg.Registrar)
	for domain := range cfg.DomainOverrides {
		longest = max(longest, timeout(cfg.RegistrarFor(domain)))
	}
	return longest
}

// Config returns the configuration in force: the last one applied, with
// the keys that need a restart at their starting values.
func (s *Server) Config() *config.Config { return s.settings.Load().cfg }

// ReloadState returns the configuration's reload state.
func (s *Server) ReloadState() ReloadState { return *s.reloadState.Load() }
