// Package registrations is the registration event package (RFC 3680,
// Event: reg): a phone or an app watches an address of record and learns
// of every binding registered, refreshed, removed or expired.
//
// The state is the location store's, read when the notifier asks for a
// body; the registrar's changes (registrar.Change, through the server's
// watchRegistrations) say which event each contact last had and which
// contacts ended, and make the notifier send a NOTIFY. An ended contact
// is shown terminated for a linger time, long enough for every watcher's
// NOTIFY to carry it, then left out.
package registrations

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/presence/internal/fifo"
	"github.com/parley-sip/parley/presence/notify"
	"github.com/parley-sip/parley/presence/reginfo"
	"github.com/parley-sip/parley/registrar"
)

// Event is the package's Event token.
const Event = "reg"

// Defaults of Config.
const (
	DefaultLinger    = 30 * time.Second
	DefaultMaxPerAOR = 32
	lookupTimeout    = 3 * time.Second
)

// Config configures a Package.
type Config struct {
	// Store is the location store whose bindings are the state.
	Store location.Store
	// Clock tells the time; nil is clock.Default().
	Clock clock.Clock
	// Changed is told of every resource ("user@domain") whose
	// registrations changed; nil tells no one.
	Changed func(resource string)
	// Linger is how long a removed or expired contact is shown
	// terminated, and a contact's last event remembered; 0 is
	// DefaultLinger.
	Linger time.Duration
	// MaxPerAOR bounds the contact events remembered per address of
	// record; 0 is DefaultMaxPerAOR.
	MaxPerAOR int
}

// Package serves the reg event package. It is safe for concurrent use.
type Package struct {
	cfg Config

	mu     sync.Mutex
	recent map[string][]change // by AOR, oldest first
	queue  fifo.Queue[queued]  // every remembered change, oldest first, for the linger
}

// change is a contact's last event.
type change struct {
	contact string
	event   reginfo.Event
	callID  string
	cseq    uint32
	at      time.Time
}

type queued struct {
	aor, contact string
	at           time.Time
}

// New returns a Package reading cfg.Store.
func New(cfg Config) *Package {
	if cfg.Clock == nil {
		cfg.Clock = clock.Default()
	}
	if cfg.Linger <= 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.MaxPerAOR <= 0 {
		cfg.MaxPerAOR = DefaultMaxPerAOR
	}
	return &Package{cfg: cfg, recent: make(map[string][]change)}
}

// Event implements notify.Package.
func (p *Package) Event() string { return Event }

// ContentType implements notify.Package.
func (p *Package) ContentType() string { return reginfo.ContentType }

// events maps the registrar's changes to RFC 3680's events.
var events = map[registrar.ChangeKind]reginfo.Event{
	registrar.Added:     reginfo.Registered,
	registrar.Refreshed: reginfo.Refreshed,
	registrar.Removed:   reginfo.Unregistered,
	registrar.Expired:   reginfo.Expired,
}

// Watch takes one binding change from the registrar or the expiry sweep
// (the server's watchRegistrations) and tells Changed of its resource. It
// does not block.
func (p *Package) Watch(c registrar.Change) {
	if resource, ok := p.Remember(c); ok && p.cfg.Changed != nil {
		p.cfg.Changed(resource)
	}
}

// Remember records which event a contact last had, as Watch does, and
// tells no one: a change made at another node of a cluster, whose
// watchers that node has already told. It returns the change's resource
// and false for a change the package does not show.
func (p *Package) Remember(c registrar.Change) (string, bool) {
	ev, ok := events[c.Kind]
	resource, isSIP := ResourceOf(c.AOR)
	if !ok || !isSIP || c.Binding.Contact == "" {
		return "", false
	}
	now := p.cfg.Clock.Now()
	p.mu.Lock()
	p.expire(now)
	p.remember(c.AOR, change{contact: c.Binding.Contact, event: ev, callID: c.Binding.CallID, cseq: c.Binding.CSeq, at: now})
	p.mu.Unlock()
	return resource, true
}

