package notify

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/sip"
)

// Sender sends a request Parley originates and waits for its final
// response: *outbound.Service; tests give a fake.
type Sender interface {
	Do(ctx context.Context, req outbound.Request) (*sip.Message, error)
}

// Policy is what a reload may change: the Expires a subscription may get
// and how often one may be notified.
type Policy struct {
	MinExpires     time.Duration // shorter is answered 423 with Min-Expires
	MaxExpires     time.Duration // longer is cut down to it
	DefaultExpires time.Duration // for a SUBSCRIBE without Expires
	// Throttle is the least time between two NOTIFYs of one subscription
	// (RFC 6665 §4.1.3): changes in between are sent together, the latest
	// state winning. 0 sends every change.
	Throttle time.Duration
}

// Config is what a Notifier is built from.
type Config struct {
	Sender Sender
	// Clock runs expiries, throttling and retries; nil is clock.Default().
	Clock clock.Clock
	// Domains reports whether a domain's users are Parley's; nil serves
	// every domain.
	Domains func(domain string) bool
	// Authorizer is watcher policy; nil lets users of one domain watch
	// each other and leaves others pending.
	Authorizer Authorizer
	// Store keeps subscriptions across a restart. nil keeps none, for a
	// server whose storage ends with its process (the memory engine): the
	// notifier's own records are all there is, with no copy of each held
	// for a Restore that could never find it.
	Store Store
	// Node is this server's cluster node name, written with each stored
	// subscription: nodes sharing one database restore only their own.
	Node   string
	Policy Policy
	// Retries is how often a NOTIFY that timed out or got a 5xx is sent
	// again, each after twice the wait of the one before (from RetryWait)
	// before the subscription is given up. 0 is 3, negative none.
	Retries   int
	RetryWait time.Duration // 0 is 2 s
	// MaxSending bounds the NOTIFYs waiting for their response at once;
	// more wait their turn. 0 is 4096.
	MaxSending int
	// MaxSubscriptions bounds the subscriptions held, so that a flood of
	// SUBSCRIBEs cannot take all memory; past it new ones are answered
	// 503 with Retry-After. 0 is 1 000 000 (about 1.7 GB).
	MaxSubscriptions int
	// Known reports whether a resource ("user@domain") is a user who can
	// be watched: a SUBSCRIBE for one it denies is answered 404, and 503
	// when it fails. nil takes every user of the served domains (with
	// passwords off, anyone who registers is a user).
	Known func(ctx context.Context, resource string) (bool, error)
	// Listener hears of the notifier's subscription dialogs; nil none.
	Listener dialog.Listener
	Log      *slog.Logger
}

// Notifier is the RFC 6665 notifier for Parley's domains. Its stage
// answers SUBSCRIBE; Changed tells it that a resource's state changed.
type Notifier struct {
	cfg    Config
	clk    clock.Clock
	log    *slog.Logger
	table  *dialog.Table
	policy atomic.Pointer[Policy]
	sem    chan struct{}
	life   context.Context
	stop   context.CancelFunc
	sends  sync.WaitGroup
	active atomic.Int64 // NOTIFYs between being built and their outcome applied
	// delivered and failed count NOTIFYs answered 2xx and otherwise (no
	// answer, an error response), each attempt once.
	delivered, failed atomic.Uint64

	mu    sync.RWMutex
	pkgs  map[string]Package // by lower-case event token
	allow string             // the Allow-Events value: every package's event
	subs  map[Key]*sub
	byRes map[string]map[*sub]struct{} // by event token and resource: resKey
	// perEvent counts subscriptions by event package, for Stats to read
	// without walking every subscription on a scrape.
	perEvent map[string]int
}

// Stats are a notifier's counters.
type Stats struct {
	// Subscriptions are the subscriptions held, by event package.
	Subscriptions map[string]int
	// Delivered and Failed count NOTIFYs since start: answered 2xx, and
	// answered otherwise or not at all (a retry counts again).
	Delivered, Failed uint64
}

