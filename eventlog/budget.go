package eventlog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Default budget of each kind of event line: enough for an office's
// phones all registering at once after a power cut, far below what a
// 40 000 REGISTER/s flood would otherwise write.
const (
	DefaultRate  = 100  // lines per second, on average, of one kind
	DefaultBurst = 1000 // lines of one kind at once
)

// maxKinds bounds the budgets kept: messages are constants in Parley's
// own code, but a library's line may carry its text in the message.
// Kinds past the bound share one budget.
const maxKinds = 256

// Limit returns a logger writing through log's handler that writes at
// most burst lines of one kind (one message text) at once and rate per
// second on average; the rest are dropped. The next line of a kind that
// had lines dropped says how many, in its "dropped" attribute, so that
// nothing is silently lost from the count. rate or burst below 1 take the
// defaults.
//
// The budget is kept per message so that a flood of one event (new
// registrations) never crowds out the lines of another (a wrong
// password, which fail2ban is waiting for).
func Limit(log *slog.Logger, rate, burst int) *slog.Logger {
	if rate < 1 {
		rate = DefaultRate
	}
	if burst < 1 {
		burst = DefaultBurst
	}
	b := &budgets{rate: float64(rate), burst: float64(burst), kinds: make(map[string]*bucket)}
	return slog.New(&limited{next: log.Handler(), budgets: b})
}

// limited is the slog.Handler that Limit builds. Clones made by WithAttrs
// and WithGroup share the budgets.
type limited struct {
	next    slog.Handler
	budgets *budgets
}

func (h *limited) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *limited) Handle(ctx context.Context, r slog.Record) error {
	ok, dropped := h.budgets.take(r.Message, r.Time)
	if !ok {
		return nil
	}
	if dropped > 0 {
		r.AddAttrs(slog.Uint64("dropped", dropped))
	}
	return h.next.Handle(ctx, r)
}

func (h *limited) WithAttrs(as []slog.Attr) slog.Handler {
	return &limited{next: h.next.WithAttrs(as), budgets: h.budgets}
}

func (h *limited) WithGroup(name string) slog.Handler {
	return &limited{next: h.next.WithGroup(name), budgets: h.budgets}
}

// budgets holds a token bucket per kind of line.
type budgets struct {
	rate, burst float64
	mu          sync.Mutex
	kinds       map[string]*bucket
	overflow    bucket
}

// bucket is one kind's tokens and the lines dropped since one was last
// written.
type bucket struct {
	tokens  float64
	last    time.Time
	dropped uint64
}

// take spends a token of msg's budget at now, and returns whether the
// line may be written and, if so, how many of its kind were dropped
// before it.
func (b *budgets) take(msg string, now time.Time) (ok bool, dropped uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.kinds[msg]
	if k == nil {
		k = &b.overflow
		if len(b.kinds) < maxKinds {
			k = &bucket{tokens: b.burst, last: now}
			b.kinds[msg] = k
		}
	}
	if elapsed := now.Sub(k.last); elapsed > 0 {
		k.tokens = min(b.burst, k.tokens+elapsed.Seconds()*b.rate)
		k.last = now
	}
	if k.tokens < 1 {
		k.dropped++
		return false, 0
	}
	k.tokens--
	dropped, k.dropped = k.dropped, 0
	return true, dropped
}
