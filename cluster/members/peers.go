package members

import (
	"context"
	"net/netip"
	"sync/atomic"
)

// Peers is the set of the other nodes' SIP addresses (Member.SIP) as
// the members were last read, for a question asked on every call: did
// this request come from another node? It is read without a lock or a
// store round trip, and replaced whole by Set.
//
// A source is a peer when its address and port are a member's SIP
// address, or when its address is the host of one and not this node's
// own: a node sends over UDP from its listener, but over TCP (a request
// past 1300 bytes, RFC 3261 §18.1.1) from a port of the kernel's
// choosing. Nodes sharing this node's host are told apart by port only,
// so that phones on the same machine are not taken for them. Like
// security.trusted, this takes the nodes' hosts to run no phones.
type Peers struct {
	self string         // this node's name: never a peer
	addr netip.AddrPort // this node's own cluster.address
	host netip.Addr     // and its host
	set  atomic.Pointer[peerSet]
}

type peerSet struct {
	addrs map[netip.AddrPort]struct{}
	hosts map[netip.Addr]struct{}
}

// NewPeers returns an empty set for the node named self at sip, its
// cluster.address.
func NewPeers(self, sip string) *Peers {
	p := &Peers{self: self}
	if ap, err := netip.ParseAddrPort(sip); err == nil {
		p.addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		p.host = p.addr.Addr()
	}
	p.set.Store(&peerSet{})
	return p
}

// Set replaces the set with the SIP addresses of ms, this node aside.
// Every member counts, dead ones too: a node listed as dead may still
// be relaying (it was only slow to beat), and its calls were recorded
// where they entered the cluster. Addresses that are not IP:PORT (a
// host name) are left out.
func (p *Peers) Set(ms []Member) {
	s := &peerSet{addrs: make(map[netip.AddrPort]struct{}, len(ms)), hosts: make(map[netip.Addr]struct{}, len(ms))}
	for _, m := range ms {
		ap, err := netip.ParseAddrPort(m.SIP)
		if m.ID == p.self || err != nil {
			continue
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		s.addrs[ap] = struct{}{}
		if ap.Addr() != p.host {
			s.hosts[ap.Addr()] = struct{}{}
		}
	}
	p.set.Store(s)
}

// Has reports whether src, a request's source, is another node.
func (p *Peers) Has(src netip.AddrPort) bool {
	s := p.set.Load()
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	if _, ok := s.addrs[src]; ok {
		return true
	}
	_, ok := s.hosts[src.Addr()]
	return ok
}

// IsNode reports whether src is exactly a node's cluster.address, this
// node's included: what a surviving node asks of a dead node's call,
// which may have come from the survivor itself. Hosts alone do not
// count here: the call's record would be lost for good if a phone on a
// node's host were taken for the node, where a repeat is only a repeat.
func (p *Peers) IsNode(src netip.AddrPort) bool {
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	_, ok := p.set.Load().addrs[src]
	return ok || (p.addr.IsValid() && src == p.addr)
}

// Watch returns st as a Store whose every successful read of the
// members also refreshes p: the takeover sweeps read them every
// heartbeat interval, so p is as fresh as what decides a node is dead.
func (p *Peers) Watch(st Store) Store { return watched{Store: st, peers: p} }

type watched struct {
	Store
	peers *Peers
}

// Members reads the members and refreshes the peers with them.
func (w watched) Members(ctx context.Context) ([]Member, error) {
	ms, err := w.Store.Members(ctx)
	if err == nil {
		w.peers.Set(ms)
	}
	return ms, err
}