// Stats returns the notifier's counters.
func (n *Notifier) Stats() Stats {
	st := Stats{Delivered: n.delivered.Load(), Failed: n.failed.Load()}
	n.mu.RLock()
	defer n.mu.RUnlock()
	st.Subscriptions = make(map[string]int, len(n.pkgs))
	for ev := range n.pkgs {
		st.Subscriptions[ev] = n.perEvent[ev]
	}
	return st
}

// New builds a notifier. Register its packages, then Restore, before
// requests reach its stage.
func New(cfg Config) *Notifier {
	if cfg.Clock == nil {
		cfg.Clock = clock.Default()
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = 2 * time.Second
	}
	if cfg.MaxSending <= 0 {
		cfg.MaxSending = 4096
	}
	if cfg.MaxSubscriptions <= 0 {
		cfg.MaxSubscriptions = 1_000_000
	}
	n := &Notifier{cfg: cfg, clk: cfg.Clock, log: cfg.Log, sem: make(chan struct{}, cfg.MaxSending),
		pkgs: map[string]Package{}, subs: map[Key]*sub{}, byRes: map[string]map[*sub]struct{}{},
		perEvent: map[string]int{}}
	n.table = dialog.NewTable(dialog.Config{Clock: cfg.Clock, Listener: cfg.Listener})
	n.life, n.stop = context.WithCancel(context.Background())
	n.SetPolicy(cfg.Policy)
	return n
}

// SetPolicy applies a reloaded policy to SUBSCRIBEs from now on; zero
// fields take their defaults (60 s, 1 h, 10 min; Throttle stays 0).
func (n *Notifier) SetPolicy(p Policy) {
	if p.MinExpires <= 0 {
		p.MinExpires = time.Minute
	}
	if p.MaxExpires < p.MinExpires {
		p.MaxExpires = max(time.Hour, p.MinExpires)
	}
	if p.DefaultExpires <= 0 {
		p.DefaultExpires = 10 * time.Minute
	}
	p.DefaultExpires = min(max(p.DefaultExpires, p.MinExpires), p.MaxExpires)
	n.policy.Store(&p)
}

// Register adds an event package; one registered again replaces it.
func (n *Notifier) Register(p Package) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.pkgs[strings.ToLower(p.Event())] = p
	events := make([]string, 0, len(n.pkgs))
	for _, q := range n.pkgs {
		events = append(events, q.Event())
	}
	slices.Sort(events)
	n.allow = strings.Join(events, ", ")
}

// AllowEvents returns the Allow-Events value (RFC 6665 §8.2.2): the
// events of every package registered.
func (n *Notifier) AllowEvents() string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.allow
}

func (n *Notifier) pkg(event string) Package {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.pkgs[strings.ToLower(event)]
}

// Changed says resource's state in event's package changed: every
// subscription to it gets a NOTIFY, within its throttle.
func (n *Notifier) Changed(event, resource string) {
	n.mu.RLock()
	set := n.byRes[resKey(event, resource)]
	subs := make([]*sub, 0, len(set))
	for s := range set {
		subs = append(subs, s)
	}
	n.mu.RUnlock()
	n.touch(subs)
}

// ChangedAll is Changed for every resource with a subscription: each
// gets a NOTIFY with the current state, within its throttle. It is for
// after a gap in which changes may have gone unheard (a cluster's bus
// was down), when which resources changed is not known.
func (n *Notifier) ChangedAll() {
	n.mu.RLock()
	subs := make([]*sub, 0, len(n.subs))
	for _, s := range n.subs {
		subs = append(subs, s)
	}
	n.mu.RUnlock()
	n.touch(subs)
}

// touch marks subs changed and schedules their NOTIFYs.
func (n *Notifier) touch(subs []*sub) {
	for _, s := range subs {
		s.mu.Lock()
		s.dirty = true
		n.schedule(s)
		s.mu.Unlock()
	}
}

// Terminate ends every subscription to resource in event's package with
// reason (ReasonNoResource for a user deleted, ReasonDeactivated to have
// the watchers subscribe again at once): each gets its last NOTIFY.
func (n *Notifier) Terminate(event, resource, reason string) {
	n.mu.RLock()
	set := n.byRes[resKey(event, resource)]
	subs := make([]*sub, 0, len(set))
	for s := range set {
		subs = append(subs, s)
	}
	n.mu.RUnlock()
	for _, s := range subs {
		s.mu.Lock()
		s.finish(reason)
		s.mu.Unlock()
	}
}

