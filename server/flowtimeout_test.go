package server

import (
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
)

// The proxy's UDP flow timeout is the longest Flow-Timer of any domain,
// Parley's 25 s when none is set, with the grace added.
func TestUDPFlowTimeout(t *testing.T) {
	dur := func(d time.Duration) *config.Duration { c := config.Duration(d); return &c }
	tests := []struct {
		name      string
		global    time.Duration
		overrides map[string]*config.Duration
		want      time.Duration
	}{
		{"Parley's choice", 0, nil, 35 * time.Second},
		{"the global flow_timer", 30 * time.Second, nil, 40 * time.Second},
		{"a domain's longer one", 30 * time.Second, map[string]*config.Duration{"b.example": dur(60 * time.Second)}, 70 * time.Second},
		{"a domain's shorter one", 30 * time.Second, map[string]*config.Duration{"b.example": dur(20 * time.Second)}, 40 * time.Second},
		{"a domain without one", 0, map[string]*config.Duration{"b.example": nil}, 35 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Registrar.FlowTimer = config.Duration(tt.global)
			cfg.DomainOverrides = map[string]config.RegistrarOverride{}
			for d, ft := range tt.overrides {
				cfg.DomainOverrides[d] = config.RegistrarOverride{FlowTimer: ft}
			}
			if got := udpFlowTimeout(cfg); got != tt.want {
				t.Errorf("udpFlowTimeout = %v, want %v", got, tt.want)
			}
		})
	}
}
