package transaction

import (
	"log/slog"
	"time"

	"github.com/parley-sip/parley/clock"
)

// Config sets the timers and limits of a Layer. The zero value takes the
// RFC 3261 defaults.
type Config struct {
	// T1 is the round-trip time estimate (§17.1.1.1), 500 ms by default.
	// Timers B, F, H, J, L and M are 64*T1.
	T1 time.Duration
	// T2 caps the retransmission interval of non-INVITE requests and of
	// INVITE final responses, 4 s by default.
	T2 time.Duration
	// T4 is how long a message may stay in the network (Timers I and K),
	// 5 s by default.
	T4 time.Duration
	// TimerD is how long an INVITE client transaction stays in Completed
	// on UDP to ACK retransmitted final responses: at least 32 s
	// (§17.1.1.2), which is the default, or 64*T1 when that is longer.
	// Lowering it only suits tests and closed networks.
	TimerD time.Duration
	// MaxInFlight bounds the transactions in flight: those still waiting
	// for their final response, which hold their request and the Core's
	// state. When this many are in flight, a request that would start a
	// new server transaction is answered statelessly with 503 Too Many
	// Requests In Progress and Retry-After. Client transactions are never
	// refused: they carry requests already admitted. 0 means
	// DefaultMaxInFlight; a negative value means no bound.
	MaxInFlight int
	// MaxTransactions bounds every live transaction, in flight or
	// lingering after its final response to absorb retransmissions
	// (Timers D, I, J, K, L, M), so that what a burst leaves behind is
	// bounded too; past it new requests get 503 Too Many Transactions.
	// A non-INVITE server transaction lingering over UDP costs the size
	// of its final response and its key (about 0.5 KiB, off the Go heap),
	// and at N requests a second N*64*T1 of them are alive. 0 means
	// DefaultMaxTransactions; a negative value means no bound.
	MaxTransactions int
	// MemoryFull, when set, is a third bound: while it reports true, new
	// requests get 503 Too Much Memory In Use (the server passes
	// memlimit.Pressure's Full). It must be cheap: it runs per request.
	MemoryFull func() bool
	// RetryAfter is the Retry-After of that 503, 5 s by default.
	RetryAfter time.Duration
	// TryingDelay is when an INVITE server transaction sends 100 Trying
	// if the Core has not yet answered. 0 (the default) sends it at once,
	// as a proxy should (§16.2) to stop the upstream INVITE
	// retransmissions early; a positive delay is the UAS rule of §17.2.1
	// (200 ms); a negative one never sends it.
	TryingDelay time.Duration
	// Clock runs the timers; nil means clock.Default(), the process-wide
	// timing wheel.
	Clock clock.Clock
	// Logger receives debug events; nil discards them.
	Logger *slog.Logger

	// heapLinger keeps completed transactions on the heap with a timer
	// each, as before the linger store; benchmarks compare the two.
	heapLinger bool
}

// DefaultMaxInFlight is the bound on transactions in flight when
// Config.MaxInFlight is 0.
const DefaultMaxInFlight = 40_000

// DefaultMaxTransactions is the bound on live transactions, lingering
// ones included, when Config.MaxTransactions is 0: with Timer J at 32 s,
// REGISTERs over UDP at 15 000/s sustained, about 250 MB in the linger
// store.
const DefaultMaxTransactions = 500_000

// withDefaults fills in the zero fields.
func (c Config) withDefaults() Config {
	if c.T1 <= 0 {
		c.T1 = 500 * time.Millisecond
	}
	if c.T2 <= 0 {
		c.T2 = 4 * time.Second
	}
	if c.T4 <= 0 {
		c.T4 = 5 * time.Second
	}
	if c.TimerD <= 0 {
		// 32 s also covers the server's Timer H of 64*T1 at the default
		// T1; a raised T1 raises H, and D with it.
		c.TimerD = max(32*time.Second, 64*c.T1)
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxTransactions == 0 {
		c.MaxTransactions = DefaultMaxTransactions
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = 5 * time.Second
	}
	if c.Clock == nil {
		c.Clock = clock.Default()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
