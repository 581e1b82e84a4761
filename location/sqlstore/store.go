package sqlstore

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/eventlog"
	"github.com/parley-sip/parley/location"
)

// backend is what an engine (SQLite, PostgreSQL) does with its database.
// Everything else — the memory index, queueing, grouping, rollback — is
// the Store's and shared.
type backend interface {
	// commit writes the changes, in order, in one transaction, and sets
	// each purge's count of removed rows.
	commit(ctx context.Context, cs []*change) error
	// scan calls fn with every stored binding, grouped by AOR (rows of one
	// AOR are consecutive). fn may keep *b: each call gets a fresh value.
	scan(ctx context.Context, fn func(b *location.Binding) error) error
	// read returns the stored bindings of aor.
	read(ctx context.Context, aor string) ([]location.Binding, error)
	// dataError reports whether a commit failed over what one change
	// holds (a value the database refuses) rather than over the database
	// itself, so that the other changes of the group may succeed alone.
	dataError(err error) bool
	close() error
}

// Store is a durable [location.Store]: a [location.Memory] for reads, and a
// database that every change is committed to before Update returns.
type Store struct {
	mem *location.Memory
	db  backend
	w   *writer
	log *slog.Logger

	loaded LoadStats

	closing   atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ location.Store = (*Store)(nil)

// LoadStats says what opening a store found in its database.
type LoadStats struct {
	Bindings int           // bindings loaded into memory
	AORs     int           // AORs they belong to
	Expired  int           // rows skipped because they had expired (and then purged)
	Took     time.Duration // time to stream the rows and build the index
}

// open builds the Store over db: loads the index, starts the writer and
// purges what had expired while the server was down.
func open(ctx context.Context, db backend, cfg config) (*Store, error) {
	s := &Store{mem: location.NewMemory(), db: db, log: cfg.log}
	now := cfg.now()
	if _, err := s.load(ctx, now); err != nil {
		db.close()
		return nil, err
	}
	s.w = startWriter(db, cfg.maxBatch, &eventlog.Outage{What: "location store", Log: cfg.log})
	if _, err := s.purgeDB(ctx, now); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Lookup implements [location.Store.Lookup] from memory alone.
func (s *Store) Lookup(ctx context.Context, aor string, now time.Time) ([]location.Binding, error) {
	return s.mem.Lookup(ctx, aor, now)
}

// Update implements [location.Store.Update]. It returns once the new set
// is committed; if the commit fails it returns the error and memory goes
// back to what the database holds.
//
// A contact is stored once per AOR, as the database's key has it: if fn
// returns two bindings with the same Contact, the later one is kept.
//
// It waits for the commit even if ctx is cancelled meanwhile: the change
// is already in memory and queued, and only the writer's verdict says
// whether memory may keep it.
func (s *Store) Update(ctx context.Context, aor string, now time.Time, fn func(current []location.Binding) ([]location.Binding, error)) ([]location.Binding, error) {
	var (
		c    *change
		prev []location.Binding // what the AOR had: what the database holds unless a commit is lost
	)
	// UpdateLocked, not Update: fn queues the change, which must happen
	// once and in the order memory applies the changes.
	out, err := s.mem.UpdateLocked(ctx, aor, now, func(cur []location.Binding) ([]location.Binding, error) {
		had := len(cur)
		prev = slices.Clone(cur) // fn may change cur in place
		next, err := fn(cur)
		if err != nil {
			return nil, err
		}
		live := liveSet(next, now)
		if had == 0 && len(live) == 0 {
			// Nothing live before or after: nothing to make durable.
			return live, nil
		}
		// Queued under the AOR's lock, so the writer sees this AOR's
		// changes in the order memory applies them.
		c, err = s.w.enqueue(&change{aor: aor, args: encode(aor, live)})
		if err != nil {
			return nil, err
		}
		return live, nil
	})
	if err != nil || c == nil {
		return out, err
	}
	if err := <-c.done; err != nil {
		s.resync(aor, now, prev)
		return nil, err
	}
	return out, nil
}

// liveSet copies the bindings of bs live at now, one per key (contact,
// instance and reg-id, location.SameKey; the later wins): what memory will store, and so exactly what the database
// must hold. Sets are small, so a quadratic search beats a map.
func liveSet(bs []location.Binding, now time.Time) []location.Binding {
	out := make([]location.Binding, 0, len(bs))
next:
	for i := range bs {
		if !bs[i].Live(now) {
			continue
		}
		for j := range out {
			if location.SameKey(&out[j], &bs[i]) {
				out[j] = bs[i]
				continue next
			}
		}
		out = append(out, bs[i])
	}
	return out
}

// errKeep aborts a resync's memory Update without changing anything.
var errKeep = errors.New("keep")

// resync puts aor's memory back to what the database holds after a failed
// commit. If another change of aor is still queued it does nothing: that
// change carries memory's current set and its commit (or its own resync)
// settles the AOR. Holding the AOR's lock, no new change can be queued
// while the database is read, so what is read is what stays. When the
// database cannot be read either (it is down), memory goes back to prev,
// the set before the failed change, which is what the last successful
// commit left: a REGISTER refused during an outage must not cost the
// phone its acknowledged binding.
func (s *Store) resync(aor string, now time.Time, prev []location.Binding) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	_, err := s.mem.UpdateLocked(ctx, aor, now, func(cur []location.Binding) ([]location.Binding, error) {
		if s.w.pendingFor(aor) {
			return nil, errKeep
		}
		bs, err := s.db.read(ctx, aor)
		if err != nil {
			s.log.LogAttrs(ctx, slog.LevelDebug, "location/sqlstore: reload after failed commit",
				slog.String("aor", aor), slog.String("error", err.Error()))
			return prev, nil
		}
		keepConnIDs(bs, cur)
		return bs, nil
	})
	if err != nil && !errors.Is(err, errKeep) && !errors.Is(err, location.ErrClosed) {
		s.log.LogAttrs(ctx, slog.LevelDebug, "location/sqlstore: resync", slog.String("aor", aor), slog.String("error", err.Error()))
	}
}

// keepConnIDs copies ConnID from memory's binding of the same key: the
// database's may come from an earlier process, but memory's names a
// connection of this one.
func keepConnIDs(bs, cur []location.Binding) {
	for i := range bs {
		bs[i].ConnID = 0
		for j := range cur {
			if location.SameKey(&cur[j], &bs[i]) {
				bs[i].ConnID = cur[j].ConnID
				break
			}
		}
	}
}

// purgeBatch caps the rows one purge deletes, so a mass expiry never holds
// the writer (and every REGISTER queued behind it) in one long transaction.
const purgeBatch = 1000

// Expire implements [location.Store.Expire]. It purges the database first,
// in batches through the writer, then memory. That order keeps memory a
// subset of the database: a change queued before a purge was applied to
// memory before the purge was queued, so memory's sweep, which runs after
// the purge commits, removes whatever the purge removed of it; a change
// queued after the purge is written after it.
func (s *Store) Expire(ctx context.Context, now time.Time) (int, error) {
	return s.Sweep(ctx, now, nil)
}

// Sweep implements [location.Sweeper]: Expire, calling expired with each
// binding removed.
func (s *Store) Sweep(ctx context.Context, now time.Time, expired func(location.Binding)) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if s.closing.Load() {
		return 0, location.ErrClosed
	}
	if _, err := s.purgeDB(ctx, now); err != nil {
		return 0, err
	}
	return s.mem.Sweep(ctx, now, expired)
}

