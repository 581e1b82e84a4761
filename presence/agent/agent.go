// Package agent is the presence agent of RFC 3856 §3: the "presence"
// event package the notifier serves (its NOTIFY bodies are the PIDF
// document presence.Compose makes of a user's publications, registrations
// and calls) and the event state compositor's PUBLISH stage (RFC 3903) on
// top of a presence.Store.
package agent

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/presence"
	"github.com/parley-sip/parley/presence/notify"
	"github.com/parley-sip/parley/presence/pidf"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
)

// Event is the package's Event token, and ContentType its body's type.
const (
	Event       = "presence"
	ContentType = "application/pidf+xml"
)

// Policy is the Expires a PUBLISH may get; a reload may change it.
type Policy struct {
	MinExpires     time.Duration // shorter is answered 423 with Min-Expires
	MaxExpires     time.Duration // longer is cut down to it
	DefaultExpires time.Duration // for a PUBLISH without Expires
}

// Config is what an Agent is built from.
type Config struct {
	Store presence.Store
	// Contacts returns the Contact URIs registered for aor
	// ("user@domain"); nil knows of no registration.
	Contacts func(ctx context.Context, aor string) ([]string, error)
	// Domains reports whether a domain's users are Parley's; nil serves
	// every domain.
	Domains func(domain string) bool
	// Changed tells the notifier that a user's presence changed; the
	// wiring passes func(r string) { n.Changed("presence", r) }.
	Changed func(resource string)
	Clock   clock.Clock
	Policy  Policy
	Log     *slog.Logger
}

// Agent is the presence event package and PUBLISH stage.
type Agent struct {
	cfg    Config
	policy atomic.Pointer[Policy]
	// accepted and refused count PUBLISHes answered 200 and otherwise.
	accepted, refused atomic.Uint64

	mu sync.Mutex
	// calls are each user's ("user@domain") confirmed calls by Call-ID, a
	// set, so that one call told twice (seen at two nodes of a cluster)
	// counts once; the value says whether another node told it.
	calls map[string]map[string]bool
	// bodies caches each watched user's composed document until its next
	// change, so that a change fanned out to many watchers is composed
	// once. gen counts changes: a body composed while one happened is not
	// kept.
	bodies map[string][]byte
	gen    uint64
}

// maxCached bounds the body cache; past it the cache starts over.
const maxCached = 1 << 16

// New builds an agent.
func New(cfg Config) *Agent {
	if cfg.Clock == nil {
		cfg.Clock = clock.Default()
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Changed == nil {
		cfg.Changed = func(string) {}
	}
	a := &Agent{cfg: cfg, calls: map[string]map[string]bool{}, bodies: map[string][]byte{}}
	a.SetPolicy(cfg.Policy)
	return a
}

// SetPolicy applies a reloaded PUBLISH policy; zero fields take their
// defaults (60 s, 1 h, 1 h).
func (a *Agent) SetPolicy(p Policy) {
	if p.MinExpires <= 0 {
		p.MinExpires = time.Minute
	}
	if p.MaxExpires < p.MinExpires {
		p.MaxExpires = max(time.Hour, p.MinExpires)
	}
	if p.DefaultExpires <= 0 {
		p.DefaultExpires = time.Hour
	}
	p.DefaultExpires = min(max(p.DefaultExpires, p.MinExpires), p.MaxExpires)
	a.policy.Store(&p)
}

// Event implements notify.Package.
func (a *Agent) Event() string { return Event }

// ContentType implements notify.Package.
func (a *Agent) ContentType() string { return ContentType }

// Changed says that what a user's presence is composed of changed (a
// registration, a call, a publication): the cached document goes and
// the user's watchers are notified. resource is "user@domain".
func (a *Agent) Changed(resource string) {
	a.Stale(resource)
	a.cfg.Changed(resource)
}

// Stale drops the user's cached document and tells no one: another node
// of a cluster changed what it is composed of and told the watchers.
func (a *Agent) Stale(resource string) {
	a.mu.Lock()
	a.gen++
	delete(a.bodies, resource)
	a.mu.Unlock()
}

// Call says a user's confirmed call callID began (on) or ended: while
// the user has one, the person is on-the-phone (RFC 4480).
func (a *Agent) Call(user, callID string, on bool) {
	if a.SetCall(user, callID, on, false) {
		a.Changed(user)
	}
}

// SetCall records what Call does and tells no one; remote marks a call
// another node of a cluster saw, which ForgetRemoteCalls drops. It
// reports whether the user's on-the-phone state changed.
func (a *Agent) SetCall(user, callID string, on, remote bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	set := a.calls[user]
	was := len(set) > 0
	switch {
	case on && set == nil:
		a.calls[user] = map[string]bool{callID: remote}
	case on:
		if was, ok := set[callID]; ok {
			remote = remote && was // seen here too: ours
		}
		set[callID] = remote
	default:
		delete(set, callID)
		if len(set) == 0 {
			delete(a.calls, user)
		}
	}
	if now := len(a.calls[user]) > 0; now != was {
		a.gen++
		delete(a.bodies, user)
		return true
	}
	return false
}

// ForgetRemoteCalls drops the calls other nodes told of, and every
// cached document, after a gap in the cluster's bus in which changes
// made at other nodes, the end of a call among them, may have gone
// unheard: a call still going on is told again at its next step.
func (a *Agent) ForgetRemoteCalls() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for user, set := range a.calls {
		maps.DeleteFunc(set, func(_ string, remote bool) bool { return remote })
		if len(set) == 0 {
			delete(a.calls, user)
		}
	}
	a.gen++
	clear(a.bodies)
}

