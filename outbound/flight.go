package outbound

import (
	"context"
	"log/slog"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// Owner is the sender of a flight: it orders the flight's events, makes
// the request for each destination and takes the responses.
type Owner interface {
	// Post runs fn after the owner's earlier events, one at a time. Every
	// call into the owner below and every Flight method runs inside it.
	Post(fn func())
	// Stamp finishes the request for one destination: its Via (and for a
	// proxy its Record-Route) name out, the listener it leaves from. With
	// last set no other destination needs msg, so msg itself may be
	// finished instead of a copy. Each call starts an attempt.
	Stamp(msg *sip.Message, dst transport.Target, out *transport.ListenerInfo, last bool) (*sip.Message, error)
	// Response gets every response of the destination that took the
	// request, provisional and final, and several 2xx of a forked INVITE;
	// a 503, 408 or 430 that made the flight try another destination is not
	// passed on. err is set, and resp nil, when no destination took it.
	Response(resp *sip.Message, err error)
}

// Flight is one request on its way to its destinations, tried in turn
// (RFC 3263 §4.3). Its zero value is ready for Start; it may live inside
// the owner's own state, which saves an allocation per request.
type Flight struct {
	s     *Service
	owner Owner
	base  *sip.Message       // the request before Stamp; nil once the last destination is tried
	next  []transport.Target // destinations not tried yet
	one   [1]transport.Target

	req         *sip.Message // as sent to dst; nil once released
	dst         transport.Target
	tx          ClientTx
	attempt     int // counts destinations tried, to tell late responses
	provisional bool
	final       bool
	quiet       bool // Request.Quiet
}

// Start sends req to its first destination through o, or, when finding
// them needs DNS, once Lookup has found them. It runs inside o.Post.
func (s *Service) Start(ctx context.Context, f *Flight, req Request, o Owner) {
	*f = Flight{s: s, owner: o, base: req.Msg, quiet: req.Quiet}
	if req.Dest.Proto != "" {
		prepareRoute(&req)
		f.one[0] = req.Dest
		dsts := f.one[:]
		if len(req.Also) > 0 {
			dsts = append([]transport.Target{req.Dest}, req.Also...)
		}
		f.begin(dsts, nil)
		return
	}
	dsts, ok, err := s.Destinations(ctx, &req)
	if ok {
		f.begin(dsts, err)
		return
	}
	s.Lookup(ctx, req, func(dsts []transport.Target, err error) {
		o.Post(func() { f.begin(dsts, err) })
	})
}

// begin tries the destinations found, or fails the flight.
func (f *Flight) begin(dsts []transport.Target, err error) {
	if err == nil {
		f.next = dsts
		if f.tryNext() {
			return
		}
		err = ErrUnreachable
	}
	f.final = true
	f.base, f.next = nil, nil
	f.owner.Response(nil, err)
}

// tryNext sends the request to its next destination, skipping those
// that cannot be reached at once. It reports false when none is left.
func (f *Flight) tryNext() bool {
	for len(f.next) > 0 {
		dst := f.next[0]
		f.next = f.next[1:]
		last := len(f.next) == 0
		out := f.s.ListenerFor(dst)
		if out == nil {
			f.s.log.Warn("outbound: cannot send", "dst", dst.Addr.String(), "error", errNoListener)
			continue
		}
		m, err := f.owner.Stamp(f.base, dst, out, last)
		if last {
			f.base = nil // finished in place: no copy for a destination that has no successor
		}
		if err != nil {
			continue
		}
		// The callback holds the attempt's number, not the flight's
		// request: the client transaction lingers up to 32 s after the
		// final response, and the request need not live as long.
		f.attempt++
		attempt := f.attempt
		tx, err := f.s.txs.Request(m, dst, func(resp *sip.Message) { f.owner.Post(func() { f.receive(attempt, resp) }) })
		if err != nil {
			// Warn, not debug: without it an operator sees only the 5xx the
			// caller got. The server's logger keeps this within a budget.
			level := slog.LevelWarn
			if f.quiet {
				level = slog.LevelDebug
			}
			f.s.log.Log(context.Background(), level, "outbound: destination unreachable", "dst", dst.Addr.String(), "error", err)
			continue
		}
		f.req, f.dst, f.tx, f.provisional = m, dst, tx, false
		return true
	}
	return false
}

// receive passes on a response of the current attempt; one that comes
// late from a destination the flight has left is dropped. A busy or
// silent destination (503, 408), or a failed flow (430, RFC 5626 §5.3),
// that has sent nothing else makes the flight try the next one.
func (f *Flight) receive(attempt int, resp *sip.Message) {
	if attempt != f.attempt {
		return
	}
	code := resp.StatusCode()
	if (code == 503 || code == 408 || code == 430) && !f.provisional && !f.final && f.tryNext() {
		return
	}
	switch {
	case code < 200:
		f.provisional = true
	case !f.final:
		f.final = true
		f.base, f.next = nil, nil
	}
	f.owner.Response(resp, nil)
}

// Timeout ends the current attempt as if it had timed out, with timeout
// as its response (the owner's 408, e.g. when Timer C fires): the next
// destination is tried unless a provisional response came.
func (f *Flight) Timeout(timeout *sip.Message) {
	if f.tx != nil {
		f.tx.Terminate()
	}
	f.receive(f.attempt, timeout)
}

// Sent returns the request as sent to its current destination, and that
// destination; nil before the first attempt and after Release.
func (f *Flight) Sent() (*sip.Message, transport.Target) { return f.req, f.dst }

// Provisional reports whether the current destination sent a
// provisional response.
func (f *Flight) Provisional() bool { return f.provisional }

// Release lets go of the request once the owner needs it no more; the
// client transaction may linger after it.
func (f *Flight) Release() { f.base, f.req, f.next = nil, nil, nil }
