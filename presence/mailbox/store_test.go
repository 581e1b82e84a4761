package mailbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/parley-sip/parley/presence/mailbox"
	"github.com/parley-sip/parley/presence/mailbox/storetest"
	substoretest "github.com/parley-sip/parley/subscriber/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mailbox.Store { return mailbox.NewMemory() })
}

func openSQLite(t *testing.T, dir string) *mailbox.SQL {
	t.Helper()
	s, err := mailbox.Open(context.Background(), "sqlite", dir, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mailbox.Store { return openSQLite(t, t.TempDir()) })
}

// TestPostgres runs the suite in a fresh schema of the test database per
// subtest (see subscriber/storetest.PostgresDSN).
func TestPostgres(t *testing.T) {
	substoretest.RequirePostgres(t)
	storetest.Run(t, func(t *testing.T) mailbox.Store {
		s, err := mailbox.Open(context.Background(), "postgres", "", substoretest.PostgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestSQLiteSurvivesRestart checks that a summary outlives the process:
// a phone subscribing after a restart still sees its lamp.
func TestSQLiteSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := openSQLite(t, dir)
	want := mailbox.Summary{Account: "alice@example.com", Body: []byte("Messages-Waiting: yes\r\n"), ETag: "e1",
		Updated: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	if err := s.Put(context.Background(), want, ""); err != nil {
		t.Fatal(err)
	}
	s.Close()
	got, err := openSQLite(t, dir).Get(context.Background(), "alice@example.com")
	if err != nil || string(got.Body) != string(want.Body) || got.ETag != "e1" || !got.Updated.Equal(want.Updated) {
		t.Errorf("after a restart: %+v, %v", got, err)
	}
}
