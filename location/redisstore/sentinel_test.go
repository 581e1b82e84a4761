package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/location/redisstore/redistest"
	"github.com/parley-sip/parley/location/storetest"
)

// TestSentinel runs the conformance suite through a Sentinel
// (redis://SENTINEL/0?master_set=NAME): the client asks the Sentinel for
// the primary and keeps its cache coherent there as with one Redis.
func TestSentinel(t *testing.T) {
	url, _, _ := redistest.StartSentinel(t, "parley", 0)
	storetest.TestStore(t, func(t *testing.T) location.Store {
		return openTest(t, url, testPrefix(t, url))
	})
	if mode := openTest(t, url, "mode:").c.Mode(); mode != rueidis.ClientModeSentinel {
		t.Fatalf("client mode %s, want sentinel", mode)
	}
}

// TestSentinelFailover: the primary dies; updates fail meanwhile, and
// once the Sentinel has promoted the replica the same store takes updates
// again, with the binding written (and replicated) before the failover.
func TestSentinelFailover(t *testing.T) {
	url, primary, _ := redistest.StartSentinel(t, "parley", 1)
	s := openTest(t, url, "failover:")
	ctx := context.Background()
	now := time.Now()
	put := func(aor string) error {
		_, err := s.Update(ctx, aor, now, func(cur []location.Binding) ([]location.Binding, error) {
			return append(cur, location.Binding{Contact: "sip:a@h", Q: 1000, Expires: now.Add(time.Hour), Updated: now}), nil
		})
		return err
	}
	if err := put("sip:before@example.com"); err != nil {
		t.Fatal(err)
	}
	// The replica has the write before the primary dies. On a loaded
	// machine its first full sync can take longer than one WAIT.
	for start := time.Now(); ; {
		n, err := s.c.Do(ctx, s.c.B().Wait().Numreplicas(1).Timeout(5000).Build()).AsInt64()
		if err == nil && n == 1 {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("WAIT 1: %d replicas (%v) after 30 s", n, err)
		}
	}
	primary.Kill()
	deadline := time.Now().Add(30 * time.Second) // down after 1 s, then the election and promotion
	for put("sip:after@example.com") != nil {
		if time.Now().After(deadline) {
			t.Fatal("no update accepted within 30 s of the primary's death")
		}
		time.Sleep(200 * time.Millisecond)
	}
	bs, err := s.Lookup(ctx, "sip:before@example.com", now)
	if err != nil || len(bs) != 1 {
		t.Fatalf("binding written before the failover: %d (%v), want 1", len(bs), err)
	}
}
