package message

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

// SQL is a Store in SQLite or PostgreSQL, so that waiting messages
// survive a restart. A message is what a user wrote, which no phone
// sends again: SQLite syncs every commit fully.
type SQL struct {
	db       *sql.DB
	postgres bool
	// pending is prepared once: every REGISTER's delivery run asks it,
	// and parsing the query again each time was a fifth of a loaded
	// registrar's CPU.
	pending   *sql.Stmt
	waiting   *waiting // SQLite only: who has messages, so most reads are skipped
	clk       clock.Clock
	closeOnce sync.Once
	closeErr  error
}

// OpenSQLite opens (creating it if needed) the SQLite database at path,
// usually the data directory's sqldb.DBFile beside the other stores'
// tables, and brings its schema up to date.
func OpenSQLite(path string, clk clock.Clock) (*SQL, error) {
	db, err := sqldb.OpenSQLite(path, sqldb.SyncFull)
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	return open(context.Background(), db, false, clk)
}

// OpenPostgres connects to PostgreSQL (a DSN as pgx takes it; a
// search_path parameter selects a schema) and brings the schema up to
// date.
func OpenPostgres(ctx context.Context, dsn string, clk clock.Clock) (*SQL, error) {
	return Open(ctx, "postgres", "", dsn, clk)
}

// Open opens the store a server is configured with: engine "sqlite" (or
// "") uses sqldb.DBFile in dataDir, creating the directory; "postgres"
// uses dsn.
func Open(ctx context.Context, engine, dataDir, dsn string, clk clock.Clock) (*SQL, error) {
	db, postgres, err := sqldb.Open(engine, dataDir, dsn, sqldb.SyncFull)
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	return open(ctx, db, postgres, clk)
}

// sqliteConns bounds the store's SQLite connections. Every REGISTER
// starts a delivery run that reads the user's waiting messages; under a
// load of REGISTERs hundreds of runs read at once, and each that found
// no idle connection opened one (pragmas, schema read: dearer than the
// query) only to close it again. SQLite's reads are CPU-bound, so runs
// waiting for one of a few connections lose nothing. No method holds a
// connection while it asks for another, so the bound cannot deadlock.
const sqliteConns = 4

func open(ctx context.Context, db *sql.DB, postgres bool, clk clock.Clock) (*SQL, error) {
	if !postgres {
		db.SetMaxOpenConns(sqliteConns)
		db.SetMaxIdleConns(sqliteConns)
	}
	if err := sqldb.Prepare(ctx, db, postgres, component, sqliteMigrations, postgresMigrations); err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	pending, err := db.PrepareContext(ctx, `SELECT `+columns+` FROM offline_messages WHERE usr = $1 ORDER BY id`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("message: %w", err)
	}
	s := &SQL{db: db, postgres: postgres, clk: clk, pending: pending}
	if !postgres {
		if s.waiting, err = loadWaiting(ctx, db); err != nil {
			s.Close()
			return nil, fmt.Errorf("message: %w", err)
		}
	}
	return s, nil
}

// columns are a message's columns in the order scan reads them.
const columns = `id, usr, from_hdr, to_hdr, date_hdr, content_type, body, stored_us`

