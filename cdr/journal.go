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

// Commit implements Journal. A call's record supersedes its journal
// rows in the same batch: they are not written only to be deleted (a
// call shorter than a commit, or one that failed at once). The rows go in
// three multi-row statements at most (per chunk, see maxRows): the
// records, the removal of the ended calls' rows (written by an earlier
// commit, if any), and the last row of each call still up.
func (s *SQL) Commit(ctx context.Context, changes []Change) error {
	ctx = s.writeContext(ctx)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	p := &s.plan
	p.sort(changes)
	defer p.reset()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cdr: commit: %w", err)
	}
	defer tx.Rollback()
	for _, step := range [...]struct {
		kind stmtKind
		rows []*Record
	}{{insertRecords, p.recs}, {deleteOpen, p.recs}, {upsertOpen, p.opens}} {
		if p.args, err = s.execRows(ctx, tx, step.kind, step.rows, p.args); err != nil {
			return fmt.Errorf("cdr: commit: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cdr: commit: %w", err)
	}
	return nil
}

// batchPlan is a batch of changes sorted into what a commit writes. The
// store keeps one and reuses its slices and map, so a commit allocates
// little of its own.
type batchPlan struct {
	recs  []*Record       // the records of ended calls, in order
	opens []*Record       // the last journal row of each call still up, in order of its first
	index map[callRef]int // a call's place in opens, or recorded
	args  []any           // the statements' arguments
}

// recorded marks a call of the batch whose record is in recs.
const recorded = -1

// keptPlan bounds the batch whose slices and map a plan keeps for the
// next: past it (a burst after the store came back) they go to the GC
// rather than stay the size of the burst.
const keptPlan = 4096

// sort fills p from changes.
func (p *batchPlan) sort(changes []Change) {
	if p.index == nil {
		p.index = map[callRef]int{}
	}
	for i := range changes {
		if ch := &changes[i]; !ch.Open {
			p.recs = append(p.recs, &ch.Record)
			p.index[refOf(&ch.Record)] = recorded
		}
	}
	for i := range changes {
		ch := &changes[i]
		if !ch.Open {
			continue
		}
		ref := refOf(&ch.Record)
		switch at, seen := p.index[ref]; {
		case !seen:
			p.index[ref] = len(p.opens)
			p.opens = append(p.opens, &ch.Record)
		case at != recorded:
			p.opens[at] = &ch.Record
		}
	}
}

// reset empties p for the next batch, letting go of its records.
func (p *batchPlan) reset() {
	if len(p.index) > keptPlan {
		*p = batchPlan{}
		return
	}
	clear(p.recs)
	clear(p.opens)
	clear(p.args)
	p.recs, p.opens, p.args = p.recs[:0], p.opens[:0], p.args[:0]
	clear(p.index)
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
