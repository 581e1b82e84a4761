// Package upstream registers Parley to providers as a client (RFC 3261
// §10.2): a REGISTER through the outbound service, digest answers to
// 401 and 407 (package auth's client side), a refresh before the
// registration expires and, on failure, retries with growing back-off.
// Each account's state is logged once per change and shown in metrics.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// Account is one registration to a provider.
type Account struct {
	// Name names the account (its gateway) in logs and metrics.
	Name string
	// Registrar is the URI the REGISTER goes to (sip:reg.provider.example).
	Registrar sip.URI
	// Username and Password are the credentials; Username is also the
	// user of the address of record, which is at the registrar's host.
	Username, Password string
	// ContactUser is the user of the Contact; "" is Username.
	ContactUser string
	// Expires is the lifetime asked for; 0 is an hour.
	Expires time.Duration
	// UserAgent is sent when not empty.
	UserAgent string
}

// Starter starts a request on its way: outbound.Service.Start.
type Starter interface {
	Start(ctx context.Context, f *outbound.Flight, req outbound.Request, o outbound.Owner)
}

// State is where an account's registration stands.
type State string

// States.
const (
	Registering State = "registering"
	Registered  State = "registered"
	Failed      State = "failed"
)

// Back-off after a failure: minBackoff doubled per failure in a row,
// at most maxBackoff, so a provider that is down is not hammered and
// one that comes back is found within minutes.
const (
	minBackoff = 5 * time.Second
	maxBackoff = 5 * time.Minute
)

