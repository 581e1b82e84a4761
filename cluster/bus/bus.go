// Package bus carries small notices between the nodes of a cluster: "the
// presence of alice@example.com changed", "10.0.0.9 is banned". A notice
// is a hint to act on shared state that lives elsewhere (PostgreSQL,
// Redis keys), never the state itself, so the bus may lose one: delivery
// is at most once, and after a gap in which notices may have been lost
// (a broken connection to Redis) every OnResume function runs, so that
// its owner can catch up from the shared state.
//
// Redis is the engine (Redis pub/sub, one channel per cluster); Hub is the
// same in one process, for tests of several nodes.
package bus

import (
	"slices"
	"strings"
	"sync"
)

// Handler takes one notice's payload. It runs on the bus's goroutine and
// must not block for long: a slow handler delays the notices after it.
type Handler func(payload []byte)

// Bus sends notices to the other nodes of the cluster and hands this
// node those they send. A node does not receive its own notices.
type Bus interface {
	// Publish sends payload on topic to every other node. It never
	// blocks on the network: a notice that cannot be sent is dropped.
	Publish(topic string, payload []byte)
	// Subscribe adds h for topic's notices from the other nodes.
	Subscribe(topic string, h Handler)
	// OnResume adds fn, run after a gap in which notices may have been
	// lost, once the bus is receiving again.
	OnResume(fn func())
	// Close stops the bus; a second Close does nothing.
	Close() error
}

// router holds a node's handlers; both engines dispatch through it.
type router struct {
	mu       sync.RWMutex
	handlers map[string][]Handler
	resume   []func()
}

// Subscribe implements Bus.
func (r *router) Subscribe(topic string, h Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.handlers == nil {
		r.handlers = map[string][]Handler{}
	}
	r.handlers[topic] = append(r.handlers[topic], h)
}

// OnResume implements Bus.
func (r *router) OnResume(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resume = append(r.resume, fn)
}

// dispatch hands payload to topic's handlers.
func (r *router) dispatch(topic string, payload []byte) {
	r.mu.RLock()
	hs := r.handlers[topic]
	r.mu.RUnlock()
	for _, h := range hs {
		h(payload)
	}
}

// resumed runs the OnResume functions.
func (r *router) resumed() {
	r.mu.RLock()
	fns := r.resume
	r.mu.RUnlock()
	for _, fn := range fns {
		fn()
	}
}

// frame is a notice on the wire: the sending node's id, the topic, a
// newline, the payload. A topic holds no newline.
func frame(node, topic string, payload []byte) []byte {
	b := make([]byte, 0, len(node)+len(topic)+1+len(payload))
	b = append(b, node...)
	b = append(b, topic...)
	b = append(b, '\n')
	return append(b, payload...)
}

// unframe splits a notice; ok is false for one that is not a frame of
// nodes whose ids are idLen long.
func unframe(msg string, idLen int) (node, topic string, payload []byte, ok bool) {
	if len(msg) < idLen {
		return "", "", nil, false
	}
	node, rest := msg[:idLen], msg[idLen:]
	topic, body, ok := strings.Cut(rest, "\n")
	return node, topic, []byte(body), ok
}

// Hub joins buses in one process: every node made by Node receives what
// the others publish, at once, on the publisher's goroutine. Tests use it
// for several nodes without Redis.
type Hub struct {
	mu    sync.RWMutex
	nodes []*hubNode
}

// NewHub returns a hub with no nodes.
func NewHub() *Hub { return &Hub{} }

// Node returns a new bus attached to h.
func (h *Hub) Node() Bus {
	n := &hubNode{hub: h}
	h.mu.Lock()
	h.nodes = append(h.nodes, n)
	h.mu.Unlock()
	return n
}

// Resume runs every node's OnResume functions, as after a lost
// connection.
func (h *Hub) Resume() {
	h.mu.RLock()
	nodes := h.nodes
	h.mu.RUnlock()
	for _, n := range nodes {
		n.resumed()
	}
}

type hubNode struct {
	router
	hub *Hub
}

// Publish implements Bus: at once, on the caller's goroutine.
func (n *hubNode) Publish(topic string, payload []byte) {
	n.hub.mu.RLock()
	nodes := n.hub.nodes
	n.hub.mu.RUnlock()
	for _, o := range nodes {
		if o != n {
			o.dispatch(topic, append([]byte(nil), payload...))
		}
	}
}

// Close implements Bus: the node leaves the hub.
func (n *hubNode) Close() error {
	n.hub.mu.Lock()
	defer n.hub.mu.Unlock()
	n.hub.nodes = slices.DeleteFunc(slices.Clone(n.hub.nodes), func(o *hubNode) bool { return o == n })
	return nil
}
