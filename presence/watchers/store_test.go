package watchers_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/presence/watchers"
	"github.com/parley-sip/parley/presence/watchers/storetest"
	"github.com/parley-sip/parley/sqldb"
	substoretest "github.com/parley-sip/parley/subscriber/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clk *clock.Fake) watchers.Store { return watchers.NewMemory(clk) })
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clk *clock.Fake) watchers.Store {
		s, err := watchers.OpenSQLite(filepath.Join(t.TempDir(), sqldb.DBFile), clk)
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
	storetest.Run(t, func(t *testing.T, clk *clock.Fake) watchers.Store {
		s, err := watchers.OpenPostgres(context.Background(), substoretest.PostgresDSN(t), clk)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
