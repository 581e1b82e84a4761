package message

import (
	"context"
	"crypto/rand"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/registrar"
	"github.com/parley-sip/parley/sip"
)

// LeaseFor bounds how long one delivery run may hold a user's lease: a
// run that dies (a crash, a kill -9) blocks the user's messages no
// longer than this. Every message of a run is sent within its own
// transaction timeout (32 s), so a run of a few messages fits.
const LeaseFor = 5 * time.Minute

// maxRuns bounds the delivery runs in progress in a process: each is a
// goroutine and a database read, and a storm of re-registrations (after
// a network outage) must not become a storm of goroutines. A change that
// finds every place taken starts no run; the phone's next refresh does.
const maxRuns = 256

// sendTimeout bounds one MESSAGE's wait for its final response; the
// transaction's Timer F (64*T1) answers 408 before it.
const sendTimeout = 40 * time.Second

// Deliverer sends a user's waiting messages to a phone that has just
// registered, oldest first, each deleted only once the phone answered
// 2xx. The first failure ends the run and keeps that message and the
// ones after it for the next registration, so that order is kept.
type Deliverer struct {
	Store Store
	// Send sends a request Parley originates and waits for its final
	// response: outbound.Service.Do.
	Send func(ctx context.Context, req outbound.Request) (*sip.Message, error)
	// Target says how a binding is reached: proxy.Proxy.BindingTarget.
	Target func(location.Binding) proxy.Target
	// Limits returns the limits in force (MaxAge is what delivery reads).
	Limits func() Limits
	Clock  clock.Clock
	Log    *slog.Logger
	// Holder names this process in leases; empty picks a random one.
	Holder string

	delivered atomic.Uint64
	expired   atomic.Uint64

	once    sync.Once
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	running map[string]bool // users with a run in this process
}

func (d *Deliverer) init() {
	d.once.Do(func() {
		d.ctx, d.cancel = context.WithCancel(context.Background())
		d.running = map[string]bool{}
		if d.Holder == "" {
			d.Holder = rand.Text()
		}
		if d.Log == nil {
			d.Log = slog.New(slog.DiscardHandler)
		}
	})
}

// Delivered returns how many messages phones have accepted.
func (d *Deliverer) Delivered() uint64 { return d.delivered.Load() }

// Expired returns how many messages were dropped for their age.
func (d *Deliverer) Expired() uint64 { return d.expired.Load() }

// Registered is the registration watcher (server.watchRegistrations): a
// binding just added, or refreshed, starts a delivery run for its user,
// off the REGISTER's goroutine; a refresh is how a message a phone
// refused, or one stored while the phone was registering, gets its next
// try. A user already in a run here gets no second one; the store's
// lease keeps other servers out. A store that is a Screen and knows the
// user has nothing waiting starts no run at all.
func (d *Deliverer) Registered(c registrar.Change) {
	if c.Kind != registrar.Added && c.Kind != registrar.Refreshed {
		return
	}
	d.init()
	user := userOf(c.AOR)
	if sc, ok := d.Store.(Screen); ok && !sc.MayHave(user) {
		return
	}
	d.mu.Lock()
	if d.running[user] || len(d.running) >= maxRuns || d.ctx.Err() != nil {
		d.mu.Unlock()
		return
	}
	d.running[user] = true
	d.wg.Add(1)
	d.mu.Unlock()
	go func() {
		defer d.wg.Done()
		defer d.done(user)
		d.Deliver(d.ctx, user, c.Binding)
	}()
}

func (d *Deliverer) done(user string) {
	d.mu.Lock()
	delete(d.running, user)
	d.mu.Unlock()
}

// userOf turns an AOR ("sip:alice@example.com") into the store's key.
func userOf(aor string) string {
	if i := strings.IndexByte(aor, ':'); i >= 0 {
		return aor[i+1:]
	}
	return aor
}

