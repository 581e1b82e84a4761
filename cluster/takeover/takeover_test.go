package takeover

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/b2bua"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/cluster/members"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/sip"
)

var epoch = time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)

// snapshot is an answered call of node n1 with both legs, the B leg
// having sent seq requests.
func snapshot(id string, seq uint32) b2bua.Snapshot {
	return b2bua.Snapshot{ID: id,
		Record: cdr.Record{Node: "n1", CallID: "a-" + id, BCallID: "b-" + id, Caller: "sip:alice@example.com", Callee: "sip:bob@example.com",
			Setup: epoch, Answered: epoch.Add(2 * time.Second), Status: 200, Disposition: cdr.Answered},
		A: dialog.Info{ID: dialog.ID{CallID: "a-" + id, LocalTag: "pa", RemoteTag: "alice"},
			LocalParty: "<sip:bob@example.com>;tag=pa", RemoteParty: "<sip:alice@example.com>;tag=alice",
			RemoteTarget: "sip:alice@127.0.0.1:25001", RouteSet: []string{"<sip:edge.example.com;lr>"}},
		B: dialog.Info{ID: dialog.ID{CallID: "b-" + id, LocalTag: "pb", RemoteTag: "bob"},
			LocalParty: "<sip:alice@example.com>;tag=pb", RemoteParty: "<sip:bob@example.com>;tag=bob",
			RemoteTarget: "sip:bob@127.0.0.1:25002", LocalSeq: seq},
	}
}

// net records the BYEs sent and answers each with code, or fails.
type net struct {
	mu   sync.Mutex
	sent []*sip.Message
	code int
}

func (n *net) send(_ context.Context, req *sip.Message) (*sip.Message, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, req)
	if n.code == 0 {
		return nil, errors.New("no answer")
	}
	return sip.NewResponse(req, n.code, "OK", ""), nil
}

// node is one node's Taker on the shared fakes.
type node struct {
	t       *Taker
	mu      sync.Mutex
	records []cdr.Record
}

type world struct {
	clk   *clock.Fake
	ms    *members.Memory
	calls *Memory
	net   *net
}

func newWorld() *world {
	clk := clock.NewFake(epoch)
	return &world{clk: clk, ms: members.NewMemory(), calls: NewMemory(clk), net: &net{code: 200}}
}

func (w *world) node(name string) *node {
	n := &node{}
	n.t = New(Config{Self: name, Members: w.ms, Calls: w.calls, After: 30 * time.Second, Interval: time.Second,
		Send: w.net.send, Clock: w.clk,
		Record: func(r cdr.Record) { n.mu.Lock(); n.records = append(n.records, r); n.mu.Unlock() }})
	return n
}

func (w *world) beat(name string) {
	_ = w.ms.Beat(context.Background(), members.Member{ID: name, SIP: "127.0.0.1:5060", Seen: w.clk.Now()})
}

// TestTakeover: a node's calls are left alone while it beats or has been
// silent up to the timeout; past it, a survivor sends both BYEs of each
// call to the legs' remote targets, in their dialogs with a CSeq past
// the snapshot's, writes each record as ended by takeover and forgets
// the calls.
func TestTakeover(t *testing.T) {
	w := newWorld()
	w.beat("n1")
	w.beat("n2")
	ctx := context.Background()
	for i, seq := range []uint32{1, 4} {
		if err := w.calls.Put(ctx, "n1", snapshot("c"+strconv.Itoa(i), seq)); err != nil {
			t.Fatal(err)
		}
	}
	n2 := w.node("n2")
	for _, step := range []time.Duration{0, 10 * time.Second, 20 * time.Second} {
		w.clk.Advance(step)
		w.beat("n2")
		if n, err := n2.t.Sweep(ctx); n != 0 || err != nil {
			t.Fatalf("at +%v: %d calls ended (%v) of a node silent for no longer than the timeout", w.clk.Now().Sub(epoch), n, err)
		}
	}
	w.clk.Advance(time.Second)
	if n, err := n2.t.Sweep(ctx); n != 2 || err != nil {
		t.Fatalf("%d calls ended (%v) of a node dead for 31 s, want 2", n, err)
	}
	if len(w.net.sent) != 4 {
		t.Fatalf("%d BYEs, want 2 per call", len(w.net.sent))
	}
	targets := map[string]string{}
	for _, m := range w.net.sent {
		cs, _ := m.CSeq()
		if m.Method() != "BYE" || cs.Method != "BYE" {
			t.Errorf("sent %s", m.Bytes())
		}
		targets[m.Header("Call-ID")] = m.RequestURI() + " " + strconv.Itoa(int(cs.Seq)) + " " + m.Header("Route")
	}
	want := map[string]string{
		"a-c0": "sip:alice@127.0.0.1:25001 1000 <sip:edge.example.com;lr>", "b-c0": "sip:bob@127.0.0.1:25002 1001 ",
		"a-c1": "sip:alice@127.0.0.1:25001 1000 <sip:edge.example.com;lr>", "b-c1": "sip:bob@127.0.0.1:25002 1004 ",
	}
	for cid, v := range want {
		if targets[cid] != v {
			t.Errorf("BYE in %s: %q, want %q", cid, targets[cid], v)
		}
	}
	if len(n2.records) != 2 {
		t.Fatalf("%d records, want 2", len(n2.records))
	}
	for _, r := range n2.records {
		if r.Node != "n1" || r.Disposition != cdr.EndedByTakeover || r.HungUpBy != cdr.NodeFailure || !r.End.Equal(w.clk.Now()) ||
			r.Status != 200 || !strings.Contains(r.Reason, "ended by n2") {
			t.Errorf("record %+v: want n1's call ended by takeover now, by n2", r)
		}
	}
	if left, _ := w.calls.List(ctx, "n1"); len(left) != 0 {
		t.Errorf("%d snapshots left of the dead node's calls", len(left))
	}
}

