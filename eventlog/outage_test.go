package eventlog

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
)

// TestOutage: an outage is two lines however many uses fail, and Err
// tells it while it lasts.
func TestOutage(t *testing.T) {
	var buf bytes.Buffer
	clk := clock.NewFake(t0)
	o := &Outage{What: "location store", Log: slog.New(slog.NewTextHandler(&buf, nil)), Now: clk.Now}
	o.Succeeded()
	if o.Err() != nil || buf.Len() != 0 {
		t.Fatalf("healthy: Err %v, log %q", o.Err(), buf.String())
	}
	refused := errors.New("connection refused")
	for range 500 {
		o.Failed(refused)
	}
	clk.Advance(20 * time.Second)
	if err := o.Err(); !errors.Is(err, refused) || !strings.Contains(err.Error(), "for 20s (500 failed)") {
		t.Errorf("Err during the outage = %v", err)
	}
	o.Succeeded()
	o.Succeeded()
	if o.Err() != nil {
		t.Errorf("Err after recovery = %v", o.Err())
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{
		`level=WARN msg="location store unavailable" error="connection refused"`,
		`level=INFO msg="location store available again" down_for=20s failed=500 last_error="connection refused"`,
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d = %q, want %q", i, lines[i], want)
		}
	}
}
