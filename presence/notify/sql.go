package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/sqldb"
)

// component names this store's rows in schema_migrations.
const component = "subscriptions"

// Schema changes per engine, append-only. The dialog's state is one JSON
// column: only this package reads it, whole, at start.
var (
	sqliteMigrations = []string{`CREATE TABLE subscriptions (
		call_id    TEXT    NOT NULL,
		local_tag  TEXT    NOT NULL,
		remote_tag TEXT    NOT NULL,
		usage      TEXT    NOT NULL,
		event      TEXT    NOT NULL,
		watcher    TEXT    NOT NULL,
		resource   TEXT    NOT NULL,
		pending    INTEGER NOT NULL,
		expires_us INTEGER NOT NULL,
		flow       TEXT    NOT NULL,
		version    INTEGER NOT NULL,
		dialog     TEXT    NOT NULL,
		PRIMARY KEY (call_id, local_tag, remote_tag, usage)
	)`, nodeColumn}
	postgresMigrations = []string{`CREATE TABLE subscriptions (
		call_id    TEXT    NOT NULL,
		local_tag  TEXT    NOT NULL,
		remote_tag TEXT    NOT NULL,
		usage      TEXT    NOT NULL,
		event      TEXT    NOT NULL,
		watcher    TEXT    NOT NULL,
		resource   TEXT    NOT NULL,
		pending    BOOLEAN NOT NULL,
		expires_us BIGINT  NOT NULL,
		flow       TEXT    NOT NULL,
		version    BIGINT  NOT NULL,
		dialog     TEXT    NOT NULL,
		PRIMARY KEY (call_id, local_tag, remote_tag, usage)
	)`, nodeColumn}
)

// nodeColumn names the cluster node holding each subscription, so that a
// node restarting restores its own and not its neighbours'.
const nodeColumn = `ALTER TABLE subscriptions ADD COLUMN node TEXT NOT NULL DEFAULT ''`

// SQL is a Store in SQLite or PostgreSQL, in the database the other
// stores share (parley.db, or one PostgreSQL schema).
type SQL struct {
	db        *sql.DB
	postgres  bool
	closeOnce sync.Once
	closeErr  error
}

// OpenSQL opens the store a server is configured with: engine "sqlite"
// (or "") uses sqldb.DBFile in dataDir; "postgres" uses dsn. A lost
// commit costs a subscription its restore (the phone subscribes again on
// a 481), so commits are synced at SQLite's normal level.
func OpenSQL(ctx context.Context, engine, dataDir, dsn string) (*SQL, error) {
	db, postgres, err := sqldb.Open(engine, dataDir, dsn, sqldb.SyncNormal)
	if err != nil {
		return nil, fmt.Errorf("subscriptions: %w", err)
	}
	if err := sqldb.Prepare(ctx, db, postgres, component, sqliteMigrations, postgresMigrations); err != nil {
		return nil, fmt.Errorf("subscriptions: %w", err)
	}
	return &SQL{db: db, postgres: postgres}, nil
}

// storedDialog is what the dialog column holds.
type storedDialog struct {
	Role         dialog.Role `json:"role"`
	LocalParty   string      `json:"local_party"`
	RemoteParty  string      `json:"remote_party"`
	LocalTarget  string      `json:"local_target"`
	RemoteTarget string      `json:"remote_target"`
	RouteSet     []string    `json:"route_set,omitempty"`
	LocalSeq     uint32      `json:"local_seq"`
	RemoteSeq    uint32      `json:"remote_seq"`
	Usages       []string    `json:"usages"`
}

// Put implements Store.
func (s *SQL) Put(ctx context.Context, r Record) error {
	d := r.Dialog
	sd := storedDialog{Role: d.Role, LocalParty: d.LocalParty, RemoteParty: d.RemoteParty, LocalTarget: d.LocalTarget,
		RemoteTarget: d.RemoteTarget, RouteSet: d.RouteSet, LocalSeq: d.LocalSeq, RemoteSeq: d.RemoteSeq}
	for _, u := range d.Usages {
		sd.Usages = append(sd.Usages, u.Event)
	}
	js, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	k := r.Key()
	var pending any = r.Pending
	if !s.postgres {
		pending = boolInt(r.Pending)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO subscriptions
		(call_id, local_tag, remote_tag, usage, event, watcher, resource, pending, expires_us, flow, version, dialog, node)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (call_id, local_tag, remote_tag, usage) DO UPDATE SET
		event = excluded.event, watcher = excluded.watcher, resource = excluded.resource, pending = excluded.pending,
		expires_us = excluded.expires_us, flow = excluded.flow, version = excluded.version, dialog = excluded.dialog, node = excluded.node`,
		k.ID.CallID, k.ID.LocalTag, k.ID.RemoteTag, k.Usage.Event, r.Event, r.Watcher, r.Resource, pending,
		r.Expires.UnixMicro(), r.Flow, int64(r.Version), string(js), r.Node)
	if err != nil {
		return fmt.Errorf("subscriptions: put: %w", err)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Delete implements Store.
func (s *SQL) Delete(ctx context.Context, k Key) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM subscriptions
		WHERE call_id = $1 AND local_tag = $2 AND remote_tag = $3 AND usage = $4`,
		k.ID.CallID, k.ID.LocalTag, k.ID.RemoteTag, k.Usage.Event)
	if err != nil {
		return fmt.Errorf("subscriptions: delete: %w", err)
	}
	return nil
}

// List implements Store.
func (s *SQL) List(ctx context.Context) ([]Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT call_id, local_tag, remote_tag, event, watcher, resource,
		pending, expires_us, flow, version, dialog, node FROM subscriptions`)
	if err != nil {
		return nil, fmt.Errorf("subscriptions: list: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var pending any
		var expires, version int64
		var js string
		if err := rows.Scan(&r.Dialog.ID.CallID, &r.Dialog.ID.LocalTag, &r.Dialog.ID.RemoteTag, &r.Event, &r.Watcher,
			&r.Resource, &pending, &expires, &r.Flow, &version, &js, &r.Node); err != nil {
			return nil, fmt.Errorf("subscriptions: list: %w", err)
		}
		var sd storedDialog
		if err := json.Unmarshal([]byte(js), &sd); err != nil {
			return nil, fmt.Errorf("subscriptions: list: dialog of %s: %w", r.Dialog.ID, err)
		}
		r.Pending = pending == true || pending == int64(1)
		r.Expires, r.Version = time.UnixMicro(expires).UTC(), uint32(version)
		r.Dialog.Role, r.Dialog.State = sd.Role, dialog.Confirmed
		r.Dialog.LocalParty, r.Dialog.RemoteParty = sd.LocalParty, sd.RemoteParty
		r.Dialog.LocalTarget, r.Dialog.RemoteTarget, r.Dialog.RouteSet = sd.LocalTarget, sd.RemoteTarget, sd.RouteSet
		r.Dialog.LocalSeq, r.Dialog.RemoteSeq = sd.LocalSeq, sd.RemoteSeq
		for _, u := range sd.Usages {
			r.Dialog.Usages = append(r.Dialog.Usages, dialog.Usage{Event: u})
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("subscriptions: list: %w", err)
	}
	return out, nil
}

// Close implements Store.
func (s *SQL) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.db.Close() })
	return s.closeErr
}

var (
	_ Store = (*SQL)(nil)
	_ Store = (*Memory)(nil)
)