// purgeDB deletes rows expired at now, a batch per commit, and returns how
// many went.
func (s *Store) purgeDB(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		c, err := s.w.enqueue(&change{purge: true, before: floorSec(now), limit: purgeBatch})
		if err != nil {
			return total, err
		}
		select {
		case err = <-c.done:
		case <-ctx.Done():
			// The purge still runs; nobody needs its count.
			return total, ctx.Err()
		}
		if err != nil {
			return total, err
		}
		total += c.purged
		if c.purged < purgeBatch {
			return total, nil
		}
	}
}

// Ready reports whether the database takes writes: nil while commits
// succeed (the expiry sweep commits a purge every second, so this is
// never much older than that), else the outage or the stuck commit.
func (s *Store) Ready() error { return s.w.ready() }

// Count implements [location.Store.Count] from memory.
func (s *Store) Count() (bindings, aors int) {
	return s.mem.Count()
}

// Range implements [location.Store.Range] from memory.
func (s *Store) Range(fn func(aor string, bs []location.Binding) bool) {
	s.mem.Range(fn)
}

// Close implements [location.Store.Close]. Changes already queued are
// committed before the database is closed, so an Update that was
// acknowledged — or is about to be — is not cut off.
func (s *Store) Close() error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		s.closing.Store(true)
		// Memory first: once its Close returns, no Update's fn is running,
		// so nothing more can be queued behind the writer's back.
		s.mem.Close()
		if s.w != nil {
			s.w.stop()
		}
		s.closeErr = s.db.close()
	})
	if !first {
		return nil
	}
	return s.closeErr
}
