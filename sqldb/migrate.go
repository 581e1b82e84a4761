package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrateLockKey is the PostgreSQL advisory lock that serialises
// migrations of servers starting at once against one database.
const migrateLockKey = 0x7061726c6579 // "parley"

// Migrate applies the steps of comp that the database has not seen, in one
// transaction, so a crash leaves the schema at the old version or the new
// one and never between them. Version n is steps[n-1]; steps are
// append-only. postgres takes an advisory lock first, so servers starting
// at once against one database migrate one after the other (SQLite
// callers open with _txlock=immediate for the same effect).
func Migrate(ctx context.Context, db *sql.DB, postgres bool, comp string, steps []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: migrate: %w", comp, err)
	}
	defer tx.Rollback()
	if postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLockKey)); err != nil {
			return fmt.Errorf("%s: migrate: lock: %w", comp, err)
		}
	}
	version, err := schemaVersion(ctx, tx, comp)
	if err != nil {
		return err
	}
	if version > len(steps) {
		return fmt.Errorf("%s: database schema version %d is newer than this program's %d: upgrade Parley", comp, version, len(steps))
	}
	for v := version + 1; v <= len(steps); v++ {
		if err := applyStep(ctx, tx, comp, v, steps[v-1]); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: migrate: commit: %w", comp, err)
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
		return 0, fmt.Errorf("%s: migrate: %w", comp, err)
	}
	var v sql.NullInt64
	err = tx.QueryRowContext(ctx,
		`SELECT MAX(version) FROM schema_migrations WHERE component = $1`, comp).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("%s: migrate: read version: %w", comp, err)
	}
	return int(v.Int64), nil
}

func applyStep(ctx context.Context, tx *sql.Tx, comp string, v int, stmt string) error {
	if _, err := tx.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s: migration %d: %w", comp, v, err)
	}
	_, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (component, version, applied_us) VALUES ($1, $2, $3)`,
		comp, v, time.Now().UnixMicro())
	if err != nil {
		return fmt.Errorf("%s: migration %d: record: %w", comp, v, err)
	}
	return nil
}
