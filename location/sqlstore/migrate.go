package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// component names this package's rows in schema_migrations. The table is
// shared, keyed by component, with the other packages that keep tables in
// the same database (subscriber uses parley.db too), and is created with
// the same definition they use.
const component = "location"

// migrationsTable is schema_migrations as every component creates it.
const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	component  TEXT    NOT NULL,
	version    INTEGER NOT NULL,
	applied_us BIGINT  NOT NULL,
	PRIMARY KEY (component, version)
)`

// migrations are each engine's schema changes in order; version n is
// steps[n-1]. They are append-only: a released step is never edited.
type migrations []string

// sqliteMigrations: WITHOUT ROWID clusters the rows by (aor, contact), so
// an AOR's DELETE and INSERTs touch one place in one b-tree, and the load
// streams rows already grouped by AOR. The expiry index serves purges.
var sqliteMigrations = migrations{
	`CREATE TABLE bindings (
		aor         TEXT    NOT NULL,
		contact     TEXT    NOT NULL,
		q           INTEGER NOT NULL,
		expires     INTEGER NOT NULL, -- Unix seconds, rounded up
		call_id     TEXT    NOT NULL,
		cseq        INTEGER NOT NULL,
		path        TEXT    NOT NULL, -- JSON array, '' for none
		transport   TEXT    NOT NULL,
		source      TEXT    NOT NULL, -- ip:port, '' for none
		local       TEXT    NOT NULL,
		conn_id     INTEGER NOT NULL,
		instance_id TEXT    NOT NULL,
		reg_id      INTEGER NOT NULL,
		user_agent  TEXT    NOT NULL,
		updated_us  INTEGER NOT NULL, -- Unix microseconds
		PRIMARY KEY (aor, contact)
	) WITHOUT ROWID;
	CREATE INDEX bindings_expires ON bindings (expires);`,
	sqliteAddParams,
	sqliteFlowKey,
}

// sqliteAddParams keeps each Contact's parameters as the phone sent them
// (less expires). A binding stored before had kept only q, +sip.instance
// and reg-id, so its params are rebuilt from those columns, in the form
// the registrar would have received them.
const sqliteAddParams = `ALTER TABLE bindings ADD COLUMN params TEXT NOT NULL DEFAULT '';
	UPDATE bindings SET params = substr(
		CASE WHEN q <> 1000 THEN ';q=' || rtrim(rtrim(printf('%.3f', q / 1000.0), '0'), '.') ELSE '' END ||
		CASE WHEN instance_id <> '' THEN ';+sip.instance="' || instance_id || '"' ELSE '' END ||
		CASE WHEN reg_id <> 0 THEN ';reg-id=' || reg_id ELSE '' END, 2);`

// postgresMigrations is the same table in PostgreSQL's types.
var postgresMigrations = migrations{
	`CREATE TABLE bindings (
		aor         TEXT    NOT NULL,
		contact     TEXT    NOT NULL,
		q           INTEGER NOT NULL,
		expires     BIGINT  NOT NULL,
		call_id     TEXT    NOT NULL,
		cseq        BIGINT  NOT NULL,
		path        TEXT    NOT NULL,
		transport   TEXT    NOT NULL,
		source      TEXT    NOT NULL,
		local       TEXT    NOT NULL,
		conn_id     BIGINT  NOT NULL,
		instance_id TEXT    NOT NULL,
		reg_id      INTEGER NOT NULL,
		user_agent  TEXT    NOT NULL,
		updated_us  BIGINT  NOT NULL,
		PRIMARY KEY (aor, contact)
	);
	CREATE INDEX bindings_expires ON bindings (expires);`,
	postgresAddParams,
	postgresFlowKey,
}

// postgresAddParams is sqliteAddParams in PostgreSQL's functions.
const postgresAddParams = `ALTER TABLE bindings ADD COLUMN params TEXT NOT NULL DEFAULT '';
	UPDATE bindings SET params = substr(
		CASE WHEN q <> 1000 THEN ';q=' || rtrim(rtrim(to_char(q / 1000.0, 'FM0.000'), '0'), '.') ELSE '' END ||
		CASE WHEN instance_id <> '' THEN ';+sip.instance="' || instance_id || '"' ELSE '' END ||
		CASE WHEN reg_id <> 0 THEN ';reg-id=' || reg_id ELSE '' END, 2);`

// sqliteFlowKey keys rows by contact, instance and reg-id (RFC 5626 §6:
// a phone's flows may share a Contact; location.SameKey). SQLite cannot
// change a primary key in place, so the table is rebuilt, rows kept.
const sqliteFlowKey = `CREATE TABLE bindings_v3 (
		aor         TEXT    NOT NULL,
		contact     TEXT    NOT NULL,
		q           INTEGER NOT NULL,
		expires     INTEGER NOT NULL,
		call_id     TEXT    NOT NULL,
		cseq        INTEGER NOT NULL,
		path        TEXT    NOT NULL,
		transport   TEXT    NOT NULL,
		source      TEXT    NOT NULL,
		local       TEXT    NOT NULL,
		conn_id     INTEGER NOT NULL,
		instance_id TEXT    NOT NULL,
		reg_id      INTEGER NOT NULL,
		user_agent  TEXT    NOT NULL,
		updated_us  INTEGER NOT NULL,
		params      TEXT    NOT NULL DEFAULT '',
		PRIMARY KEY (aor, contact, instance_id, reg_id)
	) WITHOUT ROWID;
	INSERT INTO bindings_v3 (aor, contact, q, expires, call_id, cseq, path, transport, source, local,
		conn_id, instance_id, reg_id, user_agent, updated_us, params)
	SELECT aor, contact, q, expires, call_id, cseq, path, transport, source, local,
		conn_id, instance_id, reg_id, user_agent, updated_us, params FROM bindings;
	DROP TABLE bindings;
	ALTER TABLE bindings_v3 RENAME TO bindings;
	CREATE INDEX bindings_expires ON bindings (expires);`

// postgresFlowKey is sqliteFlowKey for PostgreSQL, which changes the key
// in place.
const postgresFlowKey = `ALTER TABLE bindings DROP CONSTRAINT bindings_pkey;
	ALTER TABLE bindings ADD PRIMARY KEY (aor, contact, instance_id, reg_id);`

// migrationTx is the little a migration needs of a transaction, so one
// routine serves database/sql (SQLite) and pgx (PostgreSQL).
type migrationTx interface {
	exec(ctx context.Context, query string, args ...any) error
	// version returns the highest applied version of component, 0 for none.
	version(ctx context.Context) (int, error)
}

// versionQuery reads component's schema version; $1 works in both engines.
const versionQuery = `SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = $1`

// apply brings tx's schema to the last of steps. It runs in the caller's
// transaction, so a crash leaves the old schema or the new, never half.
func (steps migrations) apply(ctx context.Context, tx migrationTx) error {
	if err := tx.exec(ctx, migrationsTable); err != nil {
		return fmt.Errorf("location/sqlstore: migrate: %w", err)
	}
	v, err := tx.version(ctx)
	if err != nil {
		return fmt.Errorf("location/sqlstore: migrate: read version: %w", err)
	}
	if v > len(steps) {
		return fmt.Errorf("location/sqlstore: database schema version %d is newer than this program's %d: upgrade Parley", v, len(steps))
	}
	for ; v < len(steps); v++ {
		if err := tx.exec(ctx, steps[v]); err != nil {
			return fmt.Errorf("location/sqlstore: migration %d: %w", v+1, err)
		}
		err := tx.exec(ctx, `INSERT INTO schema_migrations (component, version, applied_us) VALUES ($1, $2, $3)`,
			component, v+1, time.Now().UnixMicro())
		if err != nil {
			return fmt.Errorf("location/sqlstore: migration %d: record: %w", v+1, err)
		}
	}
	return nil
}
