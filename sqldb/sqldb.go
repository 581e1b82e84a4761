// Package sqldb is the SQL database Parley's durable stores share:
// opening it (SQLite, embedded and cgo-free, or PostgreSQL) and bringing
// each store's tables up to date. The stores (subscriber, presence, cdr)
// keep their own tables and their own rows in schema_migrations, so one
// parley.db or one PostgreSQL schema holds them all.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	// The drivers register themselves with database/sql: "pgx" and
	// "sqlite". modernc's SQLite is a translation of the C library to Go,
	// which keeps the binary static and cgo-free.
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// DBFile is the name of the SQLite database in the data directory.
const DBFile = "parley.db"

// Sync is how hard SQLite syncs a commit to disk.
type Sync string

// Sync levels: Full survives a power cut (an operator's password change),
// Normal may lose the last commits to one but never corrupts (soft state
// that phones send again, as published presence).
const (
	SyncFull   Sync = "FULL"
	SyncNormal Sync = "NORMAL"
)

// sqliteIdleConns is how many open SQLite connections a pool keeps when
// idle. database/sql's default of two made a burst of concurrent reads
// (every REGISTER's look for offline messages) open and close a
// connection each, and opening one, with its pragmas and schema read,
// cost more than the query.
const sqliteIdleConns = 8

// OpenSQLite opens the SQLite database at path, creating it readable by
// its owner only (it holds digest hashes, password equivalents). WAL lets
// readers run beside a writer; the busy timeout makes a second writer
// wait instead of failing; an immediate transaction takes the write lock
// at BEGIN, so two migrating processes queue instead of deadlocking on a
// lock upgrade.
func OpenSQLite(path string, sync Sync) (*sql.DB, error) {
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("SQLite path %q must not contain '?' or '#'", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	f.Close()
	dsn := "file:" + path + "?_busy_timeout=5000&_journal_mode=WAL&_synchronous=" + string(sync) + "&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxIdleConns(sqliteIdleConns)
	return db, nil
}

// Open opens the database a server or the command line is configured
// with: engine "sqlite" (or "") uses DBFile in dataDir, creating the
// directory; "postgres" uses dsn (as pgx takes it: a URL or key=value
// pairs; a search_path parameter selects a schema). It reports whether
// the database is PostgreSQL. The database is not pinged: see Ping.
func Open(engine, dataDir, dsn string, sync Sync) (db *sql.DB, postgres bool, err error) {
	switch engine {
	case "", "sqlite":
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, false, err
		}
		db, err = OpenSQLite(filepath.Join(dataDir, DBFile), sync)
		return db, false, err
	case "postgres", "postgresql":
		if dsn == "" {
			return nil, false, errors.New("the postgres engine needs a DSN")
		}
		db, err = sql.Open("pgx", dsn)
		return db, true, err
	}
	return nil, false, fmt.Errorf("unknown database engine %q (want sqlite or postgres)", engine)
}

// Ping checks that db answers, and closes it when it does not, so that a
// caller's failed open leaks nothing.
func Ping(ctx context.Context, db *sql.DB) error {
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return fmt.Errorf("connect: %w", err)
	}
	return nil
}

// Prepare readies db for one store: it checks the connection, then brings
// comp's tables up to date with the engine's steps (sqlite or pg), and
// closes db when either fails, so that a store's Open is this one call.
func Prepare(ctx context.Context, db *sql.DB, postgres bool, comp string, sqlite, pg []string) error {
	if err := Ping(ctx, db); err != nil {
		return err
	}
	steps := sqlite
	if postgres {
		steps = pg
	}
	if err := Migrate(ctx, db, postgres, comp, steps); err != nil {
		db.Close()
		return err
	}
	return nil
}
