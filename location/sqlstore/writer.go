package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/eventlog"
	"github.com/parley-sip/parley/location"
)

// change is one queued write: an AOR's whole new binding set, or a purge
// of expired rows.
type change struct {
	aor  string
	args []any // the AOR's new rows' column values (see encode); none deletes the AOR

	purge  bool
	before int64 // purge rows whose expiry (Unix seconds) is at or before this
	limit  int   // at most this many
	purged int   // set by the commit: rows the purge removed

	err  error      // the commit's outcome, set by the writer
	done chan error // receives err, once
}

// commitTimeout bounds one group's transaction, so that a database that
// stops answering turns into errors instead of Updates waiting forever.
const commitTimeout = 30 * time.Second

// writer is the single goroutine that commits queued changes in groups.
type writer struct {
	db       backend
	queue    chan *change
	maxBatch int
	done     chan struct{} // closed when the goroutine has exited

	// sendMu lets stop close the queue with no sender in flight.
	sendMu  sync.RWMutex
	stopped bool

	// pending counts each AOR's queued, uncommitted changes, for resync.
	pendMu  sync.Mutex
	pending map[string]int

	// health follows whether commits succeed; committing is when the
	// commit in progress started (Unix nanoseconds), 0 between commits.
	health     *eventlog.Outage
	committing atomic.Int64
}

func startWriter(db backend, maxBatch int, health *eventlog.Outage) *writer {
	w := &writer{
		db:       db,
		queue:    make(chan *change, 4*maxBatch),
		maxBatch: maxBatch,
		done:     make(chan struct{}),
		pending:  make(map[string]int),
		health:   health,
	}
	go w.run()
	return w
}

// enqueue hands c to the writer and returns it; c.done will receive the
// outcome. It blocks while the queue is full, which is the back-pressure
// that keeps memory from running far ahead of the disk.
func (w *writer) enqueue(c *change) (*change, error) {
	c.done = make(chan error, 1)
	w.sendMu.RLock()
	defer w.sendMu.RUnlock()
	if w.stopped {
		return nil, location.ErrClosed
	}
	if !c.purge {
		w.pendMu.Lock()
		w.pending[c.aor]++
		w.pendMu.Unlock()
	}
	w.queue <- c
	return c, nil
}

// pendingFor reports whether a change of aor is queued or being committed.
func (w *writer) pendingFor(aor string) bool {
	w.pendMu.Lock()
	defer w.pendMu.Unlock()
	return w.pending[aor] > 0
}

// stop commits what is queued, then ends the goroutine.
func (w *writer) stop() {
	w.sendMu.Lock()
	w.stopped = true
	close(w.queue)
	w.sendMu.Unlock()
	<-w.done
}

func (w *writer) run() {
	defer close(w.done)
	group := make([]*change, 0, w.maxBatch)
	var writes []*change
	last := make(map[string]*change)
	for c := range w.queue {
		group = w.collect(append(group[:0], c))
		writes = coalesce(writes[:0], group, last)
		w.commitGroup(writes)
		w.finish(group, last)
		// Drop the references, so committed changes can be collected.
		clear(group)
		clear(writes)
	}
}

// collect adds to g whatever is already waiting, up to the batch size. It
// never waits for more: changes gather on their own while a commit syncs.
func (w *writer) collect(g []*change) []*change {
	for len(g) < w.maxBatch {
		select {
		case c, ok := <-w.queue:
			if !ok {
				return g
			}
			g = append(g, c)
		default:
			return g
		}
	}
	return g
}

// coalesce appends to out the changes of group worth writing, in order:
// every purge, and of each AOR only its last change, since each change
// replaces the AOR's rows whole. last is scratch space.
func coalesce(out, group []*change, last map[string]*change) []*change {
	clear(last)
	for _, c := range group {
		if !c.purge {
			last[c.aor] = c
		}
	}
	for _, c := range group {
		if c.purge || last[c.aor] == c {
			out = append(out, c)
		}
	}
	return out
}

// commitGroup commits writes in one transaction and sets each one's err.
// If the group fails over one change's data, the changes are retried one
// by one, so a REGISTER the database refuses fails alone instead of taking
// its group down with it.
func (w *writer) commitGroup(writes []*change) {
	err := w.commit(writes)
	if err != nil && len(writes) > 1 && w.db.dataError(err) {
		for i, c := range writes {
			c.err = w.commit(writes[i : i+1])
		}
		return
	}
	for _, c := range writes {
		c.err = err
	}
}

// commit commits cs and tells health how the database did: a change it
// refused for its data is no sign of an outage.
func (w *writer) commit(cs []*change) error {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	w.committing.Store(time.Now().UnixNano())
	err := w.db.commit(ctx, cs)
	w.committing.Store(0)
	if err != nil && !w.db.dataError(err) {
		w.health.Failed(err)
	} else {
		w.health.Succeeded()
	}
	if err != nil {
		return fmt.Errorf("location/sqlstore: commit: %w", err)
	}
	return nil
}

// stuckAfter is how long a commit may run before the store counts as not
// taking writes: a database that stopped answering (rather than refusing
// connections) holds a commit until commitTimeout.
const stuckAfter = 5 * time.Second

// ready returns nil while commits succeed and none has been running for
// stuckAfter, else why not.
func (w *writer) ready() error {
	if err := w.health.Err(); err != nil {
		return err
	}
	if start := w.committing.Load(); start != 0 {
		if d := time.Since(time.Unix(0, start)); d > stuckAfter {
			return fmt.Errorf("location store: a commit has been waiting for %s", d.Round(time.Second))
		}
	}
	return nil
}

// finish tells every change of the group how its commit went; a change
// coalesced away shares the fate of its AOR's last change, which carried
// its effect. Pending counts drop first, so that a waiter that resyncs
// sees its own change as settled.
func (w *writer) finish(group []*change, last map[string]*change) {
	w.pendMu.Lock()
	for _, c := range group {
		if c.purge {
			continue
		}
		c.err = last[c.aor].err
		if w.pending[c.aor]--; w.pending[c.aor] <= 0 {
			delete(w.pending, c.aor)
		}
	}
	w.pendMu.Unlock()
	for _, c := range group {
		c.done <- c.err
	}
}