// Status is an account's state for the admin API and metrics.
type Status struct {
	Name      string    `json:"name"`
	AOR       string    `json:"aor"`
	State     State     `json:"state"`
	Expires   time.Time `json:"expires,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	Failures  int       `json:"failures"`
}

// Client keeps one account registered.
type Client struct {
	acct  Account
	out   Starter
	clk   clock.Clock
	log   *slog.Logger
	aor   string
	calls string // Call-ID, the same for every REGISTER (§10.2.4)
	tag   string

	mu       sync.Mutex // guards what follows
	seq      uint32
	state    State
	expires  time.Time
	lastErr  string
	failures int
	timer    clock.Timer
	stopped  bool
	ctx      context.Context
}

// New makes a client for acct; Start begins registering.
func New(acct Account, out Starter, clk clock.Clock, log *slog.Logger) *Client {
	if acct.Expires <= 0 {
		acct.Expires = time.Hour
	}
	if acct.ContactUser == "" {
		acct.ContactUser = acct.Username
	}
	if clk == nil {
		clk = clock.Default()
	}
	if log == nil {
		log = slog.Default()
	}
	host := acct.Registrar.Host
	return &Client{acct: acct, out: out, clk: clk, log: log,
		aor: "sip:" + sip.EscapeUser(acct.Username) + "@" + host, calls: dialog.NewTag() + "@parley", tag: dialog.NewTag()}
}

// Start registers now and keeps the registration refreshed until ctx ends.
func (c *Client) Start(ctx context.Context) {
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
	c.schedule(0)
	context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.stopped = true
		if c.timer != nil {
			c.timer.Stop()
		}
	})
}

// Status returns the account's state.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Status{Name: c.acct.Name, AOR: c.aor, State: c.state, LastError: c.lastErr, Failures: c.failures}
	if c.state == Registered {
		st.Expires = c.expires.UTC()
	}
	if st.State == "" {
		st.State = Registering
	}
	return st
}

// schedule runs the next REGISTER after d, on a goroutine of its own
// (clock callbacks must not block).
func (c *Client) schedule(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.timer = c.clk.AfterFunc(d, func() { go c.run() })
}

// run registers once and schedules the next attempt: a refresh before
// expiry on success, a retry after back-off on failure.
func (c *Client) run() {
	c.mu.Lock()
	ctx := c.ctx
	c.mu.Unlock()
	granted, err := c.Register(ctx)
	if ctx.Err() != nil {
		return
	}
	c.schedule(c.record(granted, err))
}

// record sets the state after an attempt and returns when to try next.
func (c *Client) record(granted time.Duration, err error) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.state
	if err != nil {
		c.state, c.lastErr = Failed, err.Error()
		c.failures++
		wait := min(minBackoff<<min(c.failures-1, 16), maxBackoff)
		if prev != Failed {
			c.log.Warn("upstream: registration failed; retrying with back-off", "trunk", c.acct.Name, "aor", c.aor, "error", err, "retry_in", wait.String())
		}
		return wait
	}
	c.state, c.lastErr, c.failures = Registered, "", 0
	c.expires = c.clk.Now().Add(granted)
	if prev != Registered {
		c.log.Info("upstream: registered", "trunk", c.acct.Name, "aor", c.aor, "expires", granted.String())
	}
	return refreshAfter(granted)
}

// refreshAfter is when to refresh a registration granted for d: at
// three quarters of its life, and never later than 30 s before it ends
// when it lives longer than a minute.
func refreshAfter(d time.Duration) time.Duration {
	r := d * 3 / 4
	if d > time.Minute && d-r > 30*time.Second {
		r = d - 30*time.Second
	}
	return max(r, time.Second)
}

// Errors of an attempt.
var (
	// ErrRefused means the provider refused the credentials.
	ErrRefused = errors.New("upstream: credentials refused")
	// ErrNoChallenge means a 401 or 407 carried no challenge Parley can answer.
	ErrNoChallenge = errors.New("upstream: no digest challenge that can be answered")
)

// Unregister removes the registration (Expires: 0), so the provider
// stops sending calls to a server that is going away. It is a no-op for
// an account that is not registered.
func (c *Client) Unregister(ctx context.Context) error {
	c.mu.Lock()
	registered := c.state == Registered
	c.stopped = true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	if !registered {
		return nil
	}
	_, err := c.register(ctx, 0)
	c.mu.Lock()
	c.state = Registering
	c.mu.Unlock()
	if err == nil {
		c.log.Info("upstream: unregistered", "trunk", c.acct.Name, "aor", c.aor)
	}
	return err
}

// Register sends one REGISTER, answering up to two challenges (the
// second only when the first nonce went stale, or after a 423 that
// asked for a longer lifetime), and returns the lifetime granted.
func (c *Client) Register(ctx context.Context) (time.Duration, error) {
	return c.register(ctx, c.acct.Expires)
}

func (c *Client) register(ctx context.Context, expires time.Duration) (time.Duration, error) {
	var authz []string // the header and its value for the next attempt
	challenged := false
	for range 4 {
		resp, err := c.send(ctx, expires, authz)
		if err != nil {
			return 0, err
		}
		code := resp.StatusCode()
		switch {
		case code >= 200 && code < 300:
			granted := c.granted(resp, expires)
			if granted <= 0 && expires > 0 {
				return 0, errors.New("upstream: the registrar granted no lifetime")
			}
			return granted, nil
		case code == 401 || code == 407:
			ch, ok := auth.PickChallenge(resp)
			if !ok {
				return 0, ErrNoChallenge
			}
			if challenged && !ch.Stale {
				return 0, fmt.Errorf("%w: %d %s", ErrRefused, code, resp.Reason())
			}
			challenged = true
			value, err := ch.Answer("REGISTER", c.acct.Registrar.String(), c.acct.Username, c.acct.Password, 1)
			if err != nil {
				return 0, err
			}
			name := "Authorization"
			if code == 407 {
				name = "Proxy-Authorization"
			}
			authz = []string{name, value}
		case code == 423:
			min, ok := minExpires(resp)
			if !ok || min <= expires || expires == 0 {
				return 0, fmt.Errorf("upstream: 423 without a longer Min-Expires")
			}
			expires = min
		default:
			return 0, fmt.Errorf("upstream: %d %s", code, resp.Reason())
		}
	}
	return 0, errors.New("upstream: too many challenges")
}

func minExpires(resp *sip.Message) (time.Duration, bool) {
	n, err := strconv.ParseUint(strings.TrimSpace(resp.Header("Min-Expires")), 10, 32)
	return time.Duration(n) * time.Second, err == nil
}

// granted reads the lifetime the registrar granted our Contact (§10.2.4:
// its expires parameter, else Expires, else what was asked).
func (c *Client) granted(resp *sip.Message, asked time.Duration) time.Duration {
	if contacts, err := resp.Contacts(); err == nil {
		for i := range contacts {
			if sip.Unescape(contacts[i].URI.User) != c.acct.ContactUser {
				continue
			}
			if s, ok := contacts[i].Expires(); ok {
				return time.Duration(s) * time.Second
			}
		}
	}
	if s, ok, err := resp.Expires(); err == nil && ok {
		return time.Duration(s) * time.Second
	}
	return asked
}

// send makes one REGISTER and waits for its final response.
func (c *Client) send(ctx context.Context, expires time.Duration, authz []string) (*sip.Message, error) {
	c.mu.Lock()
	c.seq++
	seq := c.seq
	c.mu.Unlock()
	b := sip.NewRequestBuilder("REGISTER", c.acct.Registrar.String()).
		Header("Max-Forwards", "70").
		Header("From", "<"+c.aor+">;tag="+c.tag).
		Header("To", "<"+c.aor+">").
		Header("Call-ID", c.calls).
		Header("CSeq", strconv.FormatUint(uint64(seq), 10)+" REGISTER").
		Header("Expires", strconv.FormatInt(int64(expires/time.Second), 10))
	if c.acct.UserAgent != "" {
		b.Header("User-Agent", c.acct.UserAgent)
	}
	if len(authz) == 2 {
		b.Header(authz[0], authz[1])
	}
	msg, err := b.Message("", nil)
	if err != nil {
		return nil, err
	}
	w := &waiter{user: c.acct.ContactUser, final: make(chan result, 1)}
	w.Post(func() { c.out.Start(ctx, &w.flight, outbound.Request{Msg: msg}, w) })
	select {
	case r := <-w.final:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type result struct {
	resp *sip.Message
	err  error
}

// waiter owns one REGISTER's flight: it adds the Via and the Contact of
// the listener each attempt leaves from, so the provider's calls come
// back to an address that reaches Parley.
type waiter struct {
	outbound.Queue
	flight outbound.Flight
	user   string
	final  chan result
	done   bool
}

// Stamp adds Via and Contact for the listener out.
func (w *waiter) Stamp(msg *sip.Message, _ transport.Target, out *transport.ListenerInfo, last bool) (*sip.Message, error) {
	if !last {
		msg = msg.Clone()
	}
	contact := "<sip:" + sip.EscapeUser(w.user) + "@" + out.Host + ":" + strconv.Itoa(out.Port)
	if out.Proto != transport.UDP {
		contact += ";transport=" + string(out.Proto)
	}
	msg.SetHeader("Contact", contact+">")
	msg.PrependHeader("Via", string(sip.AppendVia(nil, out.Proto.ViaName(), out.Host, out.Port, transaction.NewBranch())))
	return msg, nil
}

// Response ends the wait at the first final response or failure.
func (w *waiter) Response(resp *sip.Message, err error) {
	if w.done || (resp != nil && resp.StatusCode() < 200) {
		return
	}
	w.done = true
	w.flight.Release()
	w.final <- result{resp, err}
}
