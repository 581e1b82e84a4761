// Package relay joins the notifiers of a cluster's nodes: a change of a
// resource's state at any node (a PUBLISH, a registration, a message
// summary) reaches the watchers subscribed at every node, each notified
// by the node that holds its subscription dialog.
//
// What crosses the bus is mostly which resource changed: the state
// itself is in the stores every node reads (published state in
// PostgreSQL, bindings in Redis, message summaries in PostgreSQL), so each
// node composes the same document. Two kinds of state no store keeps
// travel whole: the registration event package's memory of each
// contact's last event (registered, refreshed, unregistered, expired),
// with each registration change, and the steps of calls, which each node
// applies to its own busy lamps.
package relay

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/parley-sip/parley/cluster/bus"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/presence/busylamp"
	"github.com/parley-sip/parley/presence/registrations"
	"github.com/parley-sip/parley/registrar"
)

// The bus topics.
const (
	topicChanged      = "presence.changed"
	topicRegistration = "presence.registration"
	topicCall         = "presence.call"
)

// Config is what a Relay is built from.
type Config struct {
	Bus bus.Bus
	// Notify is this node's notifier's Changed.
	Notify func(event, resource string)
	// Remote is what a change at another node does here: it drops what
	// this node cached of the resource, then calls Notify. nil is Notify.
	Remote func(event, resource string)
	// Remember records a registration change made at another node,
	// without telling the notifier, and returns its resource
	// (registrations.Package.Remember); Remote then notifies the reg
	// package's watchers. nil ignores registration changes.
	Remember func(registrar.Change) (string, bool)
	// Call applies a step of a call another node saw to this node's busy
	// lamps (busylamp.Tracker.Update, whose changes stay on this node);
	// nil ignores them. A call that passes several nodes is told by each:
	// a step is keyed by Call-ID and tag, so the same step twice is one.
	Call func(busylamp.CallEvent)
	// Resume runs after a gap in the bus, when changes may have gone
	// unheard: every subscription is to be notified afresh
	// (notify.Notifier.ChangedAll). nil does nothing.
	Resume func()
}

// Relay is one node's end of the presence changes of a cluster.
type Relay struct {
	cfg Config
}

// New subscribes to the other nodes' changes on cfg.Bus.
func New(cfg Config) *Relay {
	if cfg.Remote == nil {
		cfg.Remote = cfg.Notify
	}
	r := &Relay{cfg: cfg}
	cfg.Bus.Subscribe(topicChanged, r.remoteChanged)
	if cfg.Remember != nil {
		cfg.Bus.Subscribe(topicRegistration, r.remoteRegistration)
	}
	if cfg.Call != nil {
		cfg.Bus.Subscribe(topicCall, r.remoteCall)
	}
	if cfg.Resume != nil {
		cfg.Bus.OnResume(cfg.Resume)
	}
	return r
}

// Changed says resource's state in event's package changed at this
// node: this node's watchers are notified, and every other node is told
// to notify its own.
func (r *Relay) Changed(event, resource string) {
	r.cfg.Notify(event, resource)
	r.cfg.Bus.Publish(topicChanged, []byte(event+"\n"+resource))
}

func (r *Relay) remoteChanged(p []byte) {
	event, resource, ok := strings.Cut(string(p), "\n")
	if ok && event != "" && resource != "" {
		r.cfg.Remote(event, resource)
	}
}

// Registered is a registration watcher (server.watchRegistrations): it
// tells the other nodes of a binding change made here, and they notify
// the watchers of its reg package, with the contact's event. The reg
// package's own Changed is then for this node only (Notify, not
// Changed): one notice per change, refreshes included.
func (r *Relay) Registered(c registrar.Change) {
	r.cfg.Bus.Publish(topicRegistration, encodeChange(c))
}

func (r *Relay) remoteRegistration(p []byte) {
	if c, ok := decodeChange(p); ok {
		if resource, ok := r.cfg.Remember(c); ok {
			r.cfg.Remote(registrations.Event, resource)
		}
	}
}

// Call tells the other nodes of a step of a call this node saw, for
// their busy lamps: a lamp's state is the calls, which no store keeps.
func (r *Relay) Call(ev busylamp.CallEvent) {
	if p, err := json.Marshal(ev); err == nil {
		r.cfg.Bus.Publish(topicCall, p)
	}
}

func (r *Relay) remoteCall(p []byte) {
	var ev busylamp.CallEvent
	if json.Unmarshal(p, &ev) == nil {
		r.cfg.Call(ev)
	}
}

// encodeChange writes what the registration package reads of a change,
// one field a line: no field of a SIP header holds a line break. One
// buffer, sized first: a notice goes out on every REGISTER.
func encodeChange(c registrar.Change) []byte {
	b := make([]byte, 0, 2+len(c.AOR)+1+len(c.Binding.Contact)+1+len(c.Binding.CallID)+1+10)
	b = strconv.AppendInt(b, int64(c.Kind), 10)
	b = append(append(b, '\n'), c.AOR...)
	b = append(append(b, '\n'), c.Binding.Contact...)
	b = append(append(b, '\n'), c.Binding.CallID...)
	return strconv.AppendUint(append(b, '\n'), uint64(c.Binding.CSeq), 10)
}

func decodeChange(p []byte) (registrar.Change, bool) {
	f := strings.Split(string(p), "\n")
	if len(f) != 5 {
		return registrar.Change{}, false
	}
	kind, err1 := strconv.Atoi(f[0])
	cseq, err2 := strconv.ParseUint(f[4], 10, 32)
	if err1 != nil || err2 != nil || kind < int(registrar.Added) || kind > int(registrar.Expired) {
		return registrar.Change{}, false
	}
	return registrar.Change{Kind: registrar.ChangeKind(kind), AOR: f[1],
		Binding: location.Binding{AOR: f[1], Contact: f[2], CallID: f[3], CSeq: uint32(cseq)}}, true
}
