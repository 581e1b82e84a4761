package members

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
)

// WarnUntrusted returns st as a Store whose every successful read of the
// members also checks each other node's address with trusted, and logs a
// warning, once per node and address, for a node it refuses. With
// auth.enabled, a call another node relays here was authenticated there
// and must not be challenged again: a node missing from
// security.trusted (a fourth node added to the cluster, its address not
// yet on the other three) has its phones' calls to this node's phones
// answered 407 over and over, and nothing else says why.
func WarnUntrusted(st Store, self string, trusted func(netip.Addr) bool, log *slog.Logger) Store {
	return &trustChecked{Store: st, self: self, trusted: trusted, log: log, warned: map[string]bool{}}
}

type trustChecked struct {
	Store
	self    string
	trusted func(netip.Addr) bool
	log     *slog.Logger

	mu     sync.Mutex
	warned map[string]bool // node and address already warned of
}

// Members reads the members and warns of the untrusted ones.
func (c *trustChecked) Members(ctx context.Context) ([]Member, error) {
	ms, err := c.Store.Members(ctx)
	if err != nil {
		return ms, err
	}
	for _, m := range ms {
		ap, perr := netip.ParseAddrPort(m.SIP)
		if m.ID == c.self || perr != nil || c.trusted(ap.Addr().Unmap()) {
			continue
		}
		c.warnOnce(m)
	}
	return ms, nil
}

func (c *trustChecked) warnOnce(m Member) {
	key := m.ID + " " + m.SIP
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.warned[key] {
		return
	}
	c.warned[key] = true
	c.log.Warn("cluster: a node is not in security.trusted with trusted_skip_auth here; calls it relays to this node's phones are challenged again and fail",
		"node", m.ID, "address", m.SIP)
}
