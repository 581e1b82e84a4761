package server

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/parley-sip/parley/b2bua"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
)

// TestB2BUAStages: mode b2bua puts the B2BUA's stages where their
// requests must be caught (in-dialog before cancel and auth, the router's
// before location, the mode's before relay); other modes leave the
// chain as it is.
func TestB2BUAStages(t *testing.T) {
	names := func(st []proxy.Stage) []string {
		var out []string
		for _, s := range st {
			out = append(out, s.Name())
		}
		return out
	}
	def := names(proxy.DefaultStages())
	for _, tt := range []struct {
		mode config.Mode
		want []string
	}{
		{config.ModeStateful, def},
		{config.ModeStateless, def},
		{config.ModeB2BUA, []string{"sanity", "maxforwards", "proxyrequire", "loop", "b2bua-dialog", "cancel", "route",
			"relaycheck", "auth", "b2bua-replaces", "local", "b2bua-route", "location", "b2bua", "relay"}},
	} {
		cfg := config.Default()
		cfg.Mode = tt.mode
		s := &Server{events: slog.Default()}
		st, err := s.newB2BUA(cfg, nil, context.Background(), nil, proxy.DefaultStages())
		if err != nil {
			t.Fatal(err)
		}
		if got := names(st); !slices.Equal(got, tt.want) {
			t.Errorf("%s: stages %v, want %v", tt.mode, got, tt.want)
		}
		if (s.b2b != nil) != (tt.mode == config.ModeB2BUA) || (s.callControl() != nil) != (tt.mode == config.ModeB2BUA) {
			t.Errorf("%s: B2BUA built: %v", tt.mode, s.b2b != nil)
		}
	}
	// A dial plan with B2BUA routes builds it in mode stateful too.
	s := &Server{events: slog.Default()}
	router := func(context.Context, *sip.Message) (b2bua.Plan, bool) { return b2bua.Plan{}, false }
	st, err := s.newB2BUA(config.Default(), nil, context.Background(), router, proxy.DefaultStages())
	if err != nil || s.b2b == nil || !slices.Contains(names(st), "b2bua-route") {
		t.Errorf("stateful with a router: stages %v, B2BUA %v, %v", names(st), s.b2b != nil, err)
	}
}
