package server

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/subscriber"
)

// TestRecoverCallsAtStart: the journal rows a kill -9 left become
// interrupted records of this node when the server starts; another
// node's rows (its calls may still be up) stay.
func TestRecoverCallsAtStart(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admin.Listen, cfg.Storage.Engine, cfg.CDR.Node, cfg.CDR.Enabled = "", config.EngineSQLite, "node-a", true
	path := filepath.Join(cfg.DataDir, subscriber.DBFile)
	st, err := cdr.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	setup := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	row := func(node, id string) cdr.Change {
		return cdr.Change{Open: true, Record: cdr.Record{Node: node, CallID: id, BCallID: "b-" + id, Caller: "sip:alice@example.com",
			Callee: "sip:bob@example.com", Setup: setup, Ringing: setup.Add(time.Second), Answered: setup.Add(2 * time.Second), Status: 200}}
	}
	if err := st.Commit(context.Background(), []cdr.Change{row("node-a", "up-1"), row("node-b", "up-2")}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	before := time.Now()
	s, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	st, err = cdr.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.List(context.Background(), cdr.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("records %+v, want node-a's call alone", got)
	}
	r := got[0]
	if r.CallID != "up-1" || r.Disposition != cdr.Interrupted || r.End.Before(before) || r.Billable() < 58 || r.Reason != cdr.RecoveredReason {
		t.Errorf("record %+v (billable %d): want up-1 interrupted, ending at the restart", r, r.Billable())
	}
	if n, err := st.Recover(context.Background(), "node-b", time.Now()); err != nil || n != 1 {
		t.Errorf("node-b's row: Recover = %d, %v; want it still in the journal", n, err)
	}
}