func (a *Agent) inCall(user string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.calls[user]) > 0
}

// Body implements notify.Package: the user's composed PIDF document,
// the same for every watcher.
func (a *Agent) Body(w notify.Watch) ([]byte, error) {
	a.mu.Lock()
	b, ok := a.bodies[w.Resource]
	gen := a.gen
	a.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := a.compose(w.Resource)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.gen == gen {
		if len(a.bodies) >= maxCached {
			clear(a.bodies)
		}
		a.bodies[w.Resource] = b
	}
	a.mu.Unlock()
	return b, nil
}

func (a *Agent) compose(resource string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pubs, err := a.cfg.Store.List(ctx, resource, Event)
	if err != nil {
		return nil, err
	}
	p := presence.Presentity{Entity: "sip:" + resource, InCall: a.inCall(resource)}
	for _, pub := range pubs {
		doc, err := pidf.Parse(pub.Body)
		if err != nil {
			continue // checked when published; a body stored by an older version may not parse
		}
		p.Published = append(p.Published, doc)
	}
	if a.cfg.Contacts != nil {
		if p.Contacts, err = a.cfg.Contacts(ctx, resource); err != nil {
			return nil, err
		}
	}
	return presence.Compose(p).Marshal()
}

// Run removes lapsed publications every second until ctx ends, telling
// their users' watchers.
func (a *Agent) Run(ctx context.Context) {
	for {
		tick := make(chan struct{})
		t := a.cfg.Clock.AfterFunc(time.Second, func() { close(tick) })
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-tick:
		}
		a.Sweep(ctx)
	}
}

// Sweep removes the publications that lapsed and notifies their users'
// watchers.
func (a *Agent) Sweep(ctx context.Context) {
	gone, err := a.cfg.Store.Expire(ctx)
	if err != nil {
		a.cfg.Log.Debug("presence: expiring publications failed", "error", err)
		return
	}
	seen := map[string]bool{}
	for _, p := range gone {
		if p.Event == Event && !seen[p.Entity] {
			seen[p.Entity] = true
			a.Changed(p.Entity)
		}
	}
}

// Stage is the PUBLISH stage for Event: presence, placed before the
// notifier's: it answers PUBLISH for the users of Parley's domains and
// hands on the rest.
func (a *Agent) Stage() proxy.Stage {
	return proxy.StageFunc{StageName: "presence", Fn: a.serve}
}

