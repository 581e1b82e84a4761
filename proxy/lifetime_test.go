package proxy

import (
	"context"
	"testing"
	"time"
)

// TestRequestContext: a request's context carries a deadline of at least
// the timeout, is shared by the requests of one second, and ends when
// the server's lifetime does.
func TestRequestContext(t *testing.T) {
	parent, stop := context.WithCancel(context.Background())
	var l lifetime
	l.init(parent, 10*time.Second)
	now := time.Now().Add(time.Hour).Truncate(time.Second).Add(250 * time.Millisecond) // deadlines in the future

	tests := []struct {
		name  string
		at    time.Time
		share bool // shares the context of the request at now
	}{
		{"same second", now.Add(500 * time.Millisecond), true},
		{"next second", now.Add(time.Second), false},
	}
	first := l.context(now)
	deadline, ok := first.Deadline()
	if !ok || deadline.Before(now.Add(10*time.Second)) || deadline.After(now.Add(11*time.Second)) {
		t.Fatalf("deadline = %v (set %v), want within a second after %v", deadline, ok, now.Add(10*time.Second))
	}
	for _, tc := range tests {
		if got := l.context(tc.at); (got == first) != tc.share {
			t.Errorf("%s: shared = %v, want %v", tc.name, got == first, tc.share)
		}
	}
	stop()
	select {
	case <-first.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the request's context outlived the server's lifetime")
	}
	if first.Err() != context.Canceled {
		t.Errorf("Err = %v, want context.Canceled", first.Err())
	}
}

// TestRequestContextDefaults: without a lifetime the context never ends
// but by its deadline, 32 s (64*T1) from now.
func TestRequestContextDefaults(t *testing.T) {
	var l lifetime
	l.init(nil, 0)
	now := time.Now()
	d, ok := l.context(now).Deadline()
	if !ok || d.Sub(now) < 32*time.Second || d.Sub(now) > 33*time.Second {
		t.Errorf("deadline in %v, want 32 s to 33 s", d.Sub(now))
	}
}
