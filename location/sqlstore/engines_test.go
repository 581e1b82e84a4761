package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// engine opens one database, again and again, the way a restarted server
// would, and counts the rows it holds behind the store's back.
type engine struct {
	name string
	path string // SQLite: the database file
	dsn  string // PostgreSQL: the DSN of the test's schema
	open func(t *testing.T, opts ...Option) *Store
	rows func(t *testing.T) int
}

// sqliteEngine is a fresh SQLite database in t's temporary directory.
func sqliteEngine(t *testing.T) engine {
	path := filepath.Join(t.TempDir(), "parley.db")
	return engine{
		name: "sqlite",
		path: path,
		open: func(t *testing.T, opts ...Option) *Store {
			t.Helper()
			s, err := OpenSQLite(path, opts...)
			if err != nil {
				t.Fatalf("OpenSQLite: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		rows: func(t *testing.T) int {
			t.Helper()
			db, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=5000")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			return countRows(t, db.QueryRow(`SELECT COUNT(*) FROM bindings`).Scan)
		},
	}
}

// postgresEngine is a fresh schema in the test PostgreSQL database.
func postgresEngine(t *testing.T) engine {
	dsn := postgresDSN(t)
	return engine{
		name: "postgres",
		dsn:  dsn,
		open: func(t *testing.T, opts ...Option) *Store {
			t.Helper()
			s, err := OpenPostgres(context.Background(), dsn, opts...)
			if err != nil {
				t.Fatalf("OpenPostgres: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		rows: func(t *testing.T) int {
			t.Helper()
			conn, err := pgx.Connect(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			return countRows(t, conn.QueryRow(context.Background(), `SELECT COUNT(*) FROM bindings`).Scan)
		},
	}
}

func countRows(t *testing.T, scan func(dest ...any) error) int {
	t.Helper()
	var n int
	if err := scan(&n); err != nil {
		t.Fatalf("count rows: %v", err)
	}
	return n
}

// forEachEngine runs fn as a subtest per engine, each on a fresh database.
func forEachEngine(t *testing.T, fn func(t *testing.T, e engine)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, sqliteEngine(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, postgresEngine(t)) })
}

// pgBaseDSN is the test server: PARLEY_TEST_POSTGRES_DSN (the variable the
// subscriber tests read too), else the local one.
func pgBaseDSN() string {
	if d := os.Getenv("PARLEY_TEST_POSTGRES_DSN"); d != "" {
		return d
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=3"
}

var (
	pgOnce sync.Once
	pgErr  error
)

// requirePostgres skips t when the test server is unreachable, or fails
// it under CI=true, where passing by testing nothing must not happen.
func requirePostgres(t testing.TB) {
	t.Helper()
	pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var conn *pgx.Conn
		if conn, pgErr = pgx.Connect(ctx, pgBaseDSN()); pgErr == nil {
			pgErr = conn.Ping(ctx)
			conn.Close(ctx)
		}
	})
	if pgErr == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("PostgreSQL unreachable under CI: %v", pgErr)
	}
	t.Skipf("PostgreSQL unreachable, skipping (set PARLEY_TEST_POSTGRES_DSN): %v", pgErr)
}

// postgresDSN returns a DSN whose search_path is a new, empty schema,
// dropped when t ends, so tests never see each other's tables.
func postgresDSN(t testing.TB) string {
	t.Helper()
	requirePostgres(t)
	b := make([]byte, 8)
	rand.Read(b)
	schema := "parley_test_" + hex.EncodeToString(b)
	adminExec(t, `CREATE SCHEMA `+schema)
	t.Cleanup(func() { adminExec(t, `DROP SCHEMA `+schema+` CASCADE`) })
	return withParam(pgBaseDSN(), "search_path", schema)
}

func adminExec(t testing.TB, q string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgBaseDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// withParam adds key=value to a DSN in URL or key=value form.
func withParam(dsn, key, value string) string {
	switch {
	case !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://"):
		return dsn + " " + key + "=" + value
	case strings.Contains(dsn, "?"):
		return dsn + "&" + key + "=" + value
	default:
		return dsn + "?" + key + "=" + value
	}
}
