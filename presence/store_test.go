package presence_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/presence"
	"github.com/parley-sip/parley/presence/storetest"
	"github.com/parley-sip/parley/sqldb"
	substoretest "github.com/parley-sip/parley/subscriber/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clk *clock.Fake) presence.Store {
		return presence.NewMemory(clk)
	})
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clk *clock.Fake) presence.Store {
		s, err := presence.OpenSQLite(filepath.Join(t.TempDir(), sqldb.DBFile), clk)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestPostgres runs the suite in a fresh schema of the test database per
// subtest (see subscriber/storetest.PostgresDSN).
func TestPostgres(t *testing.T) {
	substoretest.RequirePostgres(t)
	storetest.Run(t, func(t *testing.T, clk *clock.Fake) presence.Store {
		s, err := presence.OpenPostgres(context.Background(), substoretest.PostgresDSN(t), clk)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestSQLiteSurvivesRestart checks that published state outlives the
// process and still expires on time afterwards.
func TestSQLiteSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s, err := presence.Open(context.Background(), "sqlite", dir, "", clk)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Publish(context.Background(), presence.Request{Entity: "alice@example.com", Event: "presence",
		ContentType: "application/pidf+xml", Body: []byte("<open/>"), Expires: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = presence.Open(context.Background(), "sqlite", dir, "", clk)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ps, err := s.List(context.Background(), "alice@example.com", "presence")
	if err != nil || len(ps) != 1 || ps[0].ETag != p.ETag {
		t.Fatalf("after reopening: %v, %v; want the publication %s", ps, err, p.ETag)
	}
	clk.Advance(time.Hour)
	if gone, err := s.Expire(context.Background()); err != nil || len(gone) != 1 {
		t.Fatalf("Expire after reopening: %v, %v", gone, err)
	}
}

func TestOpenErrors(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	tests := []struct{ engine, dsn string }{
		{"oracle", ""},
		{"postgres", ""},
	}
	for _, tt := range tests {
		if s, err := presence.Open(context.Background(), tt.engine, t.TempDir(), tt.dsn, clk); err == nil {
			s.Close()
			t.Errorf("Open(%q, %q) succeeded", tt.engine, tt.dsn)
		}
	}
	if _, err := presence.OpenSQLite("/tmp/x.db?mode=ro", clk); err == nil {
		t.Error("OpenSQLite accepted a path with '?'")
	}
}
