package cdr

import (
	"context"
	"fmt"
	"time"
)

// Change is one thing the Writer commits: the Record of a call that
// ended, or, with Open set, a call still in progress written to the
// journal (rung or answered), so that a kill -9 cannot take it away
// without a record.
type Change struct {
	Record
	Open bool
}

// Journal is a Store that also keeps the calls in progress. A finished
// call's Record and the removal of its journal row commit in one
// transaction, so a call has exactly one of the two at any time.
// The memory engine is no Journal: after a restart it has nothing to
// recover anyway.
type Journal interface {
	Store
	// Commit applies the changes in order in one transaction: an Open
	// change adds or updates the call's journal row; a finished Record
	// is added as Add does and the call's row is removed.
	Commit(ctx context.Context, changes []Change) error
	// Recover turns the journal rows of node into records with
	// disposition Interrupted that end at end (or at their answer or
	// setup if those are later), and removes them. It returns how many
	// it recovered.
	Recover(ctx context.Context, node string, end time.Time) (int, error)
}

// RecoveredReason is the reason of a record Recover writes.
const RecoveredReason = "server restarted while the call was up"

// Commit implements Journal.
func (s *SQL) Commit(ctx context.Context, changes []Change) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cdr: commit: %w", err)
	}
	defer tx.Rollback()
	add, err := tx.PrepareContext(ctx, insertRecord)
	if err != nil {
		return fmt.Errorf("cdr: commit: %w", err)
	}
	defer add.Close()
	open, err := tx.PrepareContext(ctx, `INSERT INTO cdr_open (`+columns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
		ON CONFLICT (node, call_id, setup_us) DO UPDATE SET b_call_id = excluded.b_call_id,
		callee = excluded.callee, answered_by = excluded.answered_by, transferred_by = excluded.transferred_by,
		ringing_us = excluded.ringing_us, answered_us = excluded.answered_us, status = excluded.status,
		trunk = excluded.trunk, route = excluded.route`)
	if err != nil {
		return fmt.Errorf("cdr: commit: %w", err)
	}
	defer open.Close()
	del, err := tx.PrepareContext(ctx, `DELETE FROM cdr_open WHERE node = $1 AND call_id = $2 AND setup_us = $3`)
	if err != nil {
		return fmt.Errorf("cdr: commit: %w", err)
	}
	defer del.Close()
	for i := range changes {
		ch := &changes[i]
		if ch.Open {
			_, err = open.ExecContext(ctx, recordArgs(&ch.Record)...)
		} else if _, err = add.ExecContext(ctx, recordArgs(&ch.Record)...); err == nil {
			_, err = del.ExecContext(ctx, ch.Node, ch.CallID, micros(ch.Setup))
		}
		if err != nil {
			return fmt.Errorf("cdr: commit: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cdr: commit: %w", err)
	}
	return nil
}

// Recover implements Journal. It is one transaction: a crash during it
// leaves the rows to the next start, and the records' unique key keeps a
// repeated recovery from doubling a call.
func (s *SQL) Recover(ctx context.Context, node string, end time.Time) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("cdr: recover: %w", err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO cdrs (`+columns+`)
		SELECT node, call_id, b_call_id, caller, callee, dialled, trunk, source,
			setup_us, ringing_us, answered_us,
			CASE WHEN $2 > setup_us AND $2 > answered_us THEN $2 WHEN answered_us > setup_us THEN answered_us ELSE setup_us END,
			$3, $4, status, $5, route, answered_by, transferred_by
		FROM cdr_open o WHERE o.node = $1 ORDER BY o.setup_us
		ON CONFLICT (node, call_id, setup_us) DO NOTHING`,
		node, micros(end), string(Interrupted), string(System), RecoveredReason)
	if err != nil {
		return 0, fmt.Errorf("cdr: recover: %w", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM cdr_open WHERE node = $1`, node)
	if err != nil {
		return 0, fmt.Errorf("cdr: recover: %w", err)
	}
	n, _ := res.RowsAffected()
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("cdr: recover: commit: %w", err)
	}
	return int(n), nil
}

func recordArgs(r *Record) []any {
	return []any{r.Node, r.CallID, r.BCallID, r.Caller, r.Callee, r.Dialled, r.Trunk, r.Source,
		micros(r.Setup), micros(r.Ringing), micros(r.Answered), micros(r.End),
		string(r.Disposition), string(r.HungUpBy), r.Status, r.Reason, r.Route, r.AnsweredBy, r.TransferredBy}
}
