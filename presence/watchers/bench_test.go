package watchers_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/presence/watchers"
	"github.com/parley-sip/parley/sqldb"
)

// BenchmarkAuthorize is one decision, the cost a SUBSCRIBE pays, with
// the user's ten entries in memory or in SQLite, read every time or
// cached.
func BenchmarkAuthorize(b *testing.B) {
	clk := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	sqlite, err := watchers.OpenSQLite(filepath.Join(b.TempDir(), sqldb.DBFile), clk)
	if err != nil {
		b.Fatal(err)
	}
	defer sqlite.Close()
	for _, e := range []struct {
		name  string
		store watchers.Store
	}{{"memory", watchers.NewMemory(clk)}, {"sqlite", sqlite}} {
		for i := range 10 {
			if err := e.store.Put(context.Background(), watchers.Entry{User: "bob@example.com", Watcher: fmt.Sprint("w", i, "@example.net"), List: watchers.Allow}); err != nil {
				b.Fatal(err)
			}
		}
		for _, cache := range []time.Duration{0, 2 * time.Second} {
			p := &watchers.Policy{Store: e.store, Clock: clk, CacheFor: cache}
			b.Run(fmt.Sprint(e.name, "/cache=", cache), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if p.Authorize("w5@example.net", "bob@example.com", "presence") != 1 {
						b.Fatal("not allowed")
					}
				}
			})
		}
	}
}
