// Package location is the registrar's binding store: the location service of
// RFC 3261 §10.
//
// It maps an address-of-record (AOR) to the contacts registered for it. The
// package knows nothing of SIP parsing: the registrar hands it canonical AORs,
// contact URIs and numbers, and gets the same back. Storage engines implement
// [Store]; [Memory] is the in-process engine, and location/storetest holds the
// conformance suite every engine must pass.
package location

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"
)

// ErrClosed is returned by a [Store]'s methods after Close, so that callers
// racing with shutdown get a clear error rather than a silently empty store.
var ErrClosed = errors.New("location: store closed")

// Binding is one contact registered for an address-of-record.
//
// It is a plain value so engines can keep bindings in slices without a
// pointer each, and so copies handed to callers are cheap and independent.
type Binding struct {
	AOR        string         // canonical AOR, e.g. "sip:alice@example.com"
	Contact    string         // contact URI as the UA sent it (without the angle brackets / params of the header)
	Params     string         // the Contact header's parameters as the UA sent them, less expires; no leading ';'
	Q          int            // q-value * 1000 (0..1000); 1000 when absent
	Expires    time.Time      // absolute expiry
	CallID     string         // Call-ID of the REGISTER that created or last refreshed the binding
	CSeq       uint32         // CSeq of that REGISTER, to reject out-of-order refreshes (§10.3 step 7)
	Path       []string       // Path header values (RFC 3327), in order
	Transport  string         // "udp","tcp","tls"
	Source     netip.AddrPort // where the REGISTER came from (NAT)
	Local      netip.AddrPort // our listener address it came in on
	ConnID     uint64         // transport connection id for tcp/tls (0 for udp)
	InstanceID string         // +sip.instance if present
	RegID      int            // reg-id (RFC 5626) if present, else 0
	UserAgent  string         // User-Agent of the registering UA, for admin listings
	Updated    time.Time      // when the binding was created or last refreshed
}

// Live reports whether b is still in force at now. A binding whose expiry
// equals now is gone: one registered for N seconds has had its N seconds at
// that instant. Every engine must draw the line at the same place, or the
// same registration would be found by one and not by another.
func (b *Binding) Live(now time.Time) bool {
	return !expiredBy(b.Expires, now)
}

// SameKey reports whether a and b are one binding of an AOR: the same
// Contact, instance and reg-id. A phone's SIP Outbound flows (RFC 5626
// §6) are distinct bindings that may carry the same Contact, so an
// engine that keys rows must key them by all three.
func SameKey(a, b *Binding) bool {
	return a.Contact == b.Contact && a.InstanceID == b.InstanceID && a.RegID == b.RegID
}

// expiredBy is the one definition of the expiry boundary, shared by Live and
// Memory's sweep so that they can never disagree about an instant (a
// disagreement would make the sweep revisit the same AOR forever).
func expiredBy(expires, now time.Time) bool {
	return !expires.After(now)
}

// Store is the location service. Implementations must be safe for concurrent use.
//
// Times are always passed in by the caller rather than read from a clock, so
// that the registrar, the tests and a replicated engine agree on what "now" is.
type Store interface {
	// Lookup returns the live (unexpired at now) bindings of aor, ordered by q descending then most recently updated first.
	// The slice and everything it references belong to the caller.
	Lookup(ctx context.Context, aor string, now time.Time) ([]Binding, error)
	// Update atomically replaces the binding set of aor with what fn returns, given the current live set.
	// fn may return an error to abort with no change. Returns the new live set.
	//
	// Updates of one AOR are serialised: fn sees the result of the previous
	// Update. fn owns current and may modify or append to it; the store keeps
	// its own copy of what fn returns. Each stored binding's AOR is set to aor,
	// and bindings fn returns already expired at now are dropped; an empty
	// result deletes the AOR. fn must not call back into the Store, and
	// should be quick, because engines may hold a lock while it runs.
	// An engine may call fn more than once, when another Update changed
	// the set between its read and its write: one shared by several
	// processes for another process's, Memory (which runs fn with no
	// lock held) for one of its own. Only the last call's result is
	// stored, so fn's effects beyond its result must bear repeating.
	Update(ctx context.Context, aor string, now time.Time, fn func(current []Binding) ([]Binding, error)) ([]Binding, error)
	// Expire removes bindings that expired at or before now and returns how many were removed.
	Expire(ctx context.Context, now time.Time) (int, error)
	// Count returns the number of live bindings and AORs.
	// Bindings past their expiry that Expire has not removed yet are still
	// counted: Count takes no time, so it reports what the store holds.
	Count() (bindings, aors int)
	// Range calls fn for every AOR's binding set (for admin listings); stops when fn returns false.
	// The order of AORs is unspecified; within a set the order is that of
	// Lookup. As with Count, bindings not yet removed by Expire may appear.
	// fn owns bs, and may call the Store.
	Range(fn func(aor string, bs []Binding) bool)
	// Close releases the store. Later calls return ErrClosed (Count returns
	// zeros, Range calls nothing); a second Close returns nil.
	Close() error
}

// Sweeper is a [Store] that can say what it expires, for the log.
type Sweeper interface {
	// Sweep is Expire that calls expired, when not nil, with every binding
	// it removes. expired runs with no lock of the store held.
	Sweep(ctx context.Context, now time.Time, expired func(Binding)) (int, error)
}

// Run calls s.Expire every interval until ctx is done, so that expired
// bindings are freed and Count stays close to the truth. (Lookup already
// hides expired bindings; Run is about reclaiming them.)
//
// It sweeps once at start, which clears what a persistent engine kept across
// a restart. clock supplies "now" and defaults to time.Now; interval defaults
// to one second when not positive. An Expire error other than ErrClosed is
// logged at debug and the next tick retries, because a storage hiccup must not stop
// expiry for the life of the process. Run returns nil when ctx is done and
// ErrClosed when the store is closed under it.
func Run(ctx context.Context, s Store, interval time.Duration, clock func() time.Time) error {
	return RunSweeps(ctx, s, interval, clock, nil)
}

// RunSweeps is Run that, when s is a [Sweeper] and expired is not nil,
// calls expired with every binding it removes.
func RunSweeps(ctx context.Context, s Store, interval time.Duration, clock func() time.Time, expired func(Binding)) error {
	sweep := s.Expire
	if sw, ok := s.(Sweeper); ok && expired != nil {
		sweep = func(ctx context.Context, now time.Time) (int, error) { return sw.Sweep(ctx, now, expired) }
	}
	if interval <= 0 {
		interval = time.Second
	}
	if clock == nil {
		clock = time.Now
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if ctx.Err() != nil {
			return nil
		}
		if _, err := sweep(ctx, clock()); err != nil {
			switch {
			case errors.Is(err, ErrClosed):
				return err
			case ctx.Err() != nil:
				return nil
			default:
				// Debug: a store whose database fails logs the outage
				// itself, once when it starts and once when it ends.
				slog.Default().LogAttrs(ctx, slog.LevelDebug, "location: expire failed", slog.String("error", err.Error()))
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
