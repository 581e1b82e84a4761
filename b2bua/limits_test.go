package b2bua

import (
	"testing"
	"time"
	"unsafe"

	"github.com/parley-sip/parley/calllimit"
)

// TestCallLimits admits calls up to each limit, answers the next with the
// limit's code and reason, and frees the slots when a call ends, however
// it ends.
func TestCallLimits(t *testing.T) {
	tests := []struct {
		name   string
		limits calllimit.Limits
		plan   Plan
		code   int
		reason string
		retry  string
	}{
		{"caller at its limit", calllimit.Limits{PerUser: 1}, Plan{}, 486, "Caller Call Limit Reached", ""},
		{"domain at its limit", calllimit.Limits{PerDomain: 1, RetryAfter: 30 * time.Second}, Plan{}, 503, "Domain Call Limit Reached", "30"},
		{"trunk at its limit", calllimit.Limits{Trunks: map[string]int{"provider": 1}, RetryAfter: 5 * time.Second},
			Plan{Trunk: "provider"}, 503, "Trunk Call Limit Reached", "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := calllimit.New(tt.limits)
			h := newHarness(t, Control{}, Config{Limits: lim})
			first := h.dial("alice@example.com", tt.plan)
			first.answer()
			second := h.dial("alice@example.com", tt.plan)
			r := second.aTx.last()
			if r == nil || r.StatusCode() != tt.code || r.Reason() != tt.reason || r.Header("Retry-After") != tt.retry {
				t.Fatalf("second call got %v", r)
			}
			if n := len(h.net.requests("INVITE", calleeAt)); n != 1 {
				t.Fatalf("%d INVITEs to the callee; the refused call must not start a B leg", n)
			}
			if rec, _ := h.record(); rec.Status != tt.code || rec.Reason != tt.reason {
				t.Fatalf("record %+v", rec)
			}
			first.fromA("BYE", 0)
			third := h.dial("alice@example.com", tt.plan)
			if r := third.aTx.last(); r != nil && r.StatusCode() >= 300 {
				t.Fatalf("after the first call ended the third got %v", r)
			}
		})
	}
}

// TestCallLimitsReleasedOnce: a call that ends several ways at once (a
// BYE from each side, an admin hang-up) gives its slots back once.
func TestCallLimitsReleasedOnce(t *testing.T) {
	lim := calllimit.New(calllimit.Limits{PerUser: 5})
	h := newHarness(t, Control{}, Config{Limits: lim})
	a := h.dial("alice@example.com", Plan{})
	a.answer()
	b := h.dial("alice@example.com", Plan{})
	if n := lim.Active(calllimit.Caller, "alice@example.com"); n != 2 {
		t.Fatalf("alice in %d calls, want 2", n)
	}
	a.fromA("BYE", 0)
	a.c.Hangup("system", "again")
	a.c.Post(func() { a.c.end("system", "and again") })
	if n := lim.Active(calllimit.Caller, "alice@example.com"); n != 1 {
		t.Fatalf("alice in %d calls after one ended, want 1", n)
	}
	b.c.Hangup("system", "unanswered")
	if n := lim.Active(calllimit.Caller, "alice@example.com"); n != 0 {
		t.Fatalf("alice in %d calls after both ended", n)
	}
	if n := lim.Active(calllimit.Domain, "example.com"); n != 0 {
		t.Fatalf("domain holds %d", n)
	}
}

func TestLimitKeys(t *testing.T) {
	h := newHarness(t, Control{}, Config{})
	c := h.dial("Alice@EXAMPLE.com", Plan{})
	k := c.c.limitKeys()
	// The limits fold a domain's case: the key's domain is the user key's.
	want := calllimit.Keys{Caller: "Alice@example.com", CallerDomain: "example.com", Callee: "bob@example.com", CalleeDomain: "example.com"}
	if k != want {
		t.Fatalf("keys %+v, want %+v", k, want)
	}
	for _, p := range [][2]string{{k.Caller, k.CallerDomain}, {k.Callee, k.CalleeDomain}} {
		if unsafe.StringData(p[1]) != unsafe.StringData(p[0][len(p[0])-len(p[1]):]) {
			t.Errorf("the domain %q is a copy, not part of the key %q: one more object a held call", p[1], p[0])
		}
	}
	c = h.dial("alice@example.com", Plan{Trunk: "provider"})
	if k := c.c.limitKeys(); k.Trunk != "provider" || k.Callee != "" || k.CalleeDomain != "" {
		t.Fatalf("trunk call keys %+v: the dialled number is nobody's user", k)
	}
}
