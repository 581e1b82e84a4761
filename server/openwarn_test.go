package server

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/parley-sip/parley/config"
)

// TestOpenRegistrationWarning: the startup warning that anyone may
// register appears only when that is true (beyond loopback, no auth).
func TestOpenRegistrationWarning(t *testing.T) {
	const warning = "registrations are open to anyone"
	for _, tt := range []struct {
		name string
		host string
		auth bool
		want bool
	}{
		{"wildcard without auth", "0.0.0.0", false, true},
		{"wildcard with auth", "0.0.0.0", true, false},
		{"loopback without auth", "127.0.0.1", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Listen = []config.Listener{{Proto: config.ProtoUDP, Host: tt.host, Port: 0}}
			cfg.Auth.Enabled = tt.auth
			var out syncBuffer
			startLogging(t, cfg, slog.New(slog.NewTextHandler(&out, nil)))
			if got := strings.Contains(out.String(), warning); got != tt.want {
				t.Errorf("warning logged = %v, want %v; log:\n%s", got, tt.want, out.String())
			}
		})
	}
}
