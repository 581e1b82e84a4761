package notify

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// Reasons a subscription ends with (RFC 6665 §4.2.2).
const (
	ReasonTimeout     = "timeout"
	ReasonDeactivated = "deactivated"
	ReasonRejected    = "rejected"
	ReasonNoResource  = "noresource"
)

// sub is one subscription: a usage of a dialog the notifier is the UAS
// of. Its mutex guards what follows it.
type sub struct {
	n     *Notifier
	key   Key
	d     *dialog.Dialog
	pkg   Package
	event string // the Event value NOTIFYs carry

	mu       sync.Mutex
	flow     transport.Target // where the SUBSCRIBE came from; zero once it failed
	watch    Watch
	pending  bool
	expires  time.Time
	end      string // the reason it ends with, once decided
	sentEnd  bool   // the NOTIFY saying terminated has gone
	dirty    bool   // the state changed since the last NOTIFY was built
	sending  bool   // a NOTIFY waits for its response
	next     time.Time
	attempts int // NOTIFYs of this state that failed in a row
	timer    clock.Timer
	expiry   clock.Timer
	gone     bool // removed
	closed   bool // the notifier stopped
}

func (s *sub) stopTimers() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
}

func (s *sub) record() Record {
	return Record{Dialog: s.d.Info(), Event: s.event, Watcher: s.watch.Watcher, Resource: s.watch.Resource,
		Pending: s.pending, Expires: s.expires, Flow: flowString(s.flow), Version: s.watch.Version,
		Node: s.n.cfg.Node}
}

// arm sets the expiry timer for s.expires; s.mu must be held.
func (s *sub) arm() {
	if s.expiry != nil {
		s.expiry.Stop()
	}
	s.expiry = s.n.clk.AfterFunc(s.expires.Sub(s.n.clk.Now()), func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.gone || s.closed || s.end != "" || s.n.clk.Now().Before(s.expires) {
			return
		}
		s.finish(ReasonTimeout)
	})
}

// finish ends the subscription with reason: one last NOTIFY says so.
// s.mu must be held.
func (s *sub) finish(reason string) {
	if s.end == "" {
		s.end = reason
	}
	s.dirty = true
	s.next = time.Time{} // the last word is never held back
	s.n.schedule(s)
}

