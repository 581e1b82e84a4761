package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/parley-sip/parley/location"

	// modernc's SQLite is the C library translated to Go: the binary stays
	// static and cgo-free. It registers the "sqlite" driver.
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQL of the SQLite engine.
const sqlitePurge = `DELETE FROM bindings WHERE (aor, contact, instance_id, reg_id) IN
	(SELECT aor, contact, instance_id, reg_id FROM bindings WHERE expires <= ? LIMIT ?)`

var (
	sqliteScan = `SELECT ` + columns + ` FROM bindings ORDER BY aor`
	sqliteRead = `SELECT ` + columns + ` FROM bindings WHERE aor = ?`
)

// sqliteDB is the SQLite backend.
type sqliteDB struct {
	db         *sql.DB
	purge, sel *sql.Stmt
	// del and ins delete the rows of 1, 2, 4 … 64 AORs and insert as
	// many rows in one statement each: a group costs a few statements,
	// not two per REGISTER, and the statement overhead of the translated
	// SQLite is what limits a single writer.
	del, ins chunked
}

// OpenSQLite opens (creating if needed) the SQLite database at path, brings
// its schema up to date, loads every live binding into memory and purges
// the expired ones. The file may be shared with other packages' tables
// (the subscriber store's parley.db).
func OpenSQLite(path string, opts ...Option) (*Store, error) {
	cfg := newConfig(opts)
	db, err := openSQLiteDB(path, cfg.sync)
	if err != nil {
		return nil, err
	}
	return open(context.Background(), db, cfg)
}

// sqliteDSN configures every connection the pool opens: WAL, so the
// load and resync reads run beside the writer; the chosen synchronous
// level; a busy timeout, so a second process (parley user add) waits its
// turn instead of failing; and BEGIN IMMEDIATE, so a transaction takes the
// write lock up front rather than failing to upgrade a read lock.
func sqliteDSN(path string, sync Sync) string {
	return "file:" + path + "?_busy_timeout=5000&_journal_mode=WAL&_synchronous=" + sync.pragma() + "&_txlock=immediate"
}

func openSQLiteDB(path string, sync Sync) (*sqliteDB, error) {
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("location/sqlstore: SQLite path %q must not contain '?' or '#'", path)
	}
	db, err := sql.Open("sqlite", sqliteDSN(path, sync))
	if err != nil {
		return nil, fmt.Errorf("location/sqlstore: open %s: %w", path, err)
	}
	// One writer plus a few readers; more connections would only contend
	// for SQLite's single write lock.
	db.SetMaxOpenConns(4)
	s := &sqliteDB{db: db}
	if err := s.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("location/sqlstore: %s: %w", path, err)
	}
	return s, nil
}

// init migrates the schema and prepares the statements the writer reuses.
func (s *sqliteDB) init() error {
	ctx := context.Background()
	if err := s.migrate(ctx); err != nil {
		return err
	}
	var err error
	if s.purge, err = s.db.PrepareContext(ctx, sqlitePurge); err != nil {
		return err
	}
	if s.sel, err = s.db.PrepareContext(ctx, sqliteRead); err != nil {
		return err
	}
	if err = s.del.prepare(ctx, s.db, deleteSQL); err != nil {
		return err
	}
	return s.ins.prepare(ctx, s.db, insertSQL)
}

func (s *sqliteDB) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := sqliteMigrations.apply(ctx, sqlTx{tx}); err != nil {
		return err
	}
	return tx.Commit()
}

// sqlTx adapts a database/sql transaction to migrationTx.
type sqlTx struct{ tx *sql.Tx }

func (t sqlTx) exec(ctx context.Context, query string, args ...any) error {
	_, err := t.tx.ExecContext(ctx, query, args...)
	return err
}

func (t sqlTx) version(ctx context.Context) (int, error) {
	var v int
	err := t.tx.QueryRowContext(ctx, versionQuery, component).Scan(&v)
	return v, err
}

// commit implements backend. Purges go first; then, since a group holds
// each AOR once, every AOR's old rows can be deleted before any new row
// is inserted, in a few multi-row statements.
func (s *sqliteDB) commit(ctx context.Context, cs []*change) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var aors, rows []any
	for _, c := range cs {
		if c.purge {
			if err := s.purgeRows(ctx, tx, c); err != nil {
				return err
			}
			continue
		}
		aors = append(aors, c.aor)
		rows = append(rows, c.args...)
	}
	if err := s.del.exec(ctx, tx, aors, 1); err != nil {
		return err
	}
	if err := s.ins.exec(ctx, tx, rows, len(columnList)); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *sqliteDB) purgeRows(ctx context.Context, tx *sql.Tx, c *change) error {
	res, err := tx.StmtContext(ctx, s.purge).ExecContext(ctx, c.before, c.limit)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	c.purged = int(n)
	return err
}

// scan implements backend.
func (s *sqliteDB) scan(ctx context.Context, fn func(b *location.Binding) error) error {
	rows, err := s.db.QueryContext(ctx, sqliteScan)
	if err != nil {
		return fmt.Errorf("location/sqlstore: load: %w", err)
	}
	return eachRow(rows, fn)
}

// read implements backend.
func (s *sqliteDB) read(ctx context.Context, aor string) ([]location.Binding, error) {
	rows, err := s.sel.QueryContext(ctx, aor)
	if err != nil {
		return nil, err
	}
	var bs []location.Binding
	err = eachRow(rows, func(b *location.Binding) error {
		bs = append(bs, *b)
		return nil
	})
	return bs, err
}

// eachRow decodes rows into bindings for fn and closes rows.
func eachRow(rows *sql.Rows, fn func(b *location.Binding) error) error {
	defer rows.Close()
	return decodeRows(rows, fn)
}

// rowSource is what database/sql's and pgx's row cursors share.
type rowSource interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// decodeRows decodes every row into a binding for fn; the caller closes
// the cursor, whose Close differs between the two drivers.
func decodeRows(rows rowSource, fn func(b *location.Binding) error) error {
	var r row
	dest := r.dest()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		b, err := r.binding()
		if err != nil {
			return err
		}
		if err := fn(&b); err != nil {
			return err
		}
	}
	return rows.Err()
}

// dataError implements backend: a constraint, a value too big, a type
// mismatch are about a row; anything else (I/O, a full disk, a lock) is
// about the database.
func (s *sqliteDB) dataError(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff { // the primary result code
	case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH:
		return true
	}
	return false
}

// close implements backend.
func (s *sqliteDB) close() error {
	return s.db.Close()
}