// Reauthorize applies watcher policy again to every subscription to
// resource, after the user changed it: a pending watcher now allowed is
// told the state, one now blocked is ended with reason=rejected, one
// allowed before and pending now is told nothing more.
func (n *Notifier) Reauthorize(resource string) {
	n.mu.RLock()
	var subs []*sub
	for _, s := range n.subs {
		if s.watch.Resource == resource {
			subs = append(subs, s)
		}
	}
	n.mu.RUnlock()
	for _, s := range subs {
		d := n.authorize(s.watch.Watcher, resource, s.pkg.Event())
		s.mu.Lock()
		if s.end == "" && (d == Block || s.pending != (d == Pending)) {
			if d == Block {
				s.finish(ReasonRejected)
			} else {
				s.pending = d == Pending
				s.dirty = true
				n.schedule(s)
			}
		}
		s.mu.Unlock()
	}
}

// Sending returns how many NOTIFYs are on their way: built, sent or
// waiting for their response, or having it applied.
func (n *Notifier) Sending() int { return int(n.active.Load()) }

// Len returns the number of subscriptions held.
func (n *Notifier) Len() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.subs)
}

// Close stops sending: NOTIFYs in flight give up, timers do nothing
// more. Subscriptions stay in the store for the next start.
func (n *Notifier) Close() {
	n.stop()
	n.mu.Lock()
	subs := make([]*sub, 0, len(n.subs))
	for _, s := range n.subs {
		subs = append(subs, s)
	}
	n.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		s.closed = true
		s.stopTimers()
		s.mu.Unlock()
	}
	n.sends.Wait()
}

func resKey(event, resource string) string {
	return strings.ToLower(event) + " " + resource
}

// add indexes a new subscription.
func (n *Notifier) add(s *sub) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if old := n.subs[s.key]; old == nil {
		n.perEvent[strings.ToLower(s.pkg.Event())]++
	} else if old != s {
		n.perEvent[strings.ToLower(old.pkg.Event())]--
		n.perEvent[strings.ToLower(s.pkg.Event())]++
	}
	n.subs[s.key] = s
	k := resKey(s.pkg.Event(), s.watch.Resource)
	set := n.byRes[k]
	if set == nil {
		set = map[*sub]struct{}{}
		n.byRes[k] = set
	}
	set[s] = struct{}{}
}

// find returns the subscription k names, or nil.
func (n *Notifier) find(k Key) *sub {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.subs[k]
}

// remove forgets a subscription, in memory and in the store, and ends
// its dialog usage.
func (n *Notifier) remove(s *sub, code int) {
	n.mu.Lock()
	if n.subs[s.key] == s {
		delete(n.subs, s.key)
		n.perEvent[strings.ToLower(s.pkg.Event())]--
		k := resKey(s.pkg.Event(), s.watch.Resource)
		if set := n.byRes[k]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(n.byRes, k)
			}
		}
	}
	n.mu.Unlock()
	s.mu.Lock()
	s.gone = true
	s.stopTimers()
	s.mu.Unlock()
	if s.d.HasUsage(s.key.Usage) {
		s.d.EndUsage(s.key.Usage, "NOTIFY", code)
	}
	if n.cfg.Store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.cfg.Store.Delete(ctx, s.key); err != nil {
		n.log.Warn("notify: deleting a subscription failed", "error", err)
	}
}

// save writes s to the store; s.mu must be held.
func (n *Notifier) save(ctx context.Context, s *sub) error {
	if n.cfg.Store == nil {
		return nil
	}
	return n.cfg.Store.Put(ctx, s.record())
}

// authorize applies watcher policy.
func (n *Notifier) authorize(watcher, resource, event string) Decision {
	if a := n.cfg.Authorizer; a != nil {
		return a.Authorize(watcher, resource, event)
	}
	_, wd, _ := strings.Cut(watcher, "@")
	_, rd, _ := strings.Cut(resource, "@")
	if strings.EqualFold(wd, rd) {
		return Allow
	}
	return Pending
}
