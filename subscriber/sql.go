package subscriber

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parley-sip/parley/sqldb"
)

// DBFile is the name of the SQLite database in the data directory. Other
// stores (location, presence) may share the file: each keeps its own
// tables and its own rows in schema_migrations.
const DBFile = sqldb.DBFile

// SQL is a Store in a SQL database: SQLite or PostgreSQL. Both run the
// same statements; they differ only in how they are opened and in how a
// migration takes its lock.
type SQL struct {
	db        *sql.DB
	postgres  bool
	closeOnce sync.Once
	closeErr  error
}

// OpenSQLite opens (creating it if needed) the SQLite database at path and
// brings its schema up to date. Writes are rare (an operator adding a
// user), so each is synced in full rather than risk losing a password
// change to a power cut.
func OpenSQLite(path string) (*SQL, error) {
	db, err := sqldb.OpenSQLite(path, sqldb.SyncFull)
	if err != nil {
		return nil, fmt.Errorf("subscriber: %w", err)
	}
	return open(context.Background(), db, false)
}

// OpenPostgres connects to PostgreSQL (dsn as pgx takes it: a URL or
// "key=value" pairs; a search_path parameter selects a schema) and brings
// the schema up to date.
func OpenPostgres(ctx context.Context, dsn string) (*SQL, error) {
	return Open(ctx, "postgres", "", dsn)
}

// Open opens the store a server or the command line is configured with:
// engine "sqlite" (or "") uses DBFile in dataDir, creating the directory;
// "postgres" uses dsn.
func Open(ctx context.Context, engine, dataDir, dsn string) (*SQL, error) {
	db, postgres, err := sqldb.Open(engine, dataDir, dsn, sqldb.SyncFull)
	if err != nil {
		return nil, fmt.Errorf("subscriber: %w", err)
	}
	return open(ctx, db, postgres)
}

func open(ctx context.Context, db *sql.DB, postgres bool) (*SQL, error) {
	if err := sqldb.Ping(ctx, db); err != nil {
		return nil, fmt.Errorf("subscriber: %w", err)
	}
	if err := sqldb.Migrate(ctx, db, postgres, component, migrations); err != nil {
		db.Close()
		return nil, err
	}
	return &SQL{db: db, postgres: postgres}, nil
}

// Get implements Store.
func (s *SQL) Get(ctx context.Context, user, domain string) (Subscriber, error) {
	row := s.db.QueryRowContext(ctx,
		`SELECT username, domain, ha1_md5, ha1_sha256, created_us FROM subscribers
		 WHERE username = $1 AND domain = $2`, user, strings.ToLower(domain))
	sub, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Subscriber{}, ErrNotFound
	}
	if err != nil {
		return Subscriber{}, fmt.Errorf("subscriber: get: %w", err)
	}
	return sub, nil
}

// Put implements Store.
func (s *SQL) Put(ctx context.Context, sub Subscriber) error {
	if err := check(sub); err != nil {
		return err
	}
	sub = normalize(sub, time.Now())
	return s.change(ctx, "put", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO subscribers (username, domain, ha1_md5, ha1_sha256, created_us)
			 VALUES ($1, $2, $3, $4, $5)
			 ON CONFLICT (domain, username) DO UPDATE SET
			   ha1_md5 = excluded.ha1_md5, ha1_sha256 = excluded.ha1_sha256,
			   created_us = excluded.created_us`,
			sub.User, sub.Domain, sub.HA1MD5, sub.HA1SHA256, sub.Created.UnixMicro())
		return err
	})
}

// Delete implements Store.
func (s *SQL) Delete(ctx context.Context, user, domain string) error {
	return s.change(ctx, "delete", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`DELETE FROM subscribers WHERE username = $1 AND domain = $2`, user, strings.ToLower(domain))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// change runs fn and bumps the version in one transaction, so that a
// cache never sees the change without the new version.
func (s *SQL) change(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("subscriber: %s: %w", what, err)
	}
	defer tx.Rollback()
	if err := fn(tx); errors.Is(err, ErrNotFound) {
		return err
	} else if err != nil {
		return fmt.Errorf("subscriber: %s: %w", what, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE subscriber_version SET version = version + 1 WHERE id = 1`); err != nil {
		return fmt.Errorf("subscriber: %s: bump version: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("subscriber: %s: %w", what, err)
	}
	return nil
}

// Version implements Versioned.
func (s *SQL) Version(ctx context.Context) (int64, error) {
	var v int64
	if err := s.db.QueryRowContext(ctx, `SELECT version FROM subscriber_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("subscriber: version: %w", err)
	}
	return v, nil
}

// List implements Store. Rows are sorted here, not by ORDER BY, because
// PostgreSQL sorts text by the database's collation and SQLite by bytes:
// sorting in Go gives both engines the same order.
func (s *SQL) List(ctx context.Context, domain string) ([]Subscriber, error) {
	q := `SELECT username, domain, ha1_md5, ha1_sha256, created_us FROM subscribers`
	var args []any
	if domain != "" {
		q += ` WHERE domain = $1`
		args = append(args, strings.ToLower(domain))
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("subscriber: list: %w", err)
	}
	defer rows.Close()
	out := []Subscriber{}
	for rows.Next() {
		sub, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("subscriber: list: %w", err)
		}
		out = append(out, sub)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("subscriber: list: %w", err)
	}
	slices.SortFunc(out, func(a, b Subscriber) int {
		return cmp.Or(cmp.Compare(a.Domain, b.Domain), cmp.Compare(a.User, b.User))
	})
	return out, nil
}

// Exists implements Store.
func (s *SQL) Exists(ctx context.Context, user, domain string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx,
		`SELECT 1 FROM subscribers WHERE username = $1 AND domain = $2`,
		user, strings.ToLower(domain)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("subscriber: exists: %w", err)
	}
	return true, nil
}

// Ping reports whether the database answers, for the server's readiness.
func (s *SQL) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close implements Store.
func (s *SQL) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.db.Close() })
	return s.closeErr
}

// scan reads one subscriber row from a *sql.Row or *sql.Rows.
func scan(r interface{ Scan(...any) error }) (Subscriber, error) {
	var sub Subscriber
	var created int64
	if err := r.Scan(&sub.User, &sub.Domain, &sub.HA1MD5, &sub.HA1SHA256, &created); err != nil {
		return Subscriber{}, err
	}
	sub.Created = time.UnixMicro(created).UTC()
	return sub, nil
}
