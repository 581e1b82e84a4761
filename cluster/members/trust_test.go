package members

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
)

// TestWarnUntrusted: a read of the members warns of each other node
// whose address is not trusted, once however often it is read; trusted
// nodes, this node and a node's later reads say nothing more.
func TestWarnUntrusted(t *testing.T) {
	ctx := context.Background()
	st := NewMemory()
	for _, m := range []Member{
		{ID: "n1", SIP: "10.0.0.1:5060", Seen: epoch}, // this node, not trusted by itself
		{ID: "n2", SIP: "10.0.0.2:5060", Seen: epoch},
		{ID: "n3", SIP: "10.0.0.3:5060", Seen: epoch},
	} {
		if err := st.Beat(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	var log bytes.Buffer
	trusted := func(a netip.Addr) bool { return a == netip.MustParseAddr("10.0.0.2") }
	w := WarnUntrusted(st, "n1", trusted, slog.New(slog.NewTextHandler(&log, nil)))
	for range 3 {
		if ms, err := w.Members(ctx); err != nil || len(ms) != 3 {
			t.Fatalf("Members: %d, %v", len(ms), err)
		}
	}
	got := log.String()
	if strings.Count(got, "\n") != 1 || !strings.Contains(got, "level=WARN") ||
		!strings.Contains(got, "node=n3 address=10.0.0.3:5060") {
		t.Errorf("want one warning, of n3, got:\n%s", got)
	}
}
