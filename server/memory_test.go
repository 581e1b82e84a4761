package server

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
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

// plusBindings is the server's own count of its state with bindings
// added, as many as a large registrar holds, which a test cannot store.
type plusBindings struct {
	memlimit.Holder
	n int64
}

func (p plusBindings) Held() memlimit.State {
	st := p.Holder.Held()
	st.Bindings += p.n
	return st
}

// TestMemoryStateWired: with a derived limit, the server's Pressure
// counts the bindings its location store holds and raises the runtime's
// limit by their budget; and with state worth a million bindings behind
// a live heap past the transient threshold, requests are admitted where
// the same heap without that state gets 503.
func TestMemoryStateWired(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	s := startServer(t, testConfig(t))
	now := time.Now()
	for i := range 2100 {
		aor := fmt.Sprintf("sip:u%d@example.com", i)
		if _, err := s.store.Update(context.Background(), aor, now, func([]location.Binding) ([]location.Binding, error) {
			return []location.Binding{{Contact: "sip:u@127.0.0.1:5070", Expires: now.Add(time.Hour), Transport: "udp"}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	held := heldState{s}
	if st := held.Held(); st.Bindings != 2100 || st.Calls != 0 || st.Subscriptions != 0 {
		t.Fatalf("held %+v, want the 2100 bindings stored", st)
	}
	p := s.pressure.Load()
	p.Check()
	if want := int64(memlimit.Ceiling + 1<<20); p.Limit() != want || debug.SetMemoryLimit(-1) != want {
		t.Fatalf("limit %d, runtime's %d, want the cap plus 2100 bindings' budget in whole MiB: %d", p.Limit(), debug.SetMemoryLimit(-1), want)
	}

	// A transient limit of 1 byte, which the live heap is past; a fixed
	// one, so that the runtime's limit is not set that low.
	none := memlimit.NewPressure(1)
	none.Check()
	s.pressure.Store(none)
	if _, got, _ := optionsAnswer(t, s, "nostate"); !strings.HasPrefix(got, "SIP/2.0 503 Too Much Memory In Use\r\n") {
		t.Fatalf("with little state behind the heap: %q, want 503", got)
	}
	large := memlimit.NewStatePressure(1, plusBindings{held, 1_000_000})
	large.Check()
	s.pressure.Store(large)
	if _, got, err := optionsAnswer(t, s, "state"); err != nil || !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("with 1M bindings held: %v %q, want 200", err, got)
	}
	if large.Limit() < 1_000_000*memlimit.PerBinding {
		t.Fatalf("limit %d with 1M bindings held", large.Limit())
	}
}
