package eventlog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Outage follows whether a dependency (a database) works, from the
// outcome of each use, and logs a warning when it starts failing and an
// info line when it works again, with how long it was down and how many
// uses failed meanwhile: two lines per outage, however many requests it
// fails. Its methods are safe for concurrent use; Succeeded costs an
// atomic load while nothing is wrong.
type Outage struct {
	// What names the dependency in the log lines ("location store").
	What string
	// Log receives the two lines; nil is slog.Default().
	Log *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time

	down    atomic.Bool
	mu      sync.Mutex
	since   time.Time
	failed  int
	lastErr error
}

// Failed records a failed use; the first one of an outage is logged.
func (o *Outage) Failed(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lastErr = err
	if o.down.Load() {
		o.failed++
		return
	}
	o.since, o.failed = o.now(), 1
	o.down.Store(true)
	o.logger().LogAttrs(context.Background(), slog.LevelWarn, o.What+" unavailable",
		slog.String("error", err.Error()))
}

// Succeeded records a use that worked, which ends an outage.
func (o *Outage) Succeeded() {
	if !o.down.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down.Load() {
		return
	}
	o.down.Store(false)
	o.logger().LogAttrs(context.Background(), slog.LevelInfo, o.What+" available again",
		slog.String("down_for", o.now().Sub(o.since).Round(time.Millisecond).String()),
		slog.Int("failed", o.failed), slog.String("last_error", o.lastErr.Error()))
}

// Err returns nil while the dependency works, and during an outage an
// error saying since when and why.
func (o *Outage) Err() error {
	if !o.down.Load() {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down.Load() {
		return nil
	}
	return fmt.Errorf("%s unavailable for %s (%d failed): %w", o.What,
		o.now().Sub(o.since).Round(time.Second), o.failed, o.lastErr)
}

func (o *Outage) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Outage) logger() *slog.Logger {
	if o.Log != nil {
		return o.Log
	}
	return slog.Default()
}
