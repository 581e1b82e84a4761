package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// candidateDSNs are tried in order when PARLEY_TEST_POSTGRES_DSN is not
// set: the test database on the local server, as the postgres superuser or
// as root (machines differ in which role exists).
var candidateDSNs = []string{
	"postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=3",
	"postgres://root@127.0.0.1:5432/test?sslmode=disable&connect_timeout=3",
}

var (
	baseOnce sync.Once
	baseDSN  string
	baseErr  error
)

// RequirePostgres skips t when the test PostgreSQL server (see
// PostgresDSN) cannot be reached, or fails it under CI=true, where passing
// by testing nothing must not happen. Calling it at the top of a test
// gives one skip message instead of one per subtest.
func RequirePostgres(t *testing.T) {
	t.Helper()
	baseOnce.Do(func() { baseDSN, baseErr = findServer() })
	if baseErr == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("PostgreSQL unreachable under CI: %v", baseErr)
	}
	t.Skipf("PostgreSQL unreachable, skipping (set PARLEY_TEST_POSTGRES_DSN): %v", baseErr)
}

// PostgresDSN returns a DSN for a fresh, empty schema in the test
// PostgreSQL database, and drops the schema when t ends, so parallel runs
// never see each other's tables. The server is PARLEY_TEST_POSTGRES_DSN,
// else the local one; RequirePostgres says what happens when it is down.
func PostgresDSN(t *testing.T) string {
	t.Helper()
	RequirePostgres(t)
	schema := "parley_test_" + randomHex(8)
	admin, err := sql.Open("pgx", baseDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() { dropSchema(t, schema) })
	return withParam(baseDSN, "search_path", schema)
}

// findServer returns the first DSN that answers a ping.
func findServer() (string, error) {
	dsns := candidateDSNs
	if d := os.Getenv("PARLEY_TEST_POSTGRES_DSN"); d != "" {
		dsns = []string{d}
	}
	var lastErr error
	for _, dsn := range dsns {
		if lastErr = ping(dsn); lastErr == nil {
			return dsn, nil
		}
	}
	return "", lastErr
}

func ping(dsn string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

func dropSchema(t *testing.T, schema string) {
	admin, err := sql.Open("pgx", baseDSN)
	if err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
		return
	}
	defer admin.Close()
	if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
	}
}

// withParam adds a key=value parameter to a DSN in URL or key=value form.
func withParam(dsn, key, value string) string {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " " + key + "=" + value
	}
	if strings.Contains(dsn, "?") {
		return dsn + "&" + key + "=" + value
	}
	return dsn + "?" + key + "=" + value
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
