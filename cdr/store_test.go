package cdr_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/cdr/storetest"
	substoretest "github.com/parley-sip/parley/subscriber/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) cdr.Store { return cdr.NewMemory() })
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) cdr.Store {
		s, err := cdr.OpenSQLite(filepath.Join(t.TempDir(), "parley.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestPostgres(t *testing.T) {
	substoretest.RequirePostgres(t)
	storetest.Run(t, func(t *testing.T) cdr.Store {
		s, err := cdr.OpenPostgres(context.Background(), substoretest.PostgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
