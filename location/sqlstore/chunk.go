package sqlstore

import (
	"context"
	"database/sql"
	"strings"
)

// chunked holds one statement per power of two from 1 to 64 items, so any
// number of items is written in at most log2(n)+1 statements (37 is
// 32+4+1) from seven prepared ones.
type chunked [7]*sql.Stmt

// deleteSQL deletes the rows of n AORs.
func deleteSQL(n int) string {
	return `DELETE FROM bindings WHERE aor IN (` + placeholders(n, 1) + `)`
}

// insertSQL inserts n rows.
func insertSQL(n int) string {
	return `INSERT INTO bindings (` + columns + `) VALUES ` + placeholders(n, len(columnList))
}

// placeholders is n groups of width "?", parenthesised when width > 1.
func placeholders(n, width int) string {
	one := strings.Repeat("?, ", width)
	one = one[:len(one)-2]
	if width > 1 {
		one = "(" + one + ")"
	}
	return strings.Repeat(one+", ", n-1) + one
}

func (c *chunked) prepare(ctx context.Context, db *sql.DB, text func(n int) string) error {
	for i := range c {
		st, err := db.PrepareContext(ctx, text(1<<i))
		if err != nil {
			return err
		}
		c[i] = st
	}
	return nil
}

// exec runs the statements over args, width values per item, largest
// chunk first.
func (c *chunked) exec(ctx context.Context, tx *sql.Tx, args []any, width int) error {
	for n := len(args) / width; n > 0; {
		i := len(c) - 1
		for 1<<i > n {
			i--
		}
		k := 1 << i
		if _, err := tx.StmtContext(ctx, c[i]).ExecContext(ctx, args[:k*width]...); err != nil {
			return err
		}
		args, n = args[k*width:], n-k
	}
	return nil
}
