package cdr

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/sqldb"
)

// countingDriver wraps the SQLite driver and counts what reaches it: the
// statements executed and those compiled, and the transactions and
// statements given a context that can end (modernc's driver watches each
// with a goroutine of its own).
type countingDriver struct {
	inner                        driver.Driver
	execs, prepares, cancellable atomic.Int64
}

func (d *countingDriver) watch(ctx context.Context) {
	if ctx.Done() != nil {
		d.cancellable.Add(1)
	}
}

func (d *countingDriver) Open(name string) (driver.Conn, error) {
	c, err := d.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, d: d}, nil
}

type countingConn struct {
	driver.Conn
	d *countingDriver
}

func (c *countingConn) Prepare(q string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), q)
}

func (c *countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	c.d.prepares.Add(1)
	s, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &countingStmt{Stmt: s, d: c.d}, nil
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.d.watch(ctx)
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

type countingStmt struct {
	driver.Stmt
	d *countingDriver
}

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.d.execs.Add(1)
	s.d.watch(ctx)
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}

var (
	registerCounting sync.Once
	counting         *countingDriver
)

// openCounting opens a SQLite store, as OpenSQLite does, through the
// counting driver.
func openCounting(tb testing.TB) *SQL {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "parley.db")
	plain, err := sqldb.OpenSQLite(path, sqldb.SyncFull)
	if err != nil {
		tb.Fatal(err)
	}
	registerCounting.Do(func() {
		counting = &countingDriver{inner: plain.Driver()}
		sql.Register("cdr-counting-sqlite", counting)
	})
	plain.Close()
	db, err := sql.Open("cdr-counting-sqlite", "file:"+path+"?_busy_timeout=5000&_journal_mode=WAL&_synchronous=FULL&_txlock=immediate")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := open(context.Background(), db, false)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// answeredCall is call i of node n as its journal row at the answer has
// it; endedCall is its record.
func answeredCall(i int) Record {
	setup := time.Unix(int64(1000+i), 0)
	return Record{Node: "n", CallID: fmt.Sprintf("c%d", i), BCallID: fmt.Sprintf("b%d", i), Caller: "sip:alice@example.com",
		Callee: "sip:bob@example.com", Dialled: "bob", Source: "127.0.0.1:5060", Setup: setup,
		Ringing: setup.Add(time.Second), Answered: setup.Add(2 * time.Second), Status: 200, Disposition: Answered}
}

func endedCall(i int) Record {
	r := answeredCall(i)
	r.End, r.HungUpBy = r.Answered.Add(time.Minute), Caller
	return r
}

// heldBatches is what a commit sees while calls are held longer than a
// commit takes: batch j answers calls [j*per, (j+1)*per) and ends the
// calls the batch before it answered.
func heldBatches(batches, per int) [][]Change {
	out := make([][]Change, batches)
	for j := range out {
		for i := j * per; i < (j+1)*per; i++ {
			out[j] = append(out[j], Change{Record: answeredCall(i), Open: true})
		}
		for i := (j - 1) * per; i < j*per; i++ { // the first ends calls never answered here: the same shape
			out[j] = append(out[j], Change{Record: endedCall(i)})
		}
	}
	return out
}

// shortBatch is calls [from, from+n) answered and ended in one commit.
func shortBatch(from, n int) []Change {
	var out []Change
	for i := from; i < from+n; i++ {
		out = append(out, Change{Record: answeredCall(i), Open: true}, Change{Record: endedCall(i)})
	}
	return out
}

