package cdr

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-sip/parley/sqldb"
)

// SQL is a Store in SQLite or PostgreSQL. Both run the same statements
// but for the id column's definition.
type SQL struct {
	db    *sql.DB
	stmts statements
	// wmu serialises the writes (Add, Commit): they share plan's
	// scratch, and the SQLite database takes one writer at a time anyway.
	wmu  sync.Mutex
	plan batchPlan

	closeOnce sync.Once
	closeErr  error
}

// OpenSQLite opens (creating it if needed) the SQLite database at path,
// which may be the server's parley.db: the records keep a table of their
// own. Each commit is synced in full, so a record is on disk when Add
// returns, even across a power cut; the Writer's group commits make that
// one sync per batch.
func OpenSQLite(path string) (*SQL, error) {
	db, err := sqldb.OpenSQLite(path, sqldb.SyncFull)
	if err != nil {
		return nil, fmt.Errorf("cdr: %w", err)
	}
	return open(context.Background(), db, false)
}

// OpenPostgres connects to PostgreSQL (a URL or key=value DSN; a
// search_path parameter selects a schema).
func OpenPostgres(ctx context.Context, dsn string) (*SQL, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("cdr: open PostgreSQL: %w", err)
	}
	return open(ctx, db, true)
}

func open(ctx context.Context, db *sql.DB, postgres bool) (*SQL, error) {
	if err := sqldb.Ping(ctx, db); err != nil {
		return nil, fmt.Errorf("cdr: %w", err)
	}
	steps := sqliteSchema
	if postgres {
		steps = postgresSchema
	}
	if err := sqldb.Migrate(ctx, db, postgres, component, steps); err != nil {
		db.Close()
		return nil, err
	}
	return &SQL{db: db, stmts: statements{numbered: postgres}}, nil
}

const columns = `node, call_id, b_call_id, caller, callee, dialled, trunk, source,
	setup_us, ringing_us, answered_us, end_us, disposition, hung_up_by, status, reason, route, answered_by, transferred_by`

// Add implements Store, in multi-row statements as Commit writes.
func (s *SQL) Add(ctx context.Context, recs []Record) error {
	ctx = s.writeContext(ctx)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	p := &s.plan
	for i := range recs {
		p.recs = append(p.recs, &recs[i])
	}
	defer p.reset()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cdr: add: %w", err)
	}
	defer tx.Rollback()
	if p.args, err = s.execRows(ctx, tx, insertRecords, p.recs, p.args); err != nil {
		return fmt.Errorf("cdr: add: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cdr: add: commit: %w", err)
	}
	return nil
}

// writeContext is the context a write runs under: on SQLite, ctx without
// its deadline. modernc's driver watches a context that can end with a
// goroutine per statement (BEGIN, each chunk, COMMIT) and a call back
// into Go every 1 000 steps of SQLite's VM: at 400 calls/s a 3 s trace
// of the B2BUA had 789 of those goroutines waiting 430 ms in all for a P
// the message path wanted too (docs/PERFORMANCE.md, issue 16). A
// SQLite write is bounded without it: its lock by the busy timeout, and
// a local disk's write cannot be interrupted anyway. PostgreSQL keeps
// the deadline: there it bounds a network.
func (s *SQL) writeContext(ctx context.Context) context.Context {
	if s.stmts.numbered {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// List implements Store.
func (s *SQL) List(ctx context.Context, q Query) ([]Record, error) {
	where, args := q.where()
	order := "ASC"
	if q.Newest {
		order = "DESC"
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, `+columns+` FROM cdrs`+where+
		` ORDER BY id `+order+` LIMIT `+strconv.Itoa(q.limit()), args...)
	if err != nil {
		return nil, fmt.Errorf("cdr: list: %w", err)
	}
	defer rows.Close()
	out := []Record{}
	for rows.Next() {
		var r Record
		var setup, ringing, answered, end int64
		if err := rows.Scan(&r.ID, &r.Node, &r.CallID, &r.BCallID, &r.Caller, &r.Callee, &r.Dialled, &r.Trunk, &r.Source,
			&setup, &ringing, &answered, &end, &r.Disposition, &r.HungUpBy, &r.Status, &r.Reason, &r.Route, &r.AnsweredBy, &r.TransferredBy); err != nil {
			return nil, fmt.Errorf("cdr: list: %w", err)
		}
		r.Setup, r.Ringing, r.Answered, r.End = fromMicros(setup), fromMicros(ringing), fromMicros(answered), fromMicros(end)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cdr: list: %w", err)
	}
	return out, nil
}

// where is the Query as a WHERE clause and its arguments. Substrings are
// matched with LIKE on lower-cased text, escaped, so that both engines
// agree (SQLite's LIKE folds ASCII case, PostgreSQL's does not).
func (q *Query) where() (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	switch {
	case q.Newest && q.Before > 0:
		add("id < ?", q.Before)
	case !q.Newest && q.After > 0:
		add("id > ?", q.After)
	}
	if q.Disposition != "" {
		add("disposition = ?", string(q.Disposition))
	}
	if !q.Since.IsZero() {
		add("setup_us >= ?", micros(q.Since))
	}
	if !q.Until.IsZero() {
		add("setup_us < ?", micros(q.Until))
	}
	if q.Caller != "" {
		add(`LOWER(caller) LIKE ? ESCAPE '\'`, likePattern(q.Caller))
	}
	if q.Callee != "" {
		add(`LOWER(callee) LIKE ? ESCAPE '\'`, likePattern(q.Callee))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func likePattern(sub string) string { return "%" + likeEscaper.Replace(strings.ToLower(sub)) + "%" }

// Ping reports whether the database answers.
func (s *SQL) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close implements Store.
func (s *SQL) Close() error {
	s.closeOnce.Do(func() {
		s.stmts.close()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// Times are integer microseconds since 1970, 0 for none, because the two
// engines share no timestamp type that round-trips identically.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
