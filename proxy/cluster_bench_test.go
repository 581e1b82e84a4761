package proxy

import (
	"testing"

	"github.com/parley-sip/parley/location"
)

// clusterBenchFixture is benchFixture with bob's binding made by a node
// of a cluster: its Path names node (us at 192.0.2.1:5060, or another).
func clusterBenchFixture(b *testing.B, node string) *fixture {
	t := &testing.T{}
	f := newFixture(t, defaultConfig())
	b.Cleanup(func() { f.store.Close() })
	f.bind("sip:bob@example.com", location.Binding{Contact: phoneContact(0), Source: ap(phoneAddr(0)),
		Path: []string{"<sip:ft.A3RjcAR_AAABhi0EfwAAAblqAVTgGqIh8Nmt2kU@" + node + ";lr;ob;node=n1>"}})
	return f
}

// BenchmarkInviteClusterOwnFlow is BenchmarkInviteStateful for a phone
// whose flow this node holds: the cost of recognising our own Path.
func BenchmarkInviteClusterOwnFlow(b *testing.B) {
	benchServe(b, clusterBenchFixture(b, "192.0.2.1:5060"), "invite.sip", true)
}

// BenchmarkInviteClusterOtherNode is the same INVITE for a phone another
// node holds: forwarded with that node's Path as Route.
func BenchmarkInviteClusterOtherNode(b *testing.B) {
	benchServe(b, clusterBenchFixture(b, "192.0.2.2:5060"), "invite.sip", true)
}
