package members

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

// TestPeers: a source is another node by its exact cluster.address, or
// by a host no phone of this node's shares; this node is never a peer;
// a dead node (an old beat) still is one. IsNode takes exact addresses
// only, this node's too.
func TestPeers(t *testing.T) {
	ms := []Member{
		{ID: "n1", SIP: "10.0.0.1:5060", Seen: epoch},
		{ID: "n2", SIP: "10.0.0.2:5060", Seen: epoch},
		{ID: "n3", SIP: "10.0.0.3:5070", Seen: epoch.Add(-24 * 3600e9)}, // dead for a day
		{ID: "n4", SIP: "10.0.0.1:5070", Seen: epoch},                   // on n1's host
		{ID: "n5", SIP: "[2001:db8::5]:5060", Seen: epoch},
		{ID: "n6", SIP: "sip6.example.com:5060", Seen: epoch}, // a name: not matched
	}
	p := NewPeers("n1", "10.0.0.1:5060")
	p.Set(ms)
	for _, tc := range []struct {
		name   string
		src    string
		peer   bool
		isNode bool
	}{
		{"member, its SIP address", "10.0.0.2:5060", true, true},
		{"member over TCP, another port", "10.0.0.2:41234", true, false},
		{"member dead", "10.0.0.3:5070", true, true},
		{"member as IPv4-mapped IPv6", "[::ffff:10.0.0.2]:5060", true, true},
		{"member on IPv6", "[2001:db8::5]:5060", true, true},
		{"not a member", "192.0.2.7:5060", false, false},
		{"phone on the port of a member's name", "192.0.2.8:5060", false, false},
		{"self", "10.0.0.1:5060", false, true},
		{"phone on this node's host", "10.0.0.1:40000", false, false},
		{"member sharing this node's host, its port", "10.0.0.1:5070", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := netip.MustParseAddrPort(tc.src)
			if got := p.Has(src); got != tc.peer {
				t.Errorf("Has(%s) = %v, want %v", tc.src, got, tc.peer)
			}
			if got := p.IsNode(src); got != tc.isNode {
				t.Errorf("IsNode(%s) = %v, want %v", tc.src, got, tc.isNode)
			}
		})
	}
}

// TestPeersEmpty: before the first read no source is a peer, only this
// node's own address is a node.
func TestPeersEmpty(t *testing.T) {
	p := NewPeers("n1", "10.0.0.1:5060")
	if p.Has(netip.MustParseAddrPort("10.0.0.2:5060")) {
		t.Error("a peer before any read of the members")
	}
	if !p.IsNode(netip.MustParseAddrPort("10.0.0.1:5060")) {
		t.Error("this node's own address is not a node")
	}
}

// TestPeersWatch: a read through Watch refreshes the set; a failed read
// keeps the last one.
func TestPeersWatch(t *testing.T) {
	ctx := context.Background()
	st := NewMemory()
	p := NewPeers("n1", "10.0.0.1:5060")
	w := p.Watch(st)
	n2 := netip.MustParseAddrPort("10.0.0.2:5060")
	if err := w.Beat(ctx, Member{ID: "n2", SIP: n2.String(), Seen: epoch}); err != nil {
		t.Fatal(err)
	}
	if p.Has(n2) {
		t.Fatal("n2 a peer before the members were read")
	}
	if _, err := w.Members(ctx); err != nil {
		t.Fatal(err)
	}
	if !p.Has(n2) {
		t.Fatal("n2 not a peer after the members were read")
	}
	st.Fail(errors.New("store down"))
	if _, err := w.Members(ctx); err == nil {
		t.Fatal("read of a failing store succeeded")
	}
	if !p.Has(n2) {
		t.Error("a failed read forgot the peers")
	}
}
