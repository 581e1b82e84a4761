package cdr

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/eventlog"
)

// MaxPending bounds the records a Writer holds while its store refuses
// them (about 500 bytes each); past it new records are dropped, counted
// as write errors and logged.
const MaxPending = 100000

// retryAfter is how long the Writer waits after a failed commit.
const retryAfter = time.Second

// CommitGap is the least time from one commit's start to the next's: a
// record handed over sooner waits for the rest of it with the others
// arriving meanwhile. A commit's cost is mostly per commit, not per row
// (SQLite writes each changed page to its WAL and syncs it): in batches
// of 2 calls a call cost the writer 222 µs of CPU, of 8 calls 71 µs, of
// 32 calls 36 µs. Without a gap the batches are as small as the disk's
// sync is quick, so a fast disk made each call dearer, and the writer's
// CPU was the message path's wait on the same cores
// (docs/PERFORMANCE.md, issue 16's latency at half load).
const CommitGap = 5 * time.Millisecond

// Writer commits records to a Store in groups: Write hands a record over
// without waiting, and one goroutine commits everything handed over
// since its last commit in one transaction, then goes again, no sooner
// than CommitGap after the last one began. A record handed over to an
// idle writer whose last commit is older than that is committed at once;
// otherwise it gathers with the next ones. So what a kill -9 can lose is
// the records handed over in the last few milliseconds (the commit in
// progress, and those waiting for it); a failing store keeps them in
// memory and retries every second.
type Writer struct {
	store Store
	log   *slog.Logger
	// outage logs a failing store once when the commits start failing
	// and once when one works again: retried every second, a line per
	// retry would bury everything else for the length of the outage.
	outage *eventlog.Outage

	mu      sync.Mutex
	pending []Change
	waiters []func() // AfterCommit's, for the round after the one running
	// spare and spareWaiters are the slices of the last commit, emptied:
	// the next round gathers in them rather than growing new ones from
	// nothing (a record is some 340 bytes; a batch's growth by doubling
	// was garbage of twice the batch).
	spare        []Change
	spareWaiters []func()
	busy         bool          // a commit is running
	wake         chan struct{} // one slot: work arrived
	idle         *sync.Cond    // signalled after each commit round
	closing      bool

	// gap is CommitGap (tests shorten or lengthen it); last is when the
	// last commit began. Both are the goroutine's own.
	gap  time.Duration
	last time.Time

	written, errors atomic.Uint64
	done            chan struct{}
}

// NewWriter starts a writer on store; log (nil: slog.Default) gets a
// line when commits start failing, one when they work again, and one
// per dropped record.
func NewWriter(store Store, log *slog.Logger) *Writer {
	return newWriter(store, log, CommitGap)
}

func newWriter(store Store, log *slog.Logger, gap time.Duration) *Writer {
	if log == nil {
		log = slog.Default()
	}
	w := &Writer{store: store, log: log, gap: gap, wake: make(chan struct{}, 1), done: make(chan struct{}),
		outage: &eventlog.Outage{What: "cdr store", Log: log}}
	w.idle = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// Write hands a finished call's record over for the next commit. It
// never blocks.
func (w *Writer) Write(r Record) { w.hand(Change{Record: r}) }

// Open hands over a call in progress for the journal, when the store is
// a Journal (other stores have nothing to recover after a restart and
// ignore it). It never blocks.
func (w *Writer) Open(r Record) { w.hand(Change{Record: r, Open: true}) }

// AfterCommit runs fn (on the writer's goroutine; it must not block)
// once every change handed over before the call has been through a
// commit: committed, or failed and kept for a retry. What the caller
// acts on then (a BYE's 200) can follow its record to the disk.
func (w *Writer) AfterCommit(fn func()) {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		fn()
		return
	}
	w.waiters = append(w.waiters, fn)
	w.signal()
	w.mu.Unlock()
}

// signal wakes the goroutine; call it under mu, so that Close cannot
// close wake in between.
func (w *Writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *Writer) hand(r Change) {
	w.mu.Lock()
	if w.closing || len(w.pending) >= MaxPending {
		w.mu.Unlock()
		if r.Open {
			return // the call's record, when it ends, is what counts
		}
		w.errors.Add(1)
		w.log.Error("cdr: record dropped", "call_id", r.CallID, "reason", "writer closed or too many records waiting")
		return
	}
	w.pending = append(w.pending, r)
	w.signal()
	w.mu.Unlock()
}

