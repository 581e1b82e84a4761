package server

import (
	"strings"
	"testing"

	"github.com/parley-sip/parley/memlimit"
)

// TestMemoryFullWired: a started server holds the live heap against its
// memory limit, and the transaction layer's admission asks it: with a
// limit the live heap is past, a new request gets 503 Too Much Memory In
// Use with Retry-After.
func TestMemoryFullWired(t *testing.T) {
	s := startServer(t, testConfig(t))
	if s.pressure.Load() == nil || s.memoryFull() {
		t.Fatalf("after Start: Pressure %v, full %v", s.pressure.Load(), s.memoryFull())
	}
	p := memlimit.NewPressure(1)
	p.Check()
	s.pressure.Store(p)
	_, got, err := optionsAnswer(t, s, "mem")
	if err != nil || !strings.HasPrefix(got, "SIP/2.0 503 Too Much Memory In Use\r\n") || !strings.Contains(got, "\r\nRetry-After: ") {
		t.Fatalf("want 503 Too Much Memory In Use with Retry-After, got %v %q", err, got)
	}
}
