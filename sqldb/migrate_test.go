package sqldb

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

func openRaw(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func versionOf(t *testing.T, db *sql.DB, comp string) int {
	t.Helper()
	var v sql.NullInt64
	if err := db.QueryRow(`SELECT MAX(version) FROM schema_migrations WHERE component = $1`, comp).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return int(v.Int64)
}

// TestMigrateSteps applies migrations in two rounds, as an upgrade would,
// and checks each runs once and components keep separate versions.
func TestMigrateSteps(t *testing.T) {
	db, ctx := openRaw(t), context.Background()
	steps := []string{`CREATE TABLE a (x INTEGER)`}
	if err := Migrate(ctx, db, false, "test", steps); err != nil {
		t.Fatal(err)
	}
	steps = append(steps, `CREATE TABLE b (y INTEGER)`)
	if err := Migrate(ctx, db, false, "test", steps); err != nil {
		t.Fatalf("second round: %v", err)
	}
	if err := Migrate(ctx, db, false, "other", []string{`CREATE TABLE c (z INTEGER)`}); err != nil {
		t.Fatal(err)
	}
	if v := versionOf(t, db, "test"); v != 2 {
		t.Fatalf("version = %d, want 2", v)
	}
	if v := versionOf(t, db, "other"); v != 1 {
		t.Fatalf("other component's version = %d, want 1", v)
	}
}

// TestMigrateAtomic checks that a failing step leaves the earlier steps of
// the same round undone, so the recorded version always matches the schema.
func TestMigrateAtomic(t *testing.T) {
	db, ctx := openRaw(t), context.Background()
	err := Migrate(ctx, db, false, "test", []string{`CREATE TABLE a (x INTEGER)`, `NOT SQL`})
	if err == nil {
		t.Fatal("a broken migration succeeded")
	}
	if err := Migrate(ctx, db, false, "test", []string{`CREATE TABLE a (x INTEGER)`}); err != nil {
		t.Fatalf("after a failed round, table a should not exist: %v", err)
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	db, ctx := openRaw(t), context.Background()
	if err := Migrate(ctx, db, false, "test", []string{`CREATE TABLE a (x INTEGER)`, `CREATE TABLE b (x INTEGER)`}); err != nil {
		t.Fatal(err)
	}
	err := Migrate(ctx, db, false, "test", []string{`CREATE TABLE a (x INTEGER)`})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("an older program migrating a newer schema: err = %v, want a refusal", err)
	}
}