// Stats returns the records committed and those that failed to commit
// (a failed commit counts each of its records; a retry that succeeds
// counts them as written too) or were dropped.
func (w *Writer) Stats() (written, errors uint64) { return w.written.Load(), w.errors.Load() }

// Flush waits until every record handed over before the call is
// committed, or ctx ends.
func (w *Writer) Flush(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.idle.Broadcast()
		w.mu.Unlock()
	})
	defer stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	for (len(w.pending) > 0 || w.busy) && ctx.Err() == nil {
		w.idle.Wait()
	}
	return ctx.Err()
}

// Close commits what is pending, trying until ctx ends, and stops. It
// does not close the store.
func (w *Writer) Close(ctx context.Context) error {
	err := w.Flush(ctx)
	w.mu.Lock()
	w.closing = true
	if n := finished(w.pending); n > 0 {
		w.errors.Add(uint64(n))
		w.log.Error("cdr: records not written at shutdown", "records", n)
		w.pending = nil
	}
	waiters := w.waiters
	w.waiters = nil
	w.mu.Unlock()
	close(w.wake)
	<-w.done
	for _, fn := range waiters {
		fn()
	}
	return err
}

// apply commits a batch: in one transaction with the journal when the
// store keeps one, else the finished records alone.
func (w *Writer) apply(ctx context.Context, batch []Change) error {
	if j, ok := w.store.(Journal); ok {
		return j.Commit(ctx, batch)
	}
	recs := make([]Record, 0, len(batch))
	for i := range batch {
		if !batch[i].Open {
			recs = append(recs, batch[i].Record)
		}
	}
	if len(recs) == 0 {
		return nil
	}
	return w.store.Add(ctx, recs)
}

// finished counts the records of ended calls in batch: what Stats
// counts, the journal's rows aside.
func finished(batch []Change) int {
	n := 0
	for i := range batch {
		if !batch[i].Open {
			n++
		}
	}
	return n
}

// keptBatch bounds the slices a Writer keeps for its next round: past it
// (the burst after a failing store came back) they go to the GC rather
// than stay the size of the burst.
const keptBatch = 4096

// recycle keeps a finished round's slices, emptied, for a later round.
func (w *Writer) recycle(batch []Change, waiters []func()) {
	w.mu.Lock()
	w.recycleLocked(batch, waiters)
	w.mu.Unlock()
}

func (w *Writer) recycleLocked(batch []Change, waiters []func()) {
	if cap(batch) <= keptBatch && w.spare == nil {
		clear(batch) // lets go of the records' strings
		w.spare = batch[:0]
	}
	if cap(waiters) <= keptBatch && w.spareWaiters == nil {
		clear(waiters)
		w.spareWaiters = waiters[:0]
	}
}

func (w *Writer) run() {
	defer close(w.done)
	for range w.wake {
		for w.commit() {
		}
	}
}

// pace waits, when records are pending, until the gap since the last
// commit began has passed: those arriving meanwhile join them.
func (w *Writer) pace() {
	wait := w.gap - time.Since(w.last)
	if wait <= 0 {
		return
	}
	w.mu.Lock()
	pending := len(w.pending) > 0
	w.mu.Unlock()
	if pending {
		time.Sleep(wait)
	}
}

// commit commits one batch and says whether to go again at once.
func (w *Writer) commit() bool {
	w.pace()
	w.mu.Lock()
	batch, waiters := w.pending, w.waiters
	w.pending, w.waiters, w.busy = w.spare, w.spareWaiters, len(batch) > 0
	w.spare, w.spareWaiters = nil, nil
	w.mu.Unlock()
	if len(batch) == 0 {
		for _, fn := range waiters {
			fn()
		}
		w.recycle(batch, waiters)
		return false
	}
	w.last = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := w.apply(ctx, batch)
	cancel()
	// Counted before Flush can return and before the AfterCommit
	// waiters run, so that Stats seen by either are up to date.
	if n := uint64(finished(batch)); err == nil {
		w.written.Add(n)
	} else {
		w.errors.Add(n)
	}
	for _, fn := range waiters {
		fn()
	}
	w.mu.Lock()
	w.busy = false
	if err != nil {
		w.pending = append(batch, w.pending...) // keep the order of writing
		batch = nil
	}
	w.recycleLocked(batch, waiters)
	closing := w.closing
	w.idle.Broadcast()
	w.mu.Unlock()
	if err == nil {
		w.outage.Succeeded()
		return true
	}
	w.outage.Failed(err)
	if closing {
		return false
	}
	time.Sleep(retryAfter)
	return true
}
