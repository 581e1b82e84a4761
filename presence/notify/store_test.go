package notify_test

import (
	"context"
	"testing"

	"github.com/parley-sip/parley/presence/notify"
	"github.com/parley-sip/parley/presence/notify/storetest"
	substoretest "github.com/parley-sip/parley/subscriber/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) notify.Store { return notify.NewMemory() })
}

func TestSQLiteStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) notify.Store {
		s, err := notify.OpenSQL(context.Background(), "sqlite", t.TempDir(), "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestPostgresStore runs the suite in a fresh schema of the test database
// per subtest (see subscriber/storetest.PostgresDSN).
func TestPostgresStore(t *testing.T) {
	substoretest.RequirePostgres(t)
	storetest.Run(t, func(t *testing.T) notify.Store {
		s, err := notify.OpenSQL(context.Background(), "postgres", "", substoretest.PostgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