// TestStatementsPerCommit counts what a commit asks of SQLite: its rows
// go in multi-row statements (one per power-of-two chunk and kind), a
// call's record supersedes its journal row in the same commit, and
// nothing is compiled once each shape has been seen.
func TestStatementsPerCommit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batches [][]Change
		execs   int64 // per batch, after the first
	}{
		{"calls held across commits, 16 a commit", heldBatches(5, 16), 3}, // records, deletes, rows
		{"short calls, row and record in one commit", [][]Change{shortBatch(0, 16), shortBatch(16, 16), shortBatch(32, 16)}, 2},
		{"13 records: chunks of 8, 4 and 1", [][]Change{shortBatch(0, 13), shortBatch(13, 13)}, 6},
		{"100 records: chunks of 64, 32 and 4", [][]Change{shortBatch(0, 100), shortBatch(100, 100)}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openCounting(t)
			ctx := context.Background()
			// The first batch prepares what the shape needs.
			if err := s.Commit(ctx, tc.batches[0]); err != nil {
				t.Fatal(err)
			}
			counting.execs.Store(0)
			counting.prepares.Store(0)
			for _, b := range tc.batches[1:] {
				if err := s.Commit(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			n := int64(len(tc.batches) - 1)
			if got := counting.execs.Load(); got != tc.execs*n {
				t.Errorf("%d statements for %d commits, want %d each", got, n, tc.execs)
			}
			if got := counting.prepares.Load(); got != 0 {
				t.Errorf("%d statements compiled after the first commit, want 0", got)
			}
		})
	}
}

// TestHeldCallsPerCall: the statements per call of calls held across
// commits, one journal row each, go down
// with the batch: 3 statements per commit, whatever its size up to
// maxRows.
func TestHeldCallsPerCall(t *testing.T) {
	s := openCounting(t)
	ctx := context.Background()
	batches := heldBatches(11, 32)
	if err := s.Commit(ctx, batches[0]); err != nil {
		t.Fatal(err)
	}
	counting.execs.Store(0)
	for _, b := range batches[1:] {
		if err := s.Commit(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	calls := 10 * 32
	if got := float64(counting.execs.Load()) / float64(calls); got > 3.0/32 {
		t.Errorf("%.3f statements per call, want at most %.3f", got, 3.0/32)
	}
	if n, err := s.Recover(ctx, "n", time.Unix(1e6, 0)); err != nil || n != 32 {
		t.Errorf("Recover = %d, %v; want the 32 calls of the last batch, still up", n, err)
	}
}

// TestDeleteUsesTheIndex: the multi-row removal of journal rows looks
// each call up in the unique index; a scan of cdr_open per commit would
// cost in proportion to the calls held (100 000 at the target).
func TestDeleteUsesTheIndex(t *testing.T) {
	s := openCounting(t)
	args := make([]any, 0, 8*keyArgs)
	for i := range 8 {
		args = append(args, "n", fmt.Sprint(i), int64(i))
	}
	rows, err := s.db.Query("EXPLAIN QUERY PLAN "+statementSQL(deleteOpen, 8, false), args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if len(plan) == 0 {
		t.Fatal("no plan")
	}
	for _, d := range plan {
		if strings.HasPrefix(d, "SCAN") {
			t.Errorf("plan %q scans: %v", d, plan)
		}
	}
}

// TestSQLiteWritesCannotBeCancelled: a commit under the Writer's deadline
// reaches SQLite with a context that cannot end. modernc's driver starts
// a goroutine per statement (BEGIN, each chunk, COMMIT) to watch one that
// can, and calls back into Go every 1 000 steps of SQLite's VM: each
// one a P the message path may be waiting for.
func TestSQLiteWritesCannotBeCancelled(t *testing.T) {
	s := openCounting(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	counting.cancellable.Store(0)
	counting.execs.Store(0)
	for _, b := range heldBatches(3, 4) {
		if err := s.Commit(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Add(ctx, []Record{endedCall(100)}); err != nil {
		t.Fatal(err)
	}
	if counting.execs.Load() == 0 {
		t.Fatal("no statement reached the driver")
	}
	if got := counting.cancellable.Load(); got != 0 {
		t.Errorf("%d transactions and statements with a context that can end, want 0", got)
	}
}