// schedule sends s's NOTIFY now, or arms a timer for when its throttle
// allows; s.mu must be held. At most one NOTIFY of a subscription is in
// flight, so they arrive in CSeq order and the latest state wins.
func (n *Notifier) schedule(s *sub) {
	if s.gone || s.closed || s.sending || !s.dirty || s.sentEnd {
		return
	}
	wait := s.next.Sub(n.clk.Now())
	if wait > 0 {
		if s.timer == nil {
			s.timer = n.clk.AfterFunc(wait, func() {
				s.mu.Lock()
				s.timer = nil
				n.schedule(s)
				s.mu.Unlock()
			})
		}
		return
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.sending, s.dirty = true, false
	n.sends.Add(1)
	n.active.Add(1)
	go n.send(s)
}

// snapshot is what one NOTIFY says, taken under s.mu.
type snapshot struct {
	watch Watch
	state string // the Subscription-State value
	body  bool   // whether the state goes in a body
	final bool
	flow  transport.Target
}

func (s *sub) take() snapshot {
	now := s.n.clk.Now()
	sn := snapshot{watch: s.watch, flow: s.flow}
	s.watch.Version++
	switch {
	case s.end != "":
		sn.state, sn.final = "terminated;reason="+s.end, true
		// A fetch, an unsubscribe and a timeout carry the state (RFC 6665
		// §4.2.1.4, §4.4.3); a refusal tells the watcher nothing.
		sn.body = !s.pending && (s.end == ReasonTimeout || s.end == ReasonDeactivated)
	case s.pending:
		sn.state = "pending;expires=" + remaining(s.expires, now)
	default:
		sn.state, sn.body = "active;expires="+remaining(s.expires, now), true
	}
	return sn
}

// remaining is the seconds until t, rounded up, for an expires parameter.
func remaining(t, now time.Time) string {
	d := t.Sub(now)
	if d <= 0 {
		return "0"
	}
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// send builds and sends one NOTIFY and handles its response, on a
// goroutine of its own.
func (n *Notifier) send(s *sub) {
	defer n.sends.Done()
	defer n.active.Add(-1)
	select {
	case n.sem <- struct{}{}:
	case <-n.life.Done():
		return
	}
	defer func() { <-n.sem }()
	s.mu.Lock()
	sn := s.take()
	s.mu.Unlock()
	resp, err := n.notify(s, sn)
	n.outcome(s, sn, resp, err)
}

// notify sends the NOTIFY sn describes and returns its final response.
func (n *Notifier) notify(s *sub, sn snapshot) (*sip.Message, error) {
	var body []byte
	if sn.body {
		b, err := s.pkg.Body(sn.watch)
		switch {
		case errors.Is(err, ErrNoResource) && !sn.final:
			s.mu.Lock()
			s.end = ReasonNoResource
			sn = s.take()
			s.mu.Unlock()
		case err != nil && !sn.final:
			// The package cannot say the state now: try again later,
			// as for a NOTIFY that failed.
			return nil, err
		default:
			body = b
		}
	}
	req, err := n.request(s, sn, body)
	if err != nil {
		return nil, err
	}
	out := outbound.Request{Msg: req}
	if len(s.d.Info().RouteSet) == 0 && sn.flow.Proto != "" {
		out.Dest = sn.flow
	}
	ctx, cancel := context.WithTimeout(n.life, 40*time.Second)
	defer cancel()
	resp, err := n.cfg.Sender.Do(ctx, out)
	if err == nil || out.Dest.Proto == "" || !out.Dest.Proto.Stream() || ctx.Err() != nil {
		return resp, err
	}
	// The connection the SUBSCRIBE came on is gone (the phone closed it,
	// or a restart lost it) and its source port listens for nothing: the
	// dialog's remote target, where RFC 6665 sends NOTIFYs anyway, gets a
	// new connection, and so do the NOTIFYs after this one.
	s.mu.Lock()
	if s.flow == sn.flow {
		s.flow = transport.Target{}
	}
	s.mu.Unlock()
	if req, err = n.request(s, sn, body); err != nil {
		return nil, err
	}
	return n.cfg.Sender.Do(ctx, outbound.Request{Msg: req})
}

// request builds the NOTIFY sn describes, in s's dialog.
func (n *Notifier) request(s *sub, sn snapshot, body []byte) (*sip.Message, error) {
	req, err := s.d.NewRequest("NOTIFY", "", "Event", s.event, "Subscription-State", sn.state,
		"Allow-Events", n.AllowEvents())
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.SetBody(s.pkg.ContentType(), body)
	}
	return req, nil
}

// retryable reports whether a NOTIFY's failure may pass if sent again:
// no answer, 408, or a server error (RFC 6665 §4.2.2 leaves the rest to
// RFC 5057).
func retryable(resp *sip.Message, err error) bool {
	if err != nil || resp == nil {
		return true
	}
	c := resp.StatusCode()
	return c == 408 || (c >= 500 && c < 600 && c != 501)
}

// outcome applies a NOTIFY's response: success, a retry with back-off,
// or the end of the subscription (481 and what RFC 5057 says ends a
// usage, or retries exhausted).
func (n *Notifier) outcome(s *sub, sn snapshot, resp *sip.Message, err error) {
	if n.life.Err() != nil {
		return
	}
	ok := err == nil && resp != nil && resp.StatusCode()/100 == 2
	if ok {
		n.delivered.Add(1)
	} else {
		n.failed.Add(1)
	}
	if ok || !retryable(resp, err) {
		if resp != nil {
			_ = s.d.ReceiveResponse(resp)
		}
	}
	s.mu.Lock()
	s.sending = false
	switch {
	case ok:
		s.attempts = 0
		s.next = n.clk.Now().Add(n.policy.Load().Throttle)
		if sn.final {
			s.sentEnd = true
		}
	case retryable(resp, err) && s.attempts < n.cfg.Retries:
		s.attempts++
		s.dirty = true // sent again with the latest state
		s.next = n.clk.Now().Add(n.cfg.RetryWait << (s.attempts - 1))
	case sn.final || retryable(resp, err):
		s.sentEnd = true // the last word was said, or no NOTIFY gets through
	default:
		s.next = n.clk.Now().Add(n.policy.Load().Throttle) // only that NOTIFY failed
	}
	final := s.sentEnd || !s.d.HasUsage(s.key.Usage)
	if !final {
		n.schedule(s)
	}
	s.mu.Unlock()
	if final {
		code := 200
		if resp != nil {
			code = resp.StatusCode()
		} else if !ok {
			code = 408
		}
		if !ok {
			n.log.Debug("notify: subscription ended by its NOTIFY's failure", "event", s.event,
				"watcher", s.watch.Watcher, "resource", s.watch.Resource, "code", code, "error", err)
		}
		n.remove(s, code)
	}
}

func flowString(t transport.Target) string {
	if t.Proto == "" || !t.Addr.IsValid() {
		return ""
	}
	return string(t.Proto) + ":" + t.Addr.String()
}
