package server

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/parley-sip/parley/config"
)

// TestRoutesOutByNetwork: with passwords off, the routes to gateways are
// named for the startup line (only a trusted network calls out through
// them); local routes, and any route with passwords on, are not.
func TestRoutesOutByNetwork(t *testing.T) {
	routes := []config.RouteConfig{
		{Name: "extensions", Local: true},
		{Name: "national", Gateways: []string{"provider"}},
		{Name: "emergency", Gateways: []string{"provider", "backup"}},
	}
	tests := []struct {
		name string
		auth bool
		want []string
	}{
		{"passwords off", false, []string{"national", "emergency"}},
		{"passwords on", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Auth.Enabled, cfg.Routes = tt.auth, routes
			if got := routesOutByNetwork(cfg); !slices.Equal(got, tt.want) {
				t.Errorf("routesOutByNetwork = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRoutesOutLog: with passwords off and routes to gateways, the start
// tells the admin to list the office LAN when no network is trusted (no
// call could go out), and only informs once one is.
func TestRoutesOutLog(t *testing.T) {
	routes := []config.RouteConfig{{Name: "national", Gateways: []string{"provider"}}}
	tests := []struct {
		name    string
		auth    bool
		trusted []string
		want    string // the line's level and text, "" for none
	}{
		{"passwords off, nothing trusted", false, nil, "level=WARN msg=\"dial plan: passwords are off, so only callers on a security.trusted network call out through these routes' gateways, and none is listed: every call to them gets 403 Relaying Denied; list the office LAN in security.trusted"},
		{"passwords off, the LAN trusted", false, []string{"192.168.1.0/24"}, "level=INFO msg=\"dial plan: passwords are off, so only callers on a security.trusted network call out"},
		{"passwords on", true, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Auth.Enabled, cfg.Routes, cfg.Security.Trusted = tt.auth, routes, tt.trusted
			var out strings.Builder
			s := &Server{log: slog.New(slog.NewTextHandler(&out, nil))}
			s.logRoutesOut(cfg)
			if got := out.String(); tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("logged %q, want a line with %q", got, tt.want)
			}
		})
	}
}

// TestCallLimitsLog: outside mode: b2bua, limits.calls set is answered
// at start with a warning that proxied calls are not counted (a stranger
// set per_user: 1 in mode: stateful and saw a busy phone ring).
func TestCallLimitsLog(t *testing.T) {
	tests := []struct {
		name   string
		mode   config.Mode
		limits config.CallLimitsConfig
		want   string // "" for no line
	}{
		{"stateful with per_user", config.ModeStateful, config.CallLimitsConfig{PerUser: 1}, `level=WARN msg="limits.calls: only calls through the B2BUA are counted`},
		{"stateful with a trunk's", config.ModeStateful, config.CallLimitsConfig{Trunks: map[string]int{"provider": 2}}, `level=WARN msg="limits.calls: only calls through the B2BUA are counted`},
		{"stateless", config.ModeStateless, config.CallLimitsConfig{PerDomain: 5}, `level=WARN msg="limits.calls: no call is counted in mode: stateless`},
		{"b2bua counts every call", config.ModeB2BUA, config.CallLimitsConfig{PerUser: 1}, ""},
		{"no limits", config.ModeStateful, config.CallLimitsConfig{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Mode, cfg.Limits.Calls = tt.mode, tt.limits
			var out strings.Builder
			s := &Server{log: slog.New(slog.NewTextHandler(&out, nil))}
			s.logCallLimits(cfg)
			if got := out.String(); tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("logged %q, want a line with %q", got, tt.want)
			}
		})
	}
}
