package observe

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestCallLog: a call is three lines at info, start, answer and end with
// its status and talk time.
func TestCallLog(t *testing.T) {
	clk := newClock()
	var log bytes.Buffer
	o := New(Config{Now: clk.Now, OnCall: CallLog(slog.New(slog.NewTextHandler(&log, nil)))})
	o.Start()
	defer o.Close()
	steps := []struct {
		dir   Direction
		m     msg
		after time.Duration
	}{
		{Received, invite(), 0},
		{Sent, resp(180), time.Second},
		{Sent, resp(200), 2 * time.Second},
		{Received, bye(), 18 * time.Second},
		{Sent, byeResp(200), 0},
	}
	for _, st := range steps {
		clk.Advance(st.after)
		o.Capture(st.dir, "udp", parley, alice, []byte(st.m.text()))
	}
	o.Flush()
	want := []string{
		`level=INFO msg="call started" call_id=c1 caller="\"Alice\" <sip:alice@example.com>" callee=<sip:bob@example.com> source=192.0.2.10:5060`,
		`level=INFO msg="call answered" call_id=c1 status=200 setup=3s`,
		`level=INFO msg="call ended" call_id=c1 status=200 reason="hung up" answered=true duration=18s`,
	}
	got := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(got), len(want), log.String())
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("line %d = %q, want %q", i, got[i], want[i])
		}
	}
}
