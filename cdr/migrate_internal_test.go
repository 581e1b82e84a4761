package cdr

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/parley-sip/parley/sqldb"
)

// TestMigrateRoute: a database made before records named their route
// gains the column; its records read back with no route, and new ones
// keep theirs.
func TestMigrateRoute(t *testing.T) {
	ctx := context.Background()
	path, db := oldDatabase(t, 1)
	if _, err := db.ExecContext(ctx, `INSERT INTO cdrs (node, call_id, b_call_id, caller, callee, dialled, trunk, source,
		setup_us, ringing_us, answered_us, end_us, disposition, hung_up_by, status, reason)
		VALUES ('n', 'old', '', 'a', 'b', '0301', 'provider', 's', 1, 0, 0, 2, 'busy', 'callee', 486, 'Busy')`); err != nil {
		t.Fatal(err)
	}
	s := upgrade(t, path, db)
	if err := s.Add(ctx, []Record{{Node: "n", CallID: "new", Trunk: "provider", Route: "national", Disposition: Busy, HungUpBy: Callee}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(ctx, Query{})
	if err != nil || len(got) != 2 || got[0].Route != "" || got[0].Trunk != "provider" || got[1].Route != "national" {
		t.Fatalf("after the migration: %+v, %v", got, err)
	}
}

// TestMigrateHungUpReason: records a B2BUA wrote before the reasons had
// one vocabulary ("BYE") read back as the proxy's do ("hung up"); other
// reasons stay as they were.
func TestMigrateHungUpReason(t *testing.T) {
	ctx := context.Background()
	path, db := oldDatabase(t, 4)
	for i, reason := range []string{"BYE", "BYE before the answer", "Busy Here", "hung up"} {
		if _, err := db.ExecContext(ctx, `INSERT INTO cdrs (node, call_id, b_call_id, caller, callee, dialled, trunk, source,
			setup_us, ringing_us, answered_us, end_us, disposition, hung_up_by, status, reason)
			VALUES ('n', ?, 'b', 'a', 'b', 'bob', '', 's', ?, 0, 0, 2, 'answered', 'callee', 200, ?)`, reason, i+1, reason); err != nil {
			t.Fatal(err)
		}
	}
	s := upgrade(t, path, db)
	got, err := s.List(ctx, Query{})
	if err != nil || len(got) != 4 {
		t.Fatalf("after the migration: %+v, %v", got, err)
	}
	want := []string{"hung up", "hung up before the answer", "Busy Here", "hung up"}
	for i, r := range got {
		if r.Reason != want[i] {
			t.Errorf("record %s: reason %q, want %q", r.CallID, r.Reason, want[i])
		}
	}
}

// TestMigratePhraseReason: a proxied call's refusal recorded with its
// code in the reason ("486 Busy Here") reads back with the phrase alone,
// as the B2BUA's records and the new ones have it; a reason that only
// starts with digits, or with another code than the status, stays.
func TestMigratePhraseReason(t *testing.T) {
	ctx := context.Background()
	path, db := oldDatabase(t, 5)
	for i, r := range []struct {
		status   int
		answered int64
		reason   string
	}{{486, 0, "486 Busy Here"}, {408, 0, "408 Request Timeout"}, {486, 0, "Busy Here"},
		{480, 0, "486 Busy Here"}, {200, 5, "200 reasons"}, {503, 0, "503"}} {
		if _, err := db.ExecContext(ctx, `INSERT INTO cdrs (node, call_id, b_call_id, caller, callee, dialled, trunk, source,
			setup_us, ringing_us, answered_us, end_us, disposition, hung_up_by, status, reason)
			VALUES ('n', ?, '', 'a', 'b', 'bob', '', 's', ?, 0, ?, 9, 'busy', 'callee', ?, ?)`, i, i+1, r.answered, r.status, r.reason); err != nil {
			t.Fatal(err)
		}
	}
	s := upgrade(t, path, db)
	got, err := s.List(ctx, Query{})
	if err != nil || len(got) != 6 {
		t.Fatalf("after the migration: %+v, %v", got, err)
	}
	want := []string{"Busy Here", "Request Timeout", "Busy Here", "486 Busy Here", "200 reasons", "503"}
	for i, r := range got {
		if r.Reason != want[i] {
			t.Errorf("record %s: reason %q, want %q", r.CallID, r.Reason, want[i])
		}
	}
}

// oldDatabase makes a SQLite database at the schema's first steps
// versions, as an older Parley left it, and returns its path and handle.
func oldDatabase(t *testing.T, steps int) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parley.db")
	db, err := sqldb.OpenSQLite(path, sqldb.SyncFull)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqldb.Migrate(context.Background(), db, false, component, sqliteSchema[:steps]); err != nil {
		t.Fatal(err)
	}
	return path, db
}

// upgrade closes the old database and opens it as this Parley does,
// which migrates it; the store closes when the test ends.
func upgrade(t *testing.T, path string, old *sql.DB) Store {
	t.Helper()
	old.Close()
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
