package redisstore

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/location/redisstore/redistest"
)

// TestRedisFailure: a Redis that dies, or freezes, turns every call into
// an error (the registrar answers those with 503) within the store's
// timeout, Ready says so, and the store recovers by itself when Redis
// answers again.
//
// The bounds are the properties, not a timeout plus a guessed slack: a
// busy machine (CI's, running other packages under the race detector)
// delays any call, and a slack of a second was overrun there.
func TestRedisFailure(t *testing.T) {
	r := redistest.Start(t)
	s := openTest(t, r.URL(), "parley:")
	ctx := context.Background()
	now := time.Now()
	const aor = "sip:alice@example.com"
	put := func() error {
		_, err := s.Update(ctx, aor, now, func([]location.Binding) ([]location.Binding, error) {
			return []location.Binding{{Contact: "sip:a@h", Q: 1000, Expires: now.Add(time.Hour), Updated: now}}, nil
		})
		return err
	}
	if err := put(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(ctx, aor, now); err != nil {
		t.Fatal(err)
	}

	// failing checks the calls during an outage. A dead Redis's connection
	// is closed, and with it the cache; a frozen one's is declared dead
	// only by the background PING, and until then cached sets may still
	// be served, which is safe: no node can change them meanwhile.
	failing := func(what string, lookups bool, within time.Duration) {
		t.Helper()
		start := time.Now()
		if err := put(); err == nil || errors.Is(err, location.ErrClosed) {
			t.Fatalf("%s: Update = %v, want a Redis error", what, err)
		}
		took := time.Since(start)
		t.Logf("%s: the failing Update took %v", what, took)
		if took >= within {
			t.Errorf("%s: the failing Update took %v, want under %v", what, took, within)
		}
		if _, err := s.Lookup(ctx, aor, now); err == nil && lookups {
			t.Errorf("%s: Lookup served a set Redis can no longer vouch for", what)
		}
		if _, err := s.Expire(ctx, now); err == nil {
			t.Errorf("%s: Expire succeeded", what)
		}
		if s.Ready() == nil {
			t.Errorf("%s: Ready() = nil", what)
		}
	}
	recovers := func(what string) {
		t.Helper()
		// Recovering by itself is the property; how soon is the
		// background PING's and the dialer's business.
		start := time.Now()
		for deadline := start.Add(30 * time.Second); put() != nil; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: Update still failing 30 s after Redis returned", what)
			}
		}
		t.Logf("%s: Updates succeed again after %v", what, time.Since(start))
		if err := s.Ready(); err != nil {
			t.Errorf("%s: Ready() = %v after a successful Update", what, err)
		}
		if bs, err := s.Lookup(ctx, aor, now); err != nil || len(bs) != 1 {
			t.Errorf("%s: Lookup = %v, %v", what, bs, err)
		}
	}

	r.Signal(syscall.SIGSTOP)
	// Within the timeout, and not a second one after it (a retry).
	failing("frozen Redis", false, 2*opTimeout)
	// Updates of one AOR queued behind each other share the timeout
	// rather than spend one each: each fails in less than two timeouts
	// from its own call, where waiting for the one ahead to time out
	// first would take two. Each is timed from its own call, not from
	// when the test started them all, which a loaded machine may spread
	// out; and the bound is the property itself rather than one timeout
	// and a guessed slack, which the first Update of a test binary was
	// seen to overrun (4.05 s, at load 20-38).
	type outcome struct {
		err  error
		took time.Duration
	}
	outcomes := make(chan outcome, 10)
	for range cap(outcomes) {
		go func() {
			start := time.Now()
			err := put()
			outcomes <- outcome{err, time.Since(start)}
		}()
	}
	for range cap(outcomes) {
		o := <-outcomes
		if o.err == nil {
			t.Error("an Update succeeded on a frozen Redis")
		}
		if o.took >= 2*opTimeout {
			t.Errorf("an Update queued on a frozen Redis took %v, want under %v: it waited for another's timeout", o.took, 2*opTimeout)
		}
	}
	r.Signal(syscall.SIGCONT)
	recovers("thawed Redis")

	r.Kill()
	// Refused, not redialled until the timeout.
	failing("dead Redis", true, opTimeout)
	r.Restart()
	recovers("restarted Redis")
}
