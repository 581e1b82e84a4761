package mailbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/sqldb"
)

// component names this package's rows in schema_migrations.
const component = "mailbox"

// Schema changes per engine, in order; append-only. Times are integer
// microseconds since 1970.
var (
	sqliteMigrations = []string{`CREATE TABLE message_summaries (
		account    TEXT    NOT NULL PRIMARY KEY,
		body       BLOB    NOT NULL,
		etag       TEXT    NOT NULL,
		updated_us INTEGER NOT NULL
	);`}
	postgresMigrations = []string{`CREATE TABLE message_summaries (
		account    TEXT   NOT NULL PRIMARY KEY,
		body       BYTEA  NOT NULL,
		etag       TEXT   NOT NULL,
		updated_us BIGINT NOT NULL
	);`}
)

// SQL is a Store in SQLite or PostgreSQL. Each change is one statement,
// conditional on the entity-tag where RFC 3903 asks, so no transaction is
// needed for two racing PUBLISHes to have one winner.
type SQL struct {
	db        *sql.DB
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Open opens the store a server is configured with: engine "sqlite" (or
// "") uses sqldb.DBFile in dataDir, "postgres" uses dsn; the table is
// created or brought up to date.
func Open(ctx context.Context, engine, dataDir, dsn string) (*SQL, error) {
	db, postgres, err := sqldb.Open(engine, dataDir, dsn, sqldb.SyncNormal)
	if err != nil {
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	if err := sqldb.Prepare(ctx, db, postgres, component, sqliteMigrations, postgresMigrations); err != nil {
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	return &SQL{db: db}, nil
}

// Get implements Store.
func (s *SQL) Get(ctx context.Context, account string) (Summary, error) {
	if s.closed.Load() {
		return Summary{}, ErrClosed
	}
	sum := Summary{Account: account}
	var updated int64
	err := s.db.QueryRowContext(ctx, `SELECT body, etag, updated_us FROM message_summaries WHERE account = $1`,
		account).Scan(&sum.Body, &sum.ETag, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Summary{}, ErrNotFound
	case err != nil:
		return Summary{}, s.fail("get", err)
	}
	sum.Updated = time.UnixMicro(updated).UTC()
	return sum, nil
}

// Put implements Store.
func (s *SQL) Put(ctx context.Context, sum Summary, ifMatch string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	body := sum.Body
	if body == nil {
		body = []byte{} // NOT NULL
	}
	if ifMatch == "" {
		_, err := s.db.ExecContext(ctx, `INSERT INTO message_summaries (account, body, etag, updated_us)
			VALUES ($1, $2, $3, $4) ON CONFLICT (account) DO UPDATE
			SET body = excluded.body, etag = excluded.etag, updated_us = excluded.updated_us`,
			sum.Account, body, sum.ETag, sum.Updated.UnixMicro())
		return s.fail("put", err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE message_summaries SET body = $1, etag = $2, updated_us = $3
		WHERE account = $4 AND etag = $5`, body, sum.ETag, sum.Updated.UnixMicro(), sum.Account, ifMatch)
	return s.affected(res, err, "put")
}

// Delete implements Store.
func (s *SQL) Delete(ctx context.Context, account, ifMatch string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM message_summaries WHERE account = $1 AND etag = $2`, account, ifMatch)
	return s.affected(res, err, "delete")
}

// affected turns a conditional statement that touched no row into
// ErrConditionFailed.
func (s *SQL) affected(res sql.Result, err error, op string) error {
	if err != nil {
		return s.fail(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(op, err)
	}
	if n == 0 {
		return ErrConditionFailed
	}
	return nil
}

func (s *SQL) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("mailbox: %s: %w", op, err)
}

// Close implements Store.
func (s *SQL) Close() error {
	s.closed.Store(true)
	s.closeOnce.Do(func() { s.closeErr = s.db.Close() })
	return s.closeErr
}

var _ Store = (*SQL)(nil)
