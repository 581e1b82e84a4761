package server

import (
	"strings"
	"testing"
	"time"
)

// TestPresenceMetrics: /metrics shows the subscriptions held by event
// package, the NOTIFYs sent and failed, and the PUBLISHes by result.
func TestPresenceMetrics(t *testing.T) {
	cfg := testConfig(t)
	cfg.Presence.NotifyThrottle = 0
	s := startServer(t, cfg)
	conn, local := udpClient(t)
	w := &watcherUA{t: t, conn: conn, local: local, srv: s.Listeners()[0].Bound}

	w.request("SUBSCRIBE", "sip:bob@example.com", "pm1", "a1", "", 1, "Event", "presence", "Expires", "600")
	if r := w.response(); r.StatusCode() != 200 {
		t.Fatalf("SUBSCRIBE answered\n%s", r)
	}
	w.notifiedWith("pm1", "<basic>closed</basic>")
	w.request("PUBLISH", "sip:bob@example.com", "pp1", "p1", "", 1, "Event", "presence", "Content-Type", "application/pidf+xml",
		"body", "<presence")
	if r := w.response(); r.StatusCode() != 400 {
		t.Fatalf("broken PUBLISH answered\n%s", r)
	}
	base := "http://" + s.obs.admin.Addr().String()
	want := []string{
		`parley_presence_subscriptions{event="presence"} 1`,
		`parley_presence_subscriptions{event="dialog"} 0`,
		`parley_presence_notifies_total{result="sent"} 1`,
		`parley_presence_notifies_total{result="failed"} 0`,
		`parley_presence_publications_total{result="accepted"} 0`,
		`parley_presence_publications_total{result="refused"} 1`,
	}
	// The NOTIFY's 200 is applied on the notifier's goroutine, a moment
	// after the watcher sent it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, metrics := get(t, base+"/metrics")
		var missing []string
		for _, line := range want {
			if !strings.Contains(metrics, line) {
				missing = append(missing, line)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
