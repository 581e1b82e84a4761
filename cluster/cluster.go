// Package cluster is what makes a server one node of several that share
// a location store: the Path entry by which the other nodes reach the
// phones whose flows (TCP and TLS connections, NAT bindings) this node
// holds (RFC 3327, with a flow token as RFC 5626 §5.1 has an edge proxy
// put one). The node that receives a request along that Path sends it
// over the flow the token names, as for any Route entry of its own.
package cluster

import (
	"strings"

	"github.com/parley-sip/parley/flowtoken"
	"github.com/parley-sip/parley/transport"
)

// Node is this server as a node of a cluster.
type Node struct {
	name   string
	suffix string // what follows the token: "@HOST:PORT;lr;ob;node=NAME>"
	tokens *flowtoken.Signer
}

// New returns the node called name that the others reach at address
// (HOST:PORT, IPv6 in brackets), signing flows with tokens.
func New(name, address string, tokens *flowtoken.Signer) *Node {
	return &Node{
		name:   name,
		suffix: "@" + address + ";lr;ob;" + Param + "=" + name + ">",
		tokens: tokens,
	}
}

// Param is the Path URI parameter that names the node, so that a listing
// of bindings shows which node holds each phone's flow.
const Param = "node"

// Name is the node's name.
func (n *Node) Name() string { return n.name }

// Path returns the Path entry naming this node and the flow a request
// came in on.
func (n *Node) Path(in *transport.Incoming) string {
	token := n.tokens.Seal(flowtoken.Flow{Proto: string(in.Proto), Local: in.Local, Remote: in.Source, Conn: uint64(in.Conn)})
	var b strings.Builder
	b.Grow(len("<sip:") + len(token) + len(n.suffix))
	b.WriteString("<sip:")
	b.WriteString(token)
	b.WriteString(n.suffix)
	return b.String()
}

// NodeOf returns the node a binding's Path names as holding its flow,
// or "" when none does (a single server, or a phone behind an edge proxy
// that keeps the flow).
func NodeOf(path []string) string {
	if len(path) == 0 {
		return ""
	}
	first := path[0]
	i := strings.Index(first, ";"+Param+"=")
	if i < 0 {
		return ""
	}
	v := first[i+len(Param)+2:]
	if j := strings.IndexAny(v, ";>"); j >= 0 {
		v = v[:j]
	}
	return v
}