// TestOneTakerWins: of two survivors sweeping, one ends each dead
// node's calls; and a BYE nobody answers still ends the call with its
// record.
func TestOneTakerWins(t *testing.T) {
	w := newWorld()
	w.net.code = 0
	ctx := context.Background()
	w.beat("n1")
	for i := range 5 {
		_ = w.calls.Put(ctx, "n1", snapshot("c"+strconv.Itoa(i), 1))
	}
	n2, n3 := w.node("n2"), w.node("n3")
	for _, n := range []*node{n2, n3} {
		_, _ = n.t.Sweep(ctx) // each has watched the members since
	}
	w.clk.Advance(time.Minute)
	w.beat("n2")
	w.beat("n3")
	var wg sync.WaitGroup
	for _, n := range []*node{n2, n3} {
		wg.Go(func() { _, _ = n.t.Sweep(ctx) })
	}
	wg.Wait()
	if got := len(n2.records) + len(n3.records); got != 5 || len(n2.records) != 0 && len(n3.records) != 0 {
		t.Errorf("n2 wrote %d records and n3 %d: want 5 by one of them", len(n2.records), len(n3.records))
	}
	if len(w.net.sent) != 10 {
		t.Errorf("%d BYEs, want 10", len(w.net.sent))
	}
}

// TestNotSelf: a node never takes itself over in a sweep, however old
// its own entry (a node whose beats fail still holds its calls), but
// EndLeftovers at its restart ends what its last run left.
func TestNotSelf(t *testing.T) {
	w := newWorld()
	ctx := context.Background()
	w.beat("n1")
	_ = w.calls.Put(ctx, "n1", snapshot("c0", 1))
	n1 := w.node("n1")
	_, _ = n1.t.Sweep(ctx)
	w.clk.Advance(time.Hour)
	if n, _ := n1.t.Sweep(ctx); n != 0 {
		t.Fatalf("n1 ended %d of its own calls in a sweep", n)
	}
	if n, err := n1.t.EndLeftovers(ctx); n != 1 || err != nil || len(w.net.sent) != 2 {
		t.Fatalf("EndLeftovers ended %d (%v) with %d BYEs, want 1 call and 2 BYEs", n, err, len(w.net.sent))
	}
	if r := n1.records[0]; r.Disposition != cdr.EndedByTakeover || !strings.Contains(r.Reason, "restarted") {
		t.Errorf("leftover record %+v", r)
	}
}

// TestOutageGrace: after the members could not be read (Redis down,
// every beat failing), a sweep takes no node over until it has watched
// them for three heartbeat intervals: a live node whose last beat grew
// old during the outage beats again in that time, and a node that does
// not is taken over after it.
func TestOutageGrace(t *testing.T) {
	w := newWorld()
	ctx := context.Background()
	w.beat("n1")
	w.beat("n3")
	_ = w.calls.Put(ctx, "n1", snapshot("c1", 1))
	_ = w.calls.Put(ctx, "n3", snapshot("c3", 1))
	n2 := w.node("n2")
	_, _ = n2.t.Sweep(ctx)
	w.ms.Fail(errors.New("connection refused"))
	w.clk.Advance(time.Minute)
	if _, err := n2.t.Sweep(ctx); err == nil {
		t.Fatal("sweep with the members unreadable gave no error")
	}
	w.ms.Fail(nil)
	for i := range 3 {
		if n, _ := n2.t.Sweep(ctx); n != 0 {
			t.Fatalf("sweep %d after the outage ended %d calls, want none yet", i, n)
		}
		if i == 1 {
			w.beat("n3") // alive: it beats again once Redis is back
		}
		w.clk.Advance(time.Second)
	}
	n, _ := n2.t.Sweep(ctx)
	if n != 1 || len(n2.records) != 1 || n2.records[0].CallID != "a-c1" {
		t.Errorf("%d calls ended (%+v), want n1's alone", n, n2.records)
	}
}

// TestCSeqGapCoversSnapshotStep: a takeover's BYE jumps past every CSeq
// the dead node may have sent since the snapshot it last wrote.
func TestCSeqGapCoversSnapshotStep(t *testing.T) {
	if CSeqGap <= b2bua.SnapshotSeqStep {
		t.Errorf("CSeqGap %d, not past b2bua.SnapshotSeqStep %d", CSeqGap, b2bua.SnapshotSeqStep)
	}
}