func (a *Agent) serve(r *proxy.Request, next func()) {
	if r.Msg.Method() != "PUBLISH" || r.Msg.ToTag() != "" {
		next()
		return
	}
	u, err := r.Msg.RequestURIParsed()
	ev, ok, everr := r.Msg.Event()
	if err != nil || !u.IsSIP() || u.User == "" || (a.cfg.Domains != nil && !a.cfg.Domains(strings.ToLower(u.Host))) ||
		everr != nil || !ok || !strings.EqualFold(ev.Type, Event) {
		next()
		return
	}
	a.publish(r, sip.Unescape(u.User)+"@"+strings.ToLower(u.Host))
}

// Publications returns the PUBLISHes answered since start: accepted
// (200) and refused (any other answer).
func (a *Agent) Publications() (accepted, refused uint64) {
	return a.accepted.Load(), a.refused.Load()
}

// publish is RFC 3903 §6 for one PUBLISH.
func (a *Agent) publish(r *proxy.Request, entity string) {
	done := false
	defer func() {
		if done {
			a.accepted.Add(1)
		} else {
			a.refused.Add(1)
		}
	}()
	if user, _, ok := r.Identity(); ok && !strings.EqualFold(user, strings.SplitN(entity, "@", 2)[0]) {
		r.Respond(403, "Only the Presentity May Publish")
		return
	}
	exp, ok := a.grant(r)
	if !ok {
		return
	}
	ifMatch, err := r.Msg.SIPIfMatch()
	if err != nil {
		r.Respond(400, "Malformed SIP-If-Match")
		return
	}
	body := r.Msg.Body()
	ctype := r.Msg.ContentType()
	if len(body) > 0 {
		mt, _, _ := strings.Cut(ctype, ";")
		if !strings.EqualFold(strings.TrimSpace(mt), ContentType) {
			r.Respond(415, "Unsupported Media Type", "Accept", ContentType)
			return
		}
		if _, err := pidf.Parse(body); err != nil {
			r.Respond(400, "Invalid PIDF Document")
			return
		}
	}
	if ifMatch == "" {
		a.makeRoom(r.Context(), entity)
	}
	pub, err := a.cfg.Store.Publish(r.Context(), presence.Request{Entity: entity, Event: Event, IfMatch: ifMatch,
		ContentType: ctype, Body: body, Expires: exp})
	var se *sip.Error
	switch {
	case errors.As(err, &se):
		r.Respond(se.Code, se.Reason)
		return
	case err != nil:
		a.cfg.Log.Debug("presence: publish failed", "error", err)
		r.Respond(503, "Presence Store Unavailable", "Retry-After", "5")
		return
	}
	done = true
	secs := strconv.Itoa(int(exp / time.Second))
	if exp == 0 {
		r.Respond(200, "OK", "Expires", "0")
	} else {
		r.Respond(200, "OK", "SIP-ETag", pub.ETag, "Expires", secs)
	}
	if exp == 0 || len(body) > 0 {
		a.Changed(entity) // a refresh changes nothing a watcher sees
	}
}

// MaxPublications bounds one user's publications: a device that publishes
// again without SIP-If-Match (baresip after a restart) leaves its old one
// until it expires, and a stranger could otherwise pile them up.
const MaxPublications = 16

// makeRoom removes the user's least recently modified publications while
// a new one would pass MaxPublications.
func (a *Agent) makeRoom(ctx context.Context, entity string) {
	pubs, err := a.cfg.Store.List(ctx, entity, Event)
	if err != nil {
		return // the Publish that follows meets the same store
	}
	for i := 0; len(pubs)-i >= MaxPublications; i++ {
		_, _ = a.cfg.Store.Publish(ctx, presence.Request{Entity: entity, Event: Event, IfMatch: pubs[i].ETag})
	}
}

// grant applies the policy to a PUBLISH's Expires.
func (a *Agent) grant(r *proxy.Request) (time.Duration, bool) {
	p := a.policy.Load()
	secs, ok, err := r.Msg.Expires()
	if err != nil {
		r.Respond(400, "Malformed Expires")
		return 0, false
	}
	if !ok {
		return p.DefaultExpires, true
	}
	d := time.Duration(secs) * time.Second
	if secs != 0 && d < p.MinExpires {
		r.Respond(423, "Interval Too Brief", "Min-Expires", strconv.Itoa(int(p.MinExpires/time.Second)))
		return 0, false
	}
	return min(d, p.MaxExpires), true
}
