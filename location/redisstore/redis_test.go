package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// testRedis is the machine's Redis the tests share; PARLEY_TEST_REDIS
// names another. Each test keeps to keys of its own prefix, so parallel
// runs do not collide.
func testRedis() string {
	if u := os.Getenv("PARLEY_TEST_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// requireRedis skips the test when no Redis answers, or fails it under
// CI=true, where a missing Redis is a broken CI setup.
func requireRedis(t testing.TB) string {
	t.Helper()
	u := testRedis()
	opt, err := rueidis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", opt.InitAddress[0], time.Second)
	if err == nil {
		c.Close()
		return u
	}
	msg := "no Redis at " + u + " (" + err.Error() + "); install with: apt-get install redis-server, or set PARLEY_TEST_REDIS"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// testPrefix is a key prefix of its own for t, whose keys are deleted
// when t ends.
func testPrefix(t testing.TB, url string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "parleytest:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() { deleteKeys(t, url, prefix) })
	return prefix
}

// deleteKeys removes every key under prefix.
func deleteKeys(t testing.TB, url, prefix string) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Error(err)
		return
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Errorf("cleaning up %s*: %v", prefix, err)
		return
	}
	defer c.Close()
	ctx := context.Background()
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			t.Errorf("cleaning up %s*: %v", prefix, err)
			return
		}
		if len(e.Elements) > 0 {
			if err := c.Do(ctx, c.B().Unlink().Key(e.Elements...).Build()).Error(); err != nil {
				t.Errorf("cleaning up %s*: %v", prefix, err)
				return
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			return
		}
	}
}

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
