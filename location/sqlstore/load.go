package sqlstore

import (
	"context"
	"time"

	"github.com/parley-sip/parley/location"
)

// aorSet is one AOR's bindings as read from the database.
type aorSet struct {
	aor string
	bs  []location.Binding
}

// loadBatch is how many AORs the scanner hands over at a time: enough to
// make the hand-over cheap, few enough to keep both goroutines busy.
const loadBatch = 512

// load rebuilds the memory index from the database. One goroutine streams
// and decodes the rows while this one fills memory, so the two halves of
// the work overlap on two cores. Rows expired at now are skipped (open
// purges them next); ConnIDs are zeroed, since no connection survives the
// process that made it.
func (s *Store) load(ctx context.Context, now time.Time) (LoadStats, error) {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var st LoadStats
	var scanErr error
	sets := make(chan []aorSet, 4)
	go func() {
		defer close(sets)
		scanErr = s.scanSets(ctx, now, &st, sets)
	}()
	var err error
	for batch := range sets {
		if err == nil {
			err = s.insertSets(ctx, now, batch)
			st.AORs += len(batch)
		}
		if err != nil {
			cancel() // stop the scanner; keep draining so it can exit
		}
	}
	if err == nil {
		err = scanErr // read after close(sets), so after the scanner wrote it
	}
	st.Took = time.Since(start)
	s.loaded = st
	return st, err
}

// insertSets gives each set to memory.
func (s *Store) insertSets(ctx context.Context, now time.Time, batch []aorSet) error {
	for _, set := range batch {
		_, err := s.mem.Update(ctx, set.aor, now, func([]location.Binding) ([]location.Binding, error) {
			return set.bs, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// scanSets streams the live bindings, grouped by AOR, to out in batches.
// It counts bindings and expired rows in st.
func (s *Store) scanSets(ctx context.Context, now time.Time, st *LoadStats, out chan<- []aorSet) error {
	batch := make([]aorSet, 0, loadBatch)
	send := func() error {
		select {
		case out <- batch:
			batch = make([]aorSet, 0, loadBatch)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := s.db.scan(ctx, func(b *location.Binding) error {
		if !b.Live(now) {
			st.Expired++
			return nil
		}
		b.ConnID = 0
		st.Bindings++
		if n := len(batch); n > 0 && batch[n-1].aor == b.AOR {
			batch[n-1].bs = append(batch[n-1].bs, *b)
			return nil
		}
		// A new AOR: the batch's last set is complete, so it may go.
		if len(batch) == loadBatch {
			if err := send(); err != nil {
				return err
			}
		}
		batch = append(batch, aorSet{aor: b.AOR, bs: []location.Binding{*b}})
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = send()
	}
	return err
}

// Loaded reports what the store loaded from its database when it opened,
// for the server's start-up log.
func (s *Store) Loaded() LoadStats {
	return s.loaded
}
