package server

import (
	"slices"
	"testing"

	"github.com/parley-sip/parley/config"
)

// TestRoutesOutForAnyone: with passwords off, the routes to gateways are
// named for the startup warning (a stranger calls out through them);
// local routes, and any route with passwords on, are not.
func TestRoutesOutForAnyone(t *testing.T) {
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
			if got := routesOutForAnyone(cfg); !slices.Equal(got, tt.want) {
				t.Errorf("routesOutForAnyone = %v, want %v", got, tt.want)
			}
		})
	}
}
