package server

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/parley-sip/parley/b2bua"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/cluster/members"
	"github.com/parley-sip/parley/cluster/takeover"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/location"
)

func testClusterNode(t *testing.T, ms members.Store, calls takeover.Calls) *clusterNode {
	t.Helper()
	cfg := config.Default()
	cfg.Cluster.Node, cfg.Cluster.Address, cfg.CDR.Node = "n1", "127.0.0.1:25060", "rec-n1"
	return newClusterNode(cfg, ms, calls, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// TestClusterView: every node with its state by the age of its beat and
// the registrations whose flow it holds (by the Path's node), the
// bindings no node holds, and every node's answered calls.
func TestClusterView(t *testing.T) {
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	ctx := context.Background()
	ms, calls := members.NewMemory(), takeover.NewMemory(clock.NewFake(now))
	cn := testClusterNode(t, ms, calls)
	for _, m := range []members.Member{
		{ID: "n1", SIP: "127.0.0.1:25060", Seen: now, Calls: 1},
		{ID: "n2", SIP: "127.0.0.2:25060", Seen: now.Add(-5 * time.Second), Calls: 4},
		{ID: "n3", SIP: "127.0.0.3:25060", Seen: now.Add(-time.Minute), Calls: 2},
	} {
		_ = ms.Beat(ctx, m)
	}
	store := location.NewMemory()
	for aor, path := range map[string][]string{
		"sip:a@example.com": {"<sip:ft.x@127.0.0.2:25060;lr;ob;node=n2>"},
		"sip:b@example.com": {"<sip:ft.y@127.0.0.2:25060;lr;ob;node=n2>"},
		"sip:c@example.com": {"<sip:ft.z@127.0.0.1:25060;lr;ob;node=n1>"},
		"sip:d@example.com": {"<sip:edge.example.com;lr>"},
	} {
		_, err := store.Update(ctx, aor, now, func([]location.Binding) ([]location.Binding, error) {
			return []location.Binding{{AOR: aor, Contact: "sip:x@192.0.2.1", Q: 1000, Expires: now.Add(time.Hour), CallID: "r", CSeq: 1, Path: path, Updated: now}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	_ = calls.Put(ctx, "n3", b2bua.Snapshot{ID: "c1", Record: cdr.Record{Caller: "sip:a@example.com", Callee: "sip:b@example.com", Answered: now},
		A: dialog.Info{ID: dialog.ID{CallID: "a1"}}, B: dialog.Info{ID: dialog.ID{CallID: "b1"}}})
	v, err := cn.view(ctx, store, now)
	if err != nil {
		t.Fatal(err)
	}
	// Calls: an alive node's as it beat; a node no longer beating, the
	// answered calls still stored for it (n3 beat 2 before it died, one
	// is left; n2 held 4 and stored none): what a takeover will end,
	// none once it has, rather than its last beat's for as long as it
	// stays listed.
	want := []struct {
		id    string
		state members.State
		regs  int
		calls int
	}{{"n1", members.Alive, 1, 1}, {"n2", members.Silent, 2, 0}, {"n3", members.Dead, 0, 1}}
	if len(v.Nodes) != len(want) {
		t.Fatalf("nodes %+v", v.Nodes)
	}
	for i, w := range want {
		if n := v.Nodes[i]; n.ID != w.id || n.State != w.state || n.Registrations != w.regs || n.Calls != w.calls {
			t.Errorf("node %d: %+v, want %s %s with %d registrations and %d calls", i, n, w.id, w.state, w.regs, w.calls)
		}
	}
	if v.Unassigned != 1 || v.Self != "n1" || v.TakeoverAfter != "30s" {
		t.Errorf("view %+v: want 1 unassigned binding, self n1, takeover after 30s", v)
	}
	if len(v.Calls) != 1 || v.Calls[0].Node != "n3" || v.Calls[0].ACallID != "a1" || v.Calls[0].BCallID != "b1" {
		t.Errorf("calls %+v, want n3's call", v.Calls)
	}
}

// TestClusterCallWrites: snapshots are written in the order the calls
// made them, under this node's name with the records' node name, and
// what is queued at shutdown is still written.
func TestClusterCallWrites(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := takeover.NewMemory(clock.NewFake(time.Now()))
	cn := testClusterNode(t, members.NewMemory(), calls)
	snap := func(id string) *b2bua.Snapshot { return &b2bua.Snapshot{ID: id, Record: cdr.Record{Node: cn.records}} }
	cn.queue(callOp{id: "c1", snap: snap("c1")})
	cn.queue(callOp{id: "c2", snap: snap("c2")})
	cn.queue(callOp{id: "c1"})
	cancel()
	cn.writeCalls(ctx) // ctx has ended: it writes what is queued and returns
	got, _ := calls.List(context.Background(), "n1")
	if len(got) != 1 || got[0].ID != "c2" || got[0].Record.Node != "rec-n1" {
		t.Errorf("snapshots %+v, want c2 alone, its record of node rec-n1", got)
	}
}

// TestClusterOnChange: only a cluster node keeps its snapshots current;
// off a cluster the B2BUA has no OnChange and checks nothing per event.
func TestClusterOnChange(t *testing.T) {
	for _, tt := range []struct {
		name string
		cn   *clusterNode
		want bool
	}{
		{"off a cluster", nil, false},
		{"cluster node", testClusterNode(t, members.NewMemory(), takeover.NewMemory(clock.NewFake(time.Now()))), true},
	} {
		s := &Server{cluster: tt.cn}
		if got := s.clusterOnChange() != nil; got != tt.want {
			t.Errorf("%s: OnChange set %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestClusterRecordedElsewhere: a call from another node (dead ones too)
// is left to that node; one from a phone, from this node's own address,
// from an unreadable source or off a cluster is recorded here, except
// that a takeover (self) also leaves a call this node relayed, and
// takes only a node's exact address for a node.
func TestClusterRecordedElsewhere(t *testing.T) {
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	ctx := context.Background()
	ms := members.NewMemory()
	cn := testClusterNode(t, ms, takeover.NewMemory(clock.NewFake(now)))
	for _, m := range []members.Member{
		{ID: "n1", SIP: "127.0.0.1:25060", Seen: now},
		{ID: "n2", SIP: "127.0.0.2:25060", Seen: now},
		{ID: "n3", SIP: "127.0.0.3:25060", Seen: now.Add(-time.Hour)}, // dead
	} {
		_ = ms.Beat(ctx, m)
	}
	if _, err := cn.peers.Watch(ms).Members(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cn           *clusterNode
		source       string
		self, wantEl bool
	}{
		{cn, "127.0.0.2:25060", false, true},
		{cn, "127.0.0.2:41000", false, true},
		{cn, "127.0.0.3:25060", false, true},
		{cn, "192.0.2.1:5060", false, false},
		{cn, "127.0.0.1:25060", false, false},
		{cn, "127.0.0.1:25060", true, true},
		{cn, "127.0.0.1:40000", true, false},
		{cn, "127.0.0.2:41000", true, false},
		{cn, "", false, false},
		{nil, "127.0.0.2:25060", true, false},
	} {
		if got := tc.cn.recordedElsewhere(tc.source, tc.self); got != tc.wantEl {
			t.Errorf("recordedElsewhere(%q, self %v) on node %v = %v, want %v", tc.source, tc.self, tc.cn != nil, got, tc.wantEl)
		}
	}
	// The final records count: one left, one kept.
	if !cn.leftToNode("127.0.0.2:25060", false) || cn.leftToNode("192.0.2.1:5060", false) {
		t.Error("leftToNode disagrees with recordedElsewhere")
	}
	if n := cn.leftRecords.Load(); n != 1 {
		t.Errorf("calls left to a node counted %d, want 1", n)
	}
}

// unreachableMembers is a members store whose reads wait, as the Redis
// client's do while Redis is down: it retries a read until the context
// ends.
type unreachableMembers struct{ members.Store }

func (unreachableMembers) Members(ctx context.Context) ([]members.Member, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestClusterViewRedisDown: /api/cluster answers (503) while Redis is
// down instead of waiting with the request for as long as the client
// stays; the admin request's context has no deadline of its own.
func TestClusterViewRedisDown(t *testing.T) {
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	cn := testClusterNode(t, unreachableMembers{members.NewMemory()}, takeover.NewMemory(clock.NewFake(now)))
	done := make(chan error, 1)
	go func() {
		_, err := cn.view(context.Background(), location.NewMemory(), now)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("view with the members unreadable: no error, want one")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("view with the members unreadable still waiting after 10 s")
	}
}