// Add implements Store. The quota is read and the row inserted in one
// transaction that holds the user's lock: SQLite's write lock, taken at
// BEGIN (sqldb opens it so), or a PostgreSQL advisory lock on the user.
func (s *SQL) Add(ctx context.Context, m Message, q Quota) (_ Message, err error) {
	// Counted before the commit, uncounted if it fails: see waiting.
	s.waiting.add(m.User, 1)
	defer func() {
		if err != nil {
			s.waiting.add(m.User, -1)
		}
	}()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Message{}, s.fail("add", err)
	}
	defer tx.Rollback()
	if s.postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('message:' || $1))`, m.User); err != nil {
			return Message{}, s.fail("add", err)
		}
	}
	var count int
	var size int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM offline_messages WHERE usr = $1`,
		m.User).Scan(&count, &size); err != nil {
		return Message{}, s.fail("add", err)
	}
	if q.MaxCount > 0 && count >= q.MaxCount {
		return Message{}, ErrCountQuota
	}
	if q.MaxBytes > 0 && size+m.Size() > q.MaxBytes {
		return Message{}, ErrByteQuota
	}
	m.Stored = storeTime(s.clk.Now())
	if m.Body == nil {
		m.Body = []byte{} // the column is NOT NULL
	}
	if err := tx.QueryRowContext(ctx, `INSERT INTO offline_messages
		(usr, from_hdr, to_hdr, date_hdr, content_type, body, size, stored_us)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		m.User, m.From, m.To, m.Date, m.ContentType, m.Body, m.Size(), m.Stored.UnixMicro()).Scan(&m.ID); err != nil {
		return Message{}, s.fail("add", err)
	}
	if err := tx.Commit(); err != nil {
		return Message{}, s.fail("add", err)
	}
	return m, nil
}

// Pending implements Store.
func (s *SQL) Pending(ctx context.Context, user string) ([]Message, error) {
	if !s.waiting.has(user) {
		return nil, nil
	}
	rows, err := s.pending.QueryContext(ctx, user)
	if err != nil {
		return nil, s.fail("pending", err)
	}
	return s.scanAll(rows, "pending")
}

// MayHave implements Screen: SQLite's counts answer it; PostgreSQL,
// which other nodes write to, always may have messages.
func (s *SQL) MayHave(user string) bool { return s.waiting.has(user) }

// Delete implements Store.
func (s *SQL) Delete(ctx context.Context, id int64) (bool, error) {
	var user string
	err := s.db.QueryRowContext(ctx, `DELETE FROM offline_messages WHERE id = $1 RETURNING usr`, id).Scan(&user)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, s.fail("delete", err)
	}
	s.waiting.add(user, -1)
	return true, nil
}

// Lease implements Store: one upsert that takes the lease only when
// there is none, it has run out, or it is the holder's own, so that two
// servers racing for it cannot both win.
func (s *SQL) Lease(ctx context.Context, user, holder string, d time.Duration) (bool, error) {
	now := s.clk.Now()
	var got string
	err := s.db.QueryRowContext(ctx, `INSERT INTO offline_message_leases (usr, holder, until_us) VALUES ($1, $2, $3)
		ON CONFLICT (usr) DO UPDATE SET holder = excluded.holder, until_us = excluded.until_us
		WHERE offline_message_leases.until_us <= $4 OR offline_message_leases.holder = excluded.holder
		RETURNING holder`, user, holder, now.Add(d).UnixMicro(), now.UnixMicro()).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, s.fail("lease", err)
	}
	return got == holder, nil
}

// Release implements Store.
func (s *SQL) Release(ctx context.Context, user, holder string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM offline_message_leases WHERE usr = $1 AND holder = $2`, user, holder)
	return s.fail("release", err)
}

// Expire implements Store; it also forgets leases that ran out, which a
// deliverer that died left behind.
func (s *SQL) Expire(ctx context.Context, before time.Time) (int, error) {
	users, err := s.expireRows(ctx, before)
	if err != nil {
		return 0, s.fail("expire", err)
	}
	for _, u := range users {
		s.waiting.add(u, -1)
	}
	n := len(users)
	if _, err := s.db.ExecContext(ctx, `DELETE FROM offline_message_leases WHERE until_us <= $1`, s.clk.Now().UnixMicro()); err != nil {
		return n, s.fail("expire", err)
	}
	return n, nil
}

// expireRows deletes the messages stored at or before before and returns
// their users, one per message, once the delete is done.
func (s *SQL) expireRows(ctx context.Context, before time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `DELETE FROM offline_messages WHERE stored_us <= $1 RETURNING usr`, before.UnixMicro())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var users []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return users, rows.Close()
}

// Page implements Store.
func (s *SQL) Page(ctx context.Context, user string, after int64, limit int) ([]Message, error) {
	q := `SELECT ` + columns + ` FROM offline_messages WHERE id > $1 AND ($2 = '' OR usr = $2) ORDER BY id`
	args := []any{after, user}
	if limit > 0 {
		q += ` LIMIT $3`
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.fail("page", err)
	}
	return s.scanAll(rows, "page")
}

// Totals implements Store.
func (s *SQL) Totals(ctx context.Context) (int, int64, error) {
	var n int
	var b int64
	err := s.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM offline_messages`).Scan(&n, &b)
	return n, b, s.fail("totals", err)
}

// Close implements Store.
func (s *SQL) Close() error {
	s.closeOnce.Do(func() {
		s.pending.Close()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// fail names the operation in err; a closed database is ErrClosed.
func (s *SQL) fail(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrConnDone) || err.Error() == "sql: database is closed" {
		return ErrClosed
	}
	return fmt.Errorf("message: %s: %w", what, err)
}

func (s *SQL) scanAll(rows *sql.Rows, what string) ([]Message, error) {
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var stored int64
		if err := rows.Scan(&m.ID, &m.User, &m.From, &m.To, &m.Date, &m.ContentType, &m.Body, &stored); err != nil {
			return nil, s.fail(what, err)
		}
		m.Stored = time.UnixMicro(stored).UTC()
		out = append(out, m)
	}
	return out, s.fail(what, rows.Err())
}

var _ Store = (*SQL)(nil)
