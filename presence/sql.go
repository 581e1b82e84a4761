package presence

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/sqldb"
)

// SQL is a Store in SQLite or PostgreSQL, so that published state
// survives a restart. Every PUBLISH is one statement: a refresh, modify
// or removal is a conditional UPDATE or DELETE on the entity-tag, so two
// PUBLISHes racing with one SIP-If-Match cannot both succeed, in either
// engine, without a transaction.
type SQL struct {
	db        *sql.DB
	clk       clock.Clock
	closeOnce sync.Once
	closeErr  error
}

// OpenSQLite opens (creating it if needed) the SQLite database at path
// (usually the data directory's sqldb.DBFile, beside the other stores'
// tables) and brings its schema up to date. Published state is soft:
// phones publish again within their refresh interval, so commits are
// synced at SQLite's normal level.
func OpenSQLite(path string, clk clock.Clock) (*SQL, error) {
	db, err := sqldb.OpenSQLite(path, sqldb.SyncNormal)
	if err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	return open(context.Background(), db, false, clk)
}

// OpenPostgres connects to PostgreSQL (a DSN as pgx takes it; a
// search_path parameter selects a schema) and brings the schema up to
// date.
func OpenPostgres(ctx context.Context, dsn string, clk clock.Clock) (*SQL, error) {
	return Open(ctx, "postgres", "", dsn, clk)
}

// Open opens the store a server is configured with: engine "sqlite" (or
// "") uses sqldb.DBFile in dataDir, creating the directory; "postgres"
// uses dsn.
func Open(ctx context.Context, engine, dataDir, dsn string, clk clock.Clock) (*SQL, error) {
	db, postgres, err := sqldb.Open(engine, dataDir, dsn, sqldb.SyncNormal)
	if err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	return open(ctx, db, postgres, clk)
}

func open(ctx context.Context, db *sql.DB, postgres bool, clk clock.Clock) (*SQL, error) {
	if err := sqldb.Prepare(ctx, db, postgres, component, sqliteMigrations, postgresMigrations); err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	return &SQL{db: db, clk: clk}, nil
}

// columns are a publication's columns in the order scan reads them.
const columns = `entity, event, etag, content_type, body, expires_us, modified_us`

// Publish implements Store.
func (s *SQL) Publish(ctx context.Context, r Request) (Publication, error) {
	kind, err := classify(r)
	if err != nil {
		return Publication{}, err
	}
	now := storeTime(s.clk.Now())
	expires := storeTime(now.Add(r.Expires))
	etag := newETag()
	var row *sql.Row
	switch kind {
	case opInitial:
		row = s.db.QueryRowContext(ctx, `INSERT INTO publications (`+columns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+columns,
			r.Entity, r.Event, etag, r.ContentType, r.Body, expires.UnixMicro(), now.UnixMicro())
	case opRefresh:
		row = s.db.QueryRowContext(ctx, `UPDATE publications SET etag = $1, expires_us = $2
			WHERE etag = $3 AND entity = $4 AND event = $5 AND expires_us > $6 RETURNING `+columns,
			etag, expires.UnixMicro(), r.IfMatch, r.Entity, r.Event, now.UnixMicro())
	case opModify:
		row = s.db.QueryRowContext(ctx, `UPDATE publications
			SET etag = $1, expires_us = $2, content_type = $3, body = $4, modified_us = $5
			WHERE etag = $6 AND entity = $7 AND event = $8 AND expires_us > $5 RETURNING `+columns,
			etag, expires.UnixMicro(), r.ContentType, r.Body, now.UnixMicro(), r.IfMatch, r.Entity, r.Event)
	case opRemove:
		row = s.db.QueryRowContext(ctx, `DELETE FROM publications
			WHERE etag = $1 AND entity = $2 AND event = $3 AND expires_us > $4 RETURNING `+columns,
			r.IfMatch, r.Entity, r.Event, now.UnixMicro())
	}
	p, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Publication{}, ErrConditionFailed
	}
	if err != nil {
		return Publication{}, fmt.Errorf("presence: publish: %w", err)
	}
	if kind == opRemove {
		p.Expires = now
	}
	return p, nil
}

// List implements Store.
func (s *SQL) List(ctx context.Context, entity, event string) ([]Publication, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM publications
		WHERE entity = $1 AND event = $2 AND expires_us > $3`,
		entity, event, s.clk.Now().UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("presence: list: %w", err)
	}
	return scanAll(rows, "list")
}

// Expire implements Store. DELETE … RETURNING hands each expired row to
// exactly one caller, even with several servers sharing the database.
func (s *SQL) Expire(ctx context.Context) ([]Publication, error) {
	rows, err := s.db.QueryContext(ctx, `DELETE FROM publications WHERE expires_us <= $1 RETURNING `+columns,
		s.clk.Now().UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("presence: expire: %w", err)
	}
	return scanAll(rows, "expire")
}

// Close implements Store.
func (s *SQL) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.db.Close() })
	return s.closeErr
}

// scanAll reads every row and orders them as List promises. The order is
// made here, not by ORDER BY, so both engines give the same one.
func scanAll(rows *sql.Rows, what string) ([]Publication, error) {
	defer rows.Close()
	var out []Publication
	for rows.Next() {
		p, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("presence: %s: %w", what, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("presence: %s: %w", what, err)
	}
	sortByModified(out)
	return out, nil
}

// scan reads one publication from a *sql.Row or *sql.Rows.
func scan(r interface{ Scan(...any) error }) (Publication, error) {
	var p Publication
	var expires, modified int64
	if err := r.Scan(&p.Entity, &p.Event, &p.ETag, &p.ContentType, &p.Body, &expires, &modified); err != nil {
		return Publication{}, err
	}
	p.Expires, p.Modified = time.UnixMicro(expires).UTC(), time.UnixMicro(modified).UTC()
	return p, nil
}

var _ Store = (*SQL)(nil)
