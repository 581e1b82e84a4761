package server

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/proxy"
)

// TestB2BUAControlFromConfig: the b2bua block's call control and
// limits.calls reach the B2BUA at start and again on a reload, and calls
// in progress keep their places in the limits.
func TestB2BUAControlFromConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Mode = config.ModeB2BUA
	cfg.B2BUA.SessionExpires = config.Duration(600 * time.Second)
	cfg.B2BUA.MaxCallDuration = config.Duration(time.Hour)
	cfg.Limits.Calls.PerUser = 1
	s := &Server{events: slog.Default()}
	if _, err := s.newB2BUA(cfg, nil, context.Background(), nil, proxy.DefaultStages()); err != nil {
		t.Fatal(err)
	}
	ct := s.b2b.Control()
	if ct.SessionTimer.Expires != 600*time.Second || ct.SessionTimer.MinSE != 90*time.Second || ct.MaxDuration != time.Hour {
		t.Fatalf("control at start %+v", ct)
	}
	alice := calllimit.Keys{Caller: "alice@example.com"}
	if _, r := s.b2bLimits.Admit(alice); r != nil {
		t.Fatal(r)
	}
	if _, r := s.b2bLimits.Admit(alice); r == nil || r.Code != 486 {
		t.Fatalf("second call at per_user 1: %v", r)
	}

	next := *cfg
	next.B2BUA.SessionExpires = 0
	next.B2BUA.MaxCallDuration = 0
	next.Limits.Calls.PerUser = 2
	s.reloadB2BUA(&next)
	if ct := s.b2b.Control(); ct.SessionTimer.Expires != 0 || ct.MaxDuration != 0 {
		t.Fatalf("control after reload %+v", ct)
	}
	if _, r := s.b2bLimits.Admit(alice); r != nil {
		t.Fatalf("after raising per_user to 2: %v", r)
	}
	if n := s.b2bLimits.Active(calllimit.Caller, "alice@example.com"); n != 2 {
		t.Fatalf("alice in %d calls, want 2 (one from before the reload)", n)
	}
}
