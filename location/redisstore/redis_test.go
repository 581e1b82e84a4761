package redisstore

import (
	"context"
	"testing"

	"github.com/parley-sip/parley/location/redisstore/redistest"
)

// requireRedis returns the shared test Redis, or skips (fails under CI).
func requireRedis(t testing.TB) string { return redistest.URL(t) }

// testPrefix is a key prefix of t's own, deleted when t ends.
func testPrefix(t testing.TB, url string) string { return redistest.Prefix(t, url) }

// openTest opens a store on url under prefix, closed when t ends.
func openTest(t testing.TB, url, prefix string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, append([]Option{WithPrefix(prefix)}, opts...)...)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
