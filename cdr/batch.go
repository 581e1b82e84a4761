package cdr

import (
	"context"
	"database/sql"
	"math/bits"
	"strconv"
	"strings"
	"sync"
)

// A commit writes its rows in multi-row statements: one statement per
// chunk of rows rather than one per row, since in the pure-Go SQLite each
// statement's binding, stepping and reset cost more than the row itself.
// Chunks have power-of-two sizes up to maxRows, so a batch of n rows
// takes at most log2(n)+1 statements of each kind (13 rows: 8, 4 and 1),
// and a database connection holds few prepared programs: 7 sizes of 3
// kinds.
const maxRows = 1 << (chunkSizes - 1)

// chunkSizes is how many sizes of chunk there are: 1, 2, 4 ... 64.
const chunkSizes = 7

// stmtKind is one of the statements a commit runs, multi-row.
type stmtKind uint8

const (
	insertRecords stmtKind = iota // the records of ended calls
	upsertOpen                    // the journal rows of calls in progress
	deleteOpen                    // the journal rows of calls that ended
	stmtKinds
)

// keyArgs is how many arguments a deleteOpen row takes: the record's key.
const keyArgs = 3

// recordArgsN is how many arguments a row of records or of the journal
// takes: its columns.
const recordArgsN = 19

// statements holds the multi-row statements, prepared on the database
// once per kind and size: database/sql prepares each again on a
// connection that has not seen it, and then keeps it there, so a commit
// compiles no SQL.
type statements struct {
	// numbered: parameters as $1, $2 ... (PostgreSQL's only form), else
	// as ? (SQLite): modernc's driver copies a named parameter's name out
	// of the C library on every bind, an allocation per argument.
	numbered bool
	mu       sync.Mutex
	set      [stmtKinds][chunkSizes]*sql.Stmt
}

// get returns the statement of kind for rows rows (a power of two up to
// maxRows), preparing it on first use.
func (st *statements) get(ctx context.Context, db *sql.DB, kind stmtKind, rows int) (*sql.Stmt, error) {
	i := bits.Len(uint(rows)) - 1
	st.mu.Lock()
	defer st.mu.Unlock()
	if s := st.set[kind][i]; s != nil {
		return s, nil
	}
	s, err := db.PrepareContext(ctx, statementSQL(kind, rows, st.numbered))
	if err != nil {
		return nil, err
	}
	st.set[kind][i] = s
	return s, nil
}

// close releases the prepared statements.
func (st *statements) close() {
	st.mu.Lock()
	defer st.mu.Unlock()
	for k := range st.set {
		for i, s := range st.set[k] {
			if s != nil {
				s.Close()
				st.set[k][i] = nil
			}
		}
	}
}

// statementSQL is the text of kind for rows rows, its parameters
// numbered ($1 ...) or not (?).
func statementSQL(kind stmtKind, rows int, numbered bool) string {
	var b strings.Builder
	switch kind {
	case insertRecords, upsertOpen:
		table := "cdrs"
		if kind == upsertOpen {
			table = "cdr_open"
		}
		b.WriteString("INSERT INTO " + table + " (" + columns + ") VALUES ")
		for r := range rows {
			if r > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for c := range recordArgsN {
				if c > 0 {
					b.WriteString(", ")
				}
				param(&b, r*recordArgsN+c, numbered)
			}
			b.WriteByte(')')
		}
		if kind == insertRecords {
			b.WriteString(" ON CONFLICT (node, call_id, setup_us) DO NOTHING")
		} else {
			b.WriteString(upsertOpenSet)
		}
	case deleteOpen:
		// OR of the keys rather than a row-value IN (VALUES ...), whose
		// parameters PostgreSQL could not type; both engines look each
		// term up in the unique index.
		b.WriteString("DELETE FROM cdr_open WHERE ")
		for r := range rows {
			if r > 0 {
				b.WriteString(" OR ")
			}
			b.WriteString("(node = ")
			param(&b, r*keyArgs, numbered)
			b.WriteString(" AND call_id = ")
			param(&b, r*keyArgs+1, numbered)
			b.WriteString(" AND setup_us = ")
			param(&b, r*keyArgs+2, numbered)
			b.WriteByte(')')
		}
	}
	return b.String()
}

// upsertOpenSet is what a later journal row of a call changes in its
// earlier one: what a call learns while it is up.
const upsertOpenSet = ` ON CONFLICT (node, call_id, setup_us) DO UPDATE SET b_call_id = excluded.b_call_id,
	callee = excluded.callee, answered_by = excluded.answered_by, transferred_by = excluded.transferred_by,
	ringing_us = excluded.ringing_us, answered_us = excluded.answered_us, status = excluded.status,
	trunk = excluded.trunk, route = excluded.route`

func param(b *strings.Builder, i int, numbered bool) {
	if !numbered {
		b.WriteByte('?')
		return
	}
	b.WriteByte('$')
	b.WriteString(strconv.Itoa(i + 1))
}

// execRows runs kind over rows (records, or keys for deleteOpen) in
// chunks of power-of-two sizes, within tx. args is the caller's scratch
// slice, returned for reuse.
func (s *SQL) execRows(ctx context.Context, tx *sql.Tx, kind stmtKind, rows []*Record, args []any) ([]any, error) {
	for len(rows) > 0 {
		n := min(1<<(bits.Len(uint(len(rows)))-1), maxRows)
		stmt, err := s.stmts.get(ctx, s.db, kind, n)
		if err != nil {
			return args, err
		}
		args = args[:0]
		for _, r := range rows[:n] {
			if kind == deleteOpen {
				args = append(args, r.Node, r.CallID, micros(r.Setup))
			} else {
				args = appendRecordArgs(args, r)
			}
		}
		if _, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, args...); err != nil {
			return args, err
		}
		rows = rows[n:]
	}
	return args, nil
}

// appendRecordArgs appends r's columns in the order of columns.
func appendRecordArgs(args []any, r *Record) []any {
	return append(args, r.Node, r.CallID, r.BCallID, r.Caller, r.Callee, r.Dialled, r.Trunk, r.Source,
		micros(r.Setup), micros(r.Ringing), micros(r.Answered), micros(r.End),
		string(r.Disposition), string(r.HungUpBy), r.Status, r.Reason, r.Route, r.AnsweredBy, r.TransferredBy)
}
