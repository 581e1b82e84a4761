package server

import (
	"context"
	"net"
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
	cfg := journalConfig(t)
	path := writeJournal(t, cfg, journalRow("node-a", "up-1"), journalRow("node-b", "up-2"))

	before := time.Now()
	s, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	st, err := cdr.OpenSQLite(path)
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

// TestNoRecoveryWithoutTheAddresses: a server that cannot bind its
// listener (another one runs there, on the same journal) leaves the
// journal alone: its rows are the running server's calls in progress,
// not leftovers of a crash.
func TestNoRecoveryWithoutTheAddresses(t *testing.T) {
	cfg := journalConfig(t)
	taken, err := net.ListenPacket("udp", "127.0.0.1:0") // the running server's
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg.Listen[0].Port = taken.LocalAddr().(*net.UDPAddr).Port
	path := writeJournal(t, cfg, journalRow("node-a", "up-1"))

	s, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Fatal("Start bound an address in use")
	}
	st, err := cdr.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := st.List(context.Background(), cdr.Query{}); err != nil || len(got) != 0 {
		t.Errorf("records %+v, %v; want none: the call is the running server's", got, err)
	}
	if n, err := st.Recover(context.Background(), "node-a", time.Now()); err != nil || n != 1 {
		t.Errorf("the running server's row: Recover = %d, %v; want it still in the journal", n, err)
	}
}

// journalConfig is a server of node-a keeping call records in SQLite.
func journalConfig(t *testing.T) *config.Config {
	cfg := testConfig(t)
	cfg.Admin.Listen, cfg.Storage.Engine, cfg.CDR.Node, cfg.CDR.Enabled = "", config.EngineSQLite, "node-a", true
	return cfg
}

// journalRow is the journal row of an answered call of node's, set up a
// minute ago.
func journalRow(node, id string) cdr.Change {
	setup := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	return cdr.Change{Open: true, Record: cdr.Record{Node: node, CallID: id, BCallID: "b-" + id, Caller: "sip:alice@example.com",
		Callee: "sip:bob@example.com", Setup: setup, Ringing: setup.Add(time.Second), Answered: setup.Add(2 * time.Second), Status: 200}}
}

// writeJournal commits rows to the SQLite database in cfg's data
// directory, as a server killed with those calls up leaves them, and
// returns the database's path.
func writeJournal(t *testing.T, cfg *config.Config, rows ...cdr.Change) string {
	t.Helper()
	path := filepath.Join(cfg.DataDir, subscriber.DBFile)
	st, err := cdr.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Commit(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	return path
}
