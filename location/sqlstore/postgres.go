package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-sip/parley/location"
)

// SQL of the PostgreSQL engine.
const (
	pgDelete = `DELETE FROM bindings WHERE aor = ANY($1::text[])`
	pgPurge  = `DELETE FROM bindings WHERE (aor, contact, instance_id, reg_id) IN
		(SELECT aor, contact, instance_id, reg_id FROM bindings WHERE expires <= $1 LIMIT $2)`
)

var (
	// pgInsert inserts a whole group's rows from one array per column.
	pgInsert = `INSERT INTO bindings (` + columns + `) SELECT * FROM unnest(` + unnestParams() + `)`
	pgScan   = `SELECT ` + columns + ` FROM bindings ORDER BY aor`
	pgRead   = `SELECT ` + columns + ` FROM bindings WHERE aor = $1`
)

// unnestParams is "$1::text[], $2::text[], $3::bigint[], …", typed after
// the values encode gives each column.
func unnestParams() string {
	var b strings.Builder
	for i, kind := range columnKinds() {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d::%s[]", i+1, kind)
	}
	return b.String()
}

// columnKinds is the PostgreSQL type of each column's values in a row
// that toRow made: text for strings, bigint for integers.
func columnKinds() []string {
	var r row
	kinds := make([]string, 0, len(columnList))
	for _, v := range r.args() {
		if _, ok := v.(string); ok {
			kinds = append(kinds, "text")
		} else {
			kinds = append(kinds, "bigint")
		}
	}
	return kinds
}

// migrateLockKey is the advisory lock that serialises migrations of
// servers starting at once against one database; the subscriber store
// takes the same one, so their migrations queue too.
const migrateLockKey = 0x7061726c6579 // "parley"

// pgDB is the PostgreSQL backend. It speaks pgx's own protocol rather than
// database/sql, so that a group commit goes to the server as one pipelined
// batch: one round trip for a thousand REGISTERs.
type pgDB struct {
	pool *pgxpool.Pool
}

// OpenPostgres connects to PostgreSQL (dsn as pgx takes it: a URL or
// key=value pairs; a search_path parameter selects the schema), brings the
// schema up to date, loads every live binding into memory and purges the
// expired ones. WithSync does not apply: the server's synchronous_commit
// decides what a commit survives.
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	db, err := openPgDB(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return open(ctx, db, newConfig(opts))
}

func openPgDB(ctx context.Context, dsn string) (*pgDB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("location/sqlstore: PostgreSQL: %w", err)
	}
	// pgx prepares each statement once per connection, and after five runs
	// PostgreSQL may switch it to a generic plan, made without the
	// parameters: one made while the table was small deletes by scanning
	// it, and a group commit then grows with the table (6 ms at 2 000
	// rows, 80 ms at 8 000). Planning each run for its parameters costs
	// well under a millisecond per group. (PostgreSQL 12 or later.)
	if _, set := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("location/sqlstore: PostgreSQL: %w", err)
	}
	db := &pgDB{pool: pool}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("location/sqlstore: PostgreSQL: %w", err)
	}
	return db, nil
}

func (p *pgDB) migrate(ctx context.Context) error {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLockKey)); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if err := postgresMigrations.apply(ctx, pgTx{tx}); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// pgTx adapts a pgx transaction to migrationTx.
type pgTx struct{ tx pgx.Tx }

func (t pgTx) exec(ctx context.Context, query string, args ...any) error {
	_, err := t.tx.Exec(ctx, query, args...)
	return err
}

func (t pgTx) version(ctx context.Context) (int, error) {
	var v int
	err := t.tx.QueryRow(ctx, versionQuery, component).Scan(&v)
	return v, err
}

// commit implements backend. The group is one pipelined batch, which pgx
// runs as one implicit transaction in one round trip: purges, then one
// DELETE of every AOR, then one INSERT of every row from column arrays
// (each AOR is in a group once, so the order within it does not matter).
func (p *pgDB) commit(ctx context.Context, cs []*change) error {
	var (
		b    pgx.Batch
		aors []string
		rows []any
	)
	for _, c := range cs {
		if c.purge {
			queuePurge(&b, c)
			continue
		}
		aors = append(aors, c.aor)
		rows = append(rows, c.args...)
	}
	if len(aors) > 0 {
		b.Queue(pgDelete, aors)
	}
	if len(rows) > 0 {
		b.Queue(pgInsert, byColumn(rows)...)
	}
	return p.pool.SendBatch(ctx, &b).Close()
}

func queuePurge(b *pgx.Batch, c *change) {
	b.Queue(pgPurge, c.before, c.limit).Exec(func(ct pgconn.CommandTag) error {
		c.purged = int(ct.RowsAffected())
		return nil
	})
}

// byColumn turns rows of encode's values into one typed slice per column,
// for unnest.
func byColumn(rows []any) []any {
	width := len(columnList)
	cols := make([]any, width)
	for j := range width {
		if _, ok := rows[j].(string); ok {
			cols[j] = column[string](rows, j, width)
		} else {
			cols[j] = column[int64](rows, j, width)
		}
	}
	return cols
}

// column gathers column j of rows that are width values each.
func column[T any](rows []any, j, width int) []T {
	col := make([]T, 0, len(rows)/width)
	for i := j; i < len(rows); i += width {
		col = append(col, rows[i].(T))
	}
	return col
}

// scan implements backend.
func (p *pgDB) scan(ctx context.Context, fn func(b *location.Binding) error) error {
	rows, err := p.pool.Query(ctx, pgScan)
	if err != nil {
		return fmt.Errorf("location/sqlstore: load: %w", err)
	}
	return eachPgRow(rows, fn)
}

// read implements backend.
func (p *pgDB) read(ctx context.Context, aor string) ([]location.Binding, error) {
	rows, err := p.pool.Query(ctx, pgRead, aor)
	if err != nil {
		return nil, err
	}
	var bs []location.Binding
	err = eachPgRow(rows, func(b *location.Binding) error {
		bs = append(bs, *b)
		return nil
	})
	return bs, err
}

// eachPgRow decodes rows into bindings for fn and closes rows.
func eachPgRow(rows pgx.Rows, fn func(b *location.Binding) error) error {
	defer rows.Close()
	return decodeRows(rows, fn)
}

// dataError implements backend: SQLSTATE classes 22 (data exception,
// such as invalid UTF-8 or a NUL byte in text, which SQLite and memory
// accept but PostgreSQL refuses), 23 (integrity constraint) and 54
// (program limit, such as a key too long for the index) are about a row.
func (p *pgDB) dataError(err error) bool {
	var e *pgconn.PgError
	if !errors.As(err, &e) || len(e.Code) < 2 {
		return false
	}
	switch e.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}

// close implements backend.
func (p *pgDB) close() error {
	p.pool.Close()
	return nil
}
