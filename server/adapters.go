package server

import (
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// coreAdapter hands the transaction layer's events to the proxy, and
// refuses new requests while draining.
type coreAdapter struct{ s *Server }

func (c coreAdapter) ServeRequest(tx *transaction.ServerTx, in *transport.Incoming) {
	if c.s.draining.Load() {
		c.s.refuseDraining(tx, in)
		return
	}
	c.s.proxy.ServeRequest(tx, in)
}

func (c coreAdapter) ServeACK(in *transport.Incoming) { c.s.proxy.ServeACK(in) }

func (c coreAdapter) ServeStrayResponse(in *transport.Incoming) { c.s.proxy.ServeStrayResponse(in) }

// inFlight counts forwarded requests still waiting for a final answer;
// finished transactions that only linger to absorb retransmissions do not
// hold up a shutdown.
func (s *Server) inFlight() int { return s.proxy.Pending() }
