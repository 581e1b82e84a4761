package sqlstore

import (
	"log/slog"
	"time"
)

// Sync says how SQLite makes a commit durable; see the package
// documentation for what each choice survives.
type Sync int

const (
	// SyncFull fsyncs the WAL at every commit: an acknowledged binding
	// survives power loss. It is the default.
	SyncFull Sync = iota
	// SyncNormal leaves the WAL to the OS between checkpoints: an
	// acknowledged binding survives kill -9 but maybe not a power cut.
	SyncNormal
)

// pragma is the SQLite synchronous value for s.
func (s Sync) pragma() string {
	if s == SyncNormal {
		return "NORMAL"
	}
	return "FULL"
}

// defaultMaxBatch bounds a group commit: large enough that a burst shares
// few fsyncs, small enough that one transaction never holds the writer for
// long.
const defaultMaxBatch = 1000

// Option adjusts how a Store is opened.
type Option func(*config)

// config is what the options set.
type config struct {
	sync     Sync
	maxBatch int
	now      func() time.Time
	log      *slog.Logger
}

func newConfig(opts []Option) config {
	c := config{sync: SyncFull, maxBatch: defaultMaxBatch, now: time.Now, log: slog.Default()}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithSync chooses SQLite's durability; PostgreSQL ignores it.
func WithSync(s Sync) Option {
	return func(c *config) { c.sync = s }
}

// WithMaxBatch caps how many changes one group commit writes (default
// 1000). A cap of 1 turns group commit off, which is useful only to
// measure what it buys.
func WithMaxBatch(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxBatch = n
		}
	}
}

// WithClock supplies "now" for opening: bindings that expired by then are
// neither loaded nor kept. Tests use it; servers keep time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithLogger sets where the store logs: an outage of its database when it
// starts and when it ends, and a binding it had to drop from memory
// because the database could not be read after a failed commit.
func WithLogger(log *slog.Logger) Option {
	return func(c *config) {
		if log != nil {
			c.log = log
		}
	}
}
