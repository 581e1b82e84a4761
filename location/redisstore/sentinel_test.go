package redisstore

import (
	"testing"

	"github.com/redis/rueidis"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/location/redisstore/redistest"
	"github.com/parley-sip/parley/location/storetest"
)

// TestSentinel runs the conformance suite through a Sentinel
// (redis://SENTINEL/0?master_set=NAME): the client asks the Sentinel for
// the primary and keeps its cache coherent there as with one Redis.
func TestSentinel(t *testing.T) {
	url, _ := redistest.StartSentinel(t, "parley")
	storetest.TestStore(t, func(t *testing.T) location.Store {
		return openTest(t, url, testPrefix(t, url))
	})
	if mode := openTest(t, url, "mode:").c.Mode(); mode != rueidis.ClientModeSentinel {
		t.Fatalf("client mode %s, want sentinel", mode)
	}
}
