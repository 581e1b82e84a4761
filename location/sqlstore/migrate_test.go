package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-sip/parley/sip"
)

// legacyRow is a binding as schema version 1 held it: no params column,
// only q, instance_id and reg_id of the Contact's parameters.
type legacyRow struct {
	contact, instance string
	q, regID          int
}

// legacyRows cover every way the rebuilt params can come out: each of
// the three parameters alone, all of them, none, and the q values whose
// text needs trailing zeros trimmed.
var legacyRows = []legacyRow{
	{"sip:a@h", "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>", 500, 1},
	{"sip:b@h", "", 1000, 0},
	{"sip:c@h", "<urn:uuid:1>", 1000, 0},
	{"sip:d@h", "", 1000, 7},
	{"sip:e@h", "", 0, 0},
	{"sip:f@h", "", 1, 0},
	{"sip:g@h", "", 330, 0},
	{"sip:h@h", "", 999, 2},
}

// wantParams is what the registrar of version 1 received to store r:
// the parameters it kept, in the registrar's own spelling of q.
func (r legacyRow) wantParams() string {
	var p []string
	if r.q != 1000 {
		p = append(p, "q="+sip.FormatQ(r.q))
	}
	if r.instance != "" {
		p = append(p, `+sip.instance="`+r.instance+`"`)
	}
	if r.regID != 0 {
		p = append(p, fmt.Sprintf("reg-id=%d", r.regID))
	}
	return strings.Join(p, ";")
}

// legacyInsert writes r in version 1's columns; $n placeholders work in
// both engines.
const legacyInsert = `INSERT INTO bindings (aor, contact, q, expires, call_id, cseq, path, transport,
	source, local, conn_id, instance_id, reg_id, user_agent, updated_us)
	VALUES ('sip:alice@example.com', $1, $2, $3, 'call', 1, '', 'udp', '', '', 0, $4, $5, 'UA', 0)`

// TestMigrateKeepsLegacyParams: a database written before Contact params
// were stored opens with each binding's params rebuilt from what it kept,
// so a REGISTER answered after the upgrade still lists q, +sip.instance
// and reg-id, and new bindings keep their params in full.
func TestMigrateKeepsLegacyParams(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		expires := t0.Unix() + 3600
		switch e.name {
		case "sqlite":
			legacySQLite(t, e.path, expires)
		case "postgres":
			legacyPostgres(t, e.dsn, expires)
		}
		s := e.open(t, openAt(t0))
		got := map[string]string{}
		for _, b := range mustLookup(t, s, "sip:alice@example.com", t0) {
			got[b.Contact] = b.Params
		}
		if len(got) != len(legacyRows) {
			t.Fatalf("after the migration %d bindings, want %d", len(got), len(legacyRows))
		}
		for _, r := range legacyRows {
			if p := got[r.contact]; p != r.wantParams() {
				t.Errorf("%s (q %d, instance %q, reg-id %d): params %q, want %q", r.contact, r.q, r.instance, r.regID, p, r.wantParams())
			}
		}
		b := fullBinding("sip:new@h", t0.Add(time.Hour))
		mustUpdate(t, s, "sip:bob@example.com", t0, b)
		s.Close()
		after := mustLookup(t, e.open(t, openAt(t0)), "sip:bob@example.com", t0)
		if len(after) != 1 || after[0].Params != b.Params {
			t.Errorf("a binding stored after the migration came back as %+v, want params %q", after, b.Params)
		}
	})
}

// legacySQLite makes path a version 1 database holding legacyRows.
func legacySQLite(t *testing.T, path string, expires int64) {
	t.Helper()
	db, err := sql.Open("sqlite", sqliteDSN(path, SyncNormal))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := sqliteMigrations[:1].apply(ctx, sqlTx{tx}); err != nil {
		t.Fatal(err)
	}
	for _, r := range legacyRows {
		if _, err := tx.Exec(legacyInsert, r.contact, r.q, expires, r.instance, r.regID); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// legacyPostgres makes the schema of dsn a version 1 one holding legacyRows.
func legacyPostgres(t *testing.T, dsn string, expires int64) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := postgresMigrations[:1].apply(ctx, pgTx{tx}); err != nil {
		t.Fatal(err)
	}
	for _, r := range legacyRows {
		if _, err := tx.Exec(ctx, legacyInsert, r.contact, r.q, expires, r.instance, r.regID); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}
