package server

import (
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
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

// txAdapter gives the proxy the transaction layer as its Transactions.
type txAdapter struct{ l *transaction.Layer }

func (t txAdapter) Request(req *sip.Message, dst transport.Target, onResponse func(*sip.Message)) (proxy.ClientTx, error) {
	tx, err := t.l.Request(req, dst, func(resp *sip.Message, _ error) { onResponse(resp) })
	if err != nil {
		return nil, err
	}
	return tx, nil
}

// inFlight counts forwarded requests still waiting for a final answer;
// finished transactions that only linger to absorb retransmissions do not
// hold up a shutdown.
func (s *Server) inFlight() int { return s.proxy.Pending() }
