package notify

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/parley-sip/parley/dialog"
)

// Record is one subscription as a Store keeps it: enough to rebuild its
// dialog and go on notifying after a restart.
type Record struct {
	Dialog   dialog.Info // the dialog as it stood when stored
	Event    string      // the Event header's value, id included ("dialog;id=7")
	Watcher  string      // "user@domain"
	Resource string      // "user@domain"
	Pending  bool        // waiting for the user's decision rather than active
	Expires  time.Time
	// Flow is where NOTIFYs go while the route set is empty: the address
	// the SUBSCRIBE came from ("udp:192.0.2.7:5060"), which reaches a
	// phone behind NAT when its Contact would not.
	Flow    string
	Version uint32 // the next NOTIFY's Watch.Version
	// Node is the cluster node holding the subscription's dialog (its
	// cluster.node), which alone restores it; "" on a single server.
	Node string
}

// Key names a subscription: its dialog and its usage.
func (r Record) Key() Key { return Key{ID: r.Dialog.ID, Usage: dialog.Subscription(r.Event)} }

// Key identifies a subscription: the dialog it is a usage of, and which
// usage (event package and id).
type Key struct {
	ID    dialog.ID
	Usage dialog.Usage
}

// Store keeps subscriptions across a restart. The notifier writes a
// record when a subscription is made, refreshed or changes state, and
// deletes it when the subscription ends; on start it reads them all back.
// Implementations are safe for concurrent use.
type Store interface {
	// Put adds or replaces the subscription r.Key() names.
	Put(ctx context.Context, r Record) error
	// Delete removes a subscription; one the store lacks is no error.
	Delete(ctx context.Context, k Key) error
	// List returns every subscription stored, expired or not.
	List(ctx context.Context) ([]Record, error)
	// Close releases the store. Calling it again does nothing.
	Close() error
}

// Memory is a Store in memory: a notifier whose subscriptions end with
// the process (phones subscribe again when their NOTIFYs get 481).
type Memory struct {
	mu   sync.Mutex
	recs map[Key]Record
}

// NewMemory returns an empty memory store.
func NewMemory() *Memory { return &Memory{recs: map[Key]Record{}} }

// Put implements Store.
func (m *Memory) Put(_ context.Context, r Record) error {
	r.Dialog.RouteSet = slices.Clone(r.Dialog.RouteSet)
	r.Dialog.Usages = slices.Clone(r.Dialog.Usages)
	m.mu.Lock()
	m.recs[r.Key()] = r
	m.mu.Unlock()
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, k Key) error {
	m.mu.Lock()
	delete(m.recs, k)
	m.mu.Unlock()
	return nil
}

// List implements Store.
func (m *Memory) List(context.Context) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Record, 0, len(m.recs))
	for _, r := range m.recs {
		out = append(out, r)
	}
	return out, nil
}

// Close implements Store.
func (m *Memory) Close() error { return nil }