// ResourceOf is the resource ("user@domain") of an address of record as
// the location store keeps it ("sip:user@domain"), and false for one
// that is no SIP AOR.
func ResourceOf(aor string) (string, bool) {
	for _, scheme := range []string{"sip:", "sips:"} {
		if r, ok := strings.CutPrefix(aor, scheme); ok && strings.Contains(r, "@") {
			return r, true
		}
	}
	return "", false
}

// remember records ch as the contact's last event, within the bound. It
// runs with mu held.
func (p *Package) remember(aor string, ch change) {
	list := p.recent[aor]
	for i := range list {
		if list[i].contact == ch.contact {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) >= p.cfg.MaxPerAOR {
		list = list[1:]
	}
	p.recent[aor] = append(list, ch)
	p.queue.Push(queued{aor: aor, contact: ch.contact, at: ch.at})
}

// expire forgets the changes older than the linger. It runs with mu held.
func (p *Package) expire(now time.Time) {
	// A fifo.Queue: moving the rest down at every expiry, as a slice did,
	// copied the whole queue on every REGISTER once changes began to
	// expire (one entry a REGISTER for Linger: 300 000, 17 MB, at
	// 10 000/s and 30 s).
	for q := p.queue.Front(); q != nil && now.Sub(q.at) >= p.cfg.Linger; q = p.queue.Front() {
		p.forget(*q)
		p.queue.Pop()
	}
}

// forget drops a lingering change from its AOR's list, and the AOR if
// left with none.
func (p *Package) forget(q queued) {
	list := p.recent[q.aor]
	for i := range list {
		if list[i].contact == q.contact && list[i].at.Equal(q.at) {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(p.recent, q.aor)
	} else {
		p.recent[q.aor] = list
	}
}

// Body implements notify.Package: the resource's registration, with its
// live bindings active and the contacts that ended within the linger
// terminated, numbered with the subscription's version.
func (p *Package) Body(w notify.Watch) ([]byte, error) {
	aor := "sip:" + w.Resource
	now := p.cfg.Clock.Now()
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	bindings, err := p.cfg.Store.Lookup(ctx, aor, now)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.expire(now)
	recent := append([]change(nil), p.recent[aor]...)
	p.mu.Unlock()
	reg := registration(aor, bindings, recent, now)
	doc := reginfo.Document{Version: w.Version, Full: true, Registrations: []reginfo.Registration{reg}}
	return doc.Marshal()
}

// registration composes the registration of aor from its live bindings
// and the recent changes of its contacts: a live binding is active with
// its last event (registered when none is remembered), an ended contact
// that is not live again is terminated.
func registration(aor string, bindings []location.Binding, recent []change, now time.Time) reginfo.Registration {
	reg := reginfo.Registration{AOR: aor, State: reginfo.Init}
	live := make(map[string]bool, len(bindings))
	for _, b := range bindings {
		live[b.Contact] = true
		c := reginfo.Contact{URI: b.Contact, State: reginfo.Active, Event: reginfo.Registered,
			Expires: b.Expires.Sub(now), Q: b.Q, CallID: b.CallID, CSeq: b.CSeq, Params: b.Params}
		for _, ch := range recent {
			if ch.contact == b.Contact && ch.event == reginfo.Registered {
				c.Since = now.Sub(ch.at)
			}
			if ch.contact == b.Contact && (ch.event == reginfo.Registered || ch.event == reginfo.Refreshed) {
				c.Event = ch.event
			}
		}
		reg.Contacts = append(reg.Contacts, c)
	}
	for _, ch := range recent {
		if !live[ch.contact] && (ch.event == reginfo.Unregistered || ch.event == reginfo.Expired) {
			reg.Contacts = append(reg.Contacts, reginfo.Contact{URI: ch.contact, State: reginfo.Terminated,
				Event: ch.event, CallID: ch.callID, CSeq: ch.cseq})
		}
	}
	switch {
	case len(bindings) > 0:
		reg.State = reginfo.Active
	case len(reg.Contacts) > 0:
		reg.State = reginfo.Terminated
	}
	return reg
}
