package watchers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/sqldb"
)

// component names this package's rows in schema_migrations.
const component = "watchers"

// Schema changes per engine, in order; version n is the n-th. They are
// append-only. Times are integer microseconds since 1970.
var (
	sqliteMigrations = []string{`CREATE TABLE watcher_policy (
		usr      TEXT    NOT NULL,
		watcher  TEXT    NOT NULL,
		list     TEXT    NOT NULL CHECK (list IN ('allow', 'block')),
		added_us INTEGER NOT NULL,
		PRIMARY KEY (usr, watcher)
	);`, `CREATE TABLE watcher_policy_changes (
		usr        TEXT    NOT NULL,
		changed_us INTEGER NOT NULL
	);
	CREATE INDEX watcher_policy_changes_at ON watcher_policy_changes (changed_us);`}
	postgresMigrations = []string{`CREATE TABLE watcher_policy (
		usr      TEXT   NOT NULL,
		watcher  TEXT   NOT NULL,
		list     TEXT   NOT NULL CHECK (list IN ('allow', 'block')),
		added_us BIGINT NOT NULL,
		PRIMARY KEY (usr, watcher)
	);`, `CREATE TABLE watcher_policy_changes (
		usr        TEXT   NOT NULL,
		changed_us BIGINT NOT NULL
	);
	CREATE INDEX watcher_policy_changes_at ON watcher_policy_changes (changed_us);`}
)

// SQL is a Store in SQLite or PostgreSQL. The lists are what a user
// decided: SQLite syncs every commit fully.
type SQL struct {
	db        *sql.DB
	clk       clock.Clock
	closeOnce sync.Once
	closeErr  error
}

// OpenSQLite opens (creating it if needed) the SQLite database at path
// and brings its schema up to date.
func OpenSQLite(path string, clk clock.Clock) (*SQL, error) {
	db, err := sqldb.OpenSQLite(path, sqldb.SyncFull)
	if err != nil {
		return nil, fmt.Errorf("watchers: %w", err)
	}
	return open(context.Background(), db, false, clk)
}

// OpenPostgres connects to PostgreSQL (a DSN as pgx takes it) and brings
// the schema up to date.
func OpenPostgres(ctx context.Context, dsn string, clk clock.Clock) (*SQL, error) {
	return Open(ctx, "postgres", "", dsn, clk)
}

// Open opens the store a server or the command line is configured with:
// engine "sqlite" (or "") uses sqldb.DBFile in dataDir; "postgres" dsn.
func Open(ctx context.Context, engine, dataDir, dsn string, clk clock.Clock) (*SQL, error) {
	db, postgres, err := sqldb.Open(engine, dataDir, dsn, sqldb.SyncFull)
	if err != nil {
		return nil, fmt.Errorf("watchers: %w", err)
	}
	return open(ctx, db, postgres, clk)
}

func open(ctx context.Context, db *sql.DB, postgres bool, clk clock.Clock) (*SQL, error) {
	if err := sqldb.Prepare(ctx, db, postgres, component, sqliteMigrations, postgresMigrations); err != nil {
		return nil, fmt.Errorf("watchers: %w", err)
	}
	return &SQL{db: db, clk: clk}, nil
}

// Put implements Store: one upsert, so a watcher moves between the
// lists atomically, and the change noted in the same transaction.
func (s *SQL) Put(ctx context.Context, e Entry) error {
	return s.fail("put", s.inTx(ctx, e.User, func(tx *sql.Tx, now int64) (bool, error) {
		_, err := tx.ExecContext(ctx, `INSERT INTO watcher_policy (usr, watcher, list, added_us) VALUES ($1, $2, $3, $4)
			ON CONFLICT (usr, watcher) DO UPDATE SET list = excluded.list, added_us = excluded.added_us`,
			e.User, e.Watcher, string(e.List), now)
		return err == nil, err
	}))
}

// Remove implements Store.
func (s *SQL) Remove(ctx context.Context, user, watcher string) (bool, error) {
	var removed bool
	err := s.inTx(ctx, user, func(tx *sql.Tx, _ int64) (bool, error) {
		res, err := tx.ExecContext(ctx, `DELETE FROM watcher_policy WHERE usr = $1 AND watcher = $2`, user, watcher)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		removed = n > 0
		return removed, err
	})
	return removed, s.fail("remove", err)
}

// inTx runs fn in a transaction and, when fn reports a change, notes it
// for Changed and forgets changes past ChangesKept.
func (s *SQL) inTx(ctx context.Context, user string, fn func(tx *sql.Tx, now int64) (bool, error)) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := s.clk.Now()
	changed, err := fn(tx, now.UnixMicro())
	if err != nil || !changed {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM watcher_policy_changes WHERE changed_us < $1`, now.Add(-ChangesKept).UnixMicro()); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO watcher_policy_changes (usr, changed_us) VALUES ($1, $2)`, user, now.UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}

// Changed implements Store.
func (s *SQL) Changed(ctx context.Context, since time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT usr FROM watcher_policy_changes WHERE changed_us >= $1`, since.UnixMicro())
	if err != nil {
		return nil, s.fail("changed", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, s.fail("changed", err)
		}
		out = append(out, u)
	}
	return out, s.fail("changed", rows.Err())
}

// List implements Store.
func (s *SQL) List(ctx context.Context, user string) ([]Entry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT usr, watcher, list, added_us FROM watcher_policy
		WHERE $1 = '' OR usr = $1`, user)
	if err != nil {
		return nil, s.fail("list", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var added int64
		if err := rows.Scan(&e.User, &e.Watcher, &e.List, &added); err != nil {
			return nil, s.fail("list", err)
		}
		e.Added = time.UnixMicro(added).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list", err)
	}
	sortEntries(out)
	return out, nil
}

// Close implements Store.
func (s *SQL) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.db.Close() })
	return s.closeErr
}

func (s *SQL) fail(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrConnDone) || err.Error() == "sql: database is closed" {
		return ErrClosed
	}
	return fmt.Errorf("watchers: %s: %w", what, err)
}

var _ Store = (*SQL)(nil)
