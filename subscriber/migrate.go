package subscriber

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// component names this package's rows in schema_migrations. The table is
// keyed by component so that other packages storing in the same database
// (the location store shares parley.db) keep their own version numbers.
const component = "subscriber"

// migrations are the schema changes in order; version n is migrations[n-1].
// They are append-only: a released entry is never edited, a change is a
// new entry. The SQL is the common subset of SQLite and PostgreSQL. Times
// are integer microseconds since 1970 because the two engines share no
// timestamp type that round-trips identically.
var migrations = []string{
	`CREATE TABLE subscribers (
		username   TEXT   NOT NULL,
		domain     TEXT   NOT NULL,
		ha1_md5    TEXT   NOT NULL,
		ha1_sha256 TEXT   NOT NULL,
		created_us BIGINT NOT NULL,
		PRIMARY KEY (domain, username)
	)`,
}

// migrateLockKey is the PostgreSQL advisory lock that serialises
// migrations of servers starting at once against one database.
const migrateLockKey = 0x7061726c6579 // "parley"

// migrate applies the migrations of comp that the database has not seen,
// in one transaction, so a crash leaves the schema at the old version or
// the new one and never between them.
func migrate(ctx context.Context, db *sql.DB, postgres bool, comp string, steps []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("subscriber: migrate: %w", err)
	}
	defer tx.Rollback()
	if postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLockKey)); err != nil {
			return fmt.Errorf("subscriber: migrate: lock: %w", err)
		}
	}
	version, err := schemaVersion(ctx, tx, comp)
	if err != nil {
		return err
	}
	if version > len(steps) {
		return fmt.Errorf("subscriber: database schema version %d is newer than this program's %d: upgrade Parley", version, len(steps))
	}
	for v := version + 1; v <= len(steps); v++ {
		if err := applyStep(ctx, tx, comp, v, steps[v-1]); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("subscriber: migrate: commit: %w", err)
	}
	return nil
}

// schemaVersion creates schema_migrations if needed and returns the
// highest version applied for comp (0 for none).
func schemaVersion(ctx context.Context, tx *sql.Tx, comp string) (int, error) {
	_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component  TEXT    NOT NULL,
		version    INTEGER NOT NULL,
		applied_us BIGINT  NOT NULL,
		PRIMARY KEY (component, version)
	)`)
	if err != nil {
		return 0, fmt.Errorf("subscriber: migrate: %w", err)
	}
	var v sql.NullInt64
	err = tx.QueryRowContext(ctx,
		`SELECT MAX(version) FROM schema_migrations WHERE component = $1`, comp).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("subscriber: migrate: read version: %w", err)
	}
	return int(v.Int64), nil
}

func applyStep(ctx context.Context, tx *sql.Tx, comp string, v int, stmt string) error {
	if _, err := tx.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("subscriber: migration %d: %w", v, err)
	}
	_, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (component, version, applied_us) VALUES ($1, $2, $3)`,
		comp, v, time.Now().UnixMicro())
	if err != nil {
		return fmt.Errorf("subscriber: migration %d: record: %w", v, err)
	}
	return nil
}
