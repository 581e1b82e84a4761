package message_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/message"
	"github.com/parley-sip/parley/message/storetest"
	"github.com/parley-sip/parley/sqldb"
	substoretest "github.com/parley-sip/parley/subscriber/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clk *clock.Fake) message.Store {
		return message.NewMemory(clk)
	})
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clk *clock.Fake) message.Store {
		s, err := message.OpenSQLite(filepath.Join(t.TempDir(), sqldb.DBFile), clk)
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
	storetest.Run(t, func(t *testing.T, clk *clock.Fake) message.Store {
		s, err := message.OpenPostgres(context.Background(), substoretest.PostgresDSN(t), clk)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestSQLiteSurvivesRestart: a stored message outlives the process, keeps
// its place in line, and the IDs of later ones still sort after it.
func TestSQLiteSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	ctx := context.Background()
	s, err := message.Open(ctx, "sqlite", dir, "", clk)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Add(ctx, message.Message{User: "bob@example.com", From: "<sip:a@example.com>;tag=1", To: "<sip:bob@example.com>",
		Date: "Wed, 02 Jan 2030 03:04:05 GMT", ContentType: "text/plain", Body: []byte("one")}, message.Quota{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = message.Open(ctx, "sqlite", dir, "", clk); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	second, err := s.Add(ctx, message.Message{User: "bob@example.com", Body: []byte("two")}, message.Quota{})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := s.Pending(ctx, "bob@example.com")
	if err != nil || len(ms) != 2 || ms[0].ID != first.ID || ms[1].ID != second.ID || string(ms[0].Body) != "one" {
		t.Fatalf("after reopening: %+v, %v", ms, err)
	}
}

func TestOpenErrors(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	for _, engine := range []string{"oracle"} {
		if s, err := message.Open(context.Background(), engine, t.TempDir(), "", clk); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", engine)
		}
	}
}