// Deliver runs one delivery of user's waiting messages to binding b, if
// no other run holds the user's lease. It returns how many the phone
// accepted.
func (d *Deliverer) Deliver(ctx context.Context, user string, b location.Binding) int {
	d.init()
	// Most registrations find nothing waiting: a read, then, and no lease
	// written.
	if waiting, err := d.Store.Pending(ctx, user); err != nil || len(waiting) == 0 {
		if err != nil {
			d.Log.Warn("message: cannot read waiting messages", "user", user, "error", err)
		}
		return 0
	}
	ok, err := d.Store.Lease(ctx, user, d.Holder, LeaseFor)
	if err != nil || !ok {
		if err != nil {
			d.Log.Warn("message: cannot lease the user's messages for delivery", "user", user, "error", err)
		}
		return 0
	}
	defer func() {
		// A fresh context: a run stopped by shutdown still frees the lease.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = d.Store.Release(rctx, user, d.Holder)
	}()
	waiting, err := d.Store.Pending(ctx, user)
	if err != nil {
		d.Log.Warn("message: cannot read waiting messages", "user", user, "error", err)
		return 0
	}
	sent := 0
	for _, m := range waiting {
		if d.tooOld(m) {
			if gone, err := d.Store.Delete(ctx, m.ID); err == nil && gone {
				d.expired.Add(1)
			}
			continue
		}
		if !d.send(ctx, m, b) {
			break
		}
		sent++
	}
	return sent
}

func (d *Deliverer) tooOld(m Message) bool {
	age := d.Limits().MaxAge
	return age > 0 && !m.Stored.Add(age).After(d.Clock.Now())
}

// send delivers one message and deletes it after a 2xx; it reports
// whether the run may go on to the next.
func (d *Deliverer) send(ctx context.Context, m Message, b location.Binding) bool {
	t := d.Target(b)
	req, err := Request(m, t.URI)
	if err != nil {
		d.Log.Warn("message: stored message cannot be sent", "user", m.User, "id", m.ID, "error", err)
		return false
	}
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	resp, err := d.Send(sctx, outbound.Request{Msg: req, Route: t.Route, Dest: t.Dest})
	if err != nil || resp.StatusCode() < 200 || resp.StatusCode() >= 300 {
		status := 0
		if resp != nil {
			status = resp.StatusCode()
		}
		d.Log.Info("message: delivery failed; kept for the next registration", "user", m.User, "id", m.ID,
			"contact", t.URI, "status", status, "error", err)
		return false
	}
	// Deleted with a context of its own: the phone has the message, and a
	// shutdown now must not make it deliver again.
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	if _, err := d.Store.Delete(dctx, m.ID); err != nil {
		d.Log.Warn("message: delivered message could not be deleted; it may be delivered again", "user", m.User, "id", m.ID, "error", err)
		return false
	}
	d.delivered.Add(1)
	d.Log.Info("message delivered", "user", m.User, "id", m.ID, "contact", t.URI)
	return true
}

// Request builds the MESSAGE that delivers m to contact (empty: the
// user's AOR): from the original sender, with the original Date,
// Content-Type and body, in a transaction of its own.
func Request(m Message, contact string) (*sip.Message, error) {
	if contact == "" {
		contact = "sip:" + m.User
	}
	from := m.From
	if !strings.Contains(strings.ToLower(from), ";tag=") {
		from += ";tag=" + rand.Text()[:10]
	}
	b := sip.NewRequestBuilder("MESSAGE", contact).
		Header("Max-Forwards", "70").
		Header("From", from).
		Header("To", m.To).
		Header("Call-ID", rand.Text()+"@parley").
		Header("CSeq", "1 MESSAGE").
		Header("Date", m.Date)
	return b.Message(m.ContentType, m.Body)
}

// Sweep drops every message older than the age limit and counts them;
// the server calls it every minute.
func (d *Deliverer) Sweep(ctx context.Context) (int, error) {
	age := d.Limits().MaxAge
	if age <= 0 {
		return 0, nil
	}
	n, err := d.Store.Expire(ctx, d.Clock.Now().Add(-age))
	d.expired.Add(uint64(n))
	return n, err
}

// Close stops the runs in progress (a message being sent stays stored
// until its 2xx is seen) and waits for them.
func (d *Deliverer) Close() {
	d.init()
	d.mu.Lock()
	d.cancel()
	d.mu.Unlock()
	d.wg.Wait()
}
