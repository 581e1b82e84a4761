package outbound

import (
	"context"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// Do sends a request Parley originates (an OPTIONS ping, a NOTIFY, a
// REGISTER to a provider) and waits for its final response, trying the
// destinations in turn. Each attempt gets a Via of the listener it
// leaves from with a new branch. Provisional responses are skipped; ctx
// bounds the wait (the transaction's own timeout answers 408 first).
func (s *Service) Do(ctx context.Context, req Request) (*sip.Message, error) {
	d := &waiter{final: make(chan result, 1)}
	d.Post(func() { s.Start(ctx, &d.flight, req, d) })
	select {
	case r := <-d.final:
		return r.resp, r.err
	case <-ctx.Done():
		d.Post(func() {
			if d.flight.tx != nil {
				d.flight.tx.Terminate()
			}
		})
		return nil, ctx.Err()
	}
}

type result struct {
	resp *sip.Message
	err  error
}

// waiter is the owner of one Do: its events run one at a time under its
// queue, and the first final response ends the wait.
type waiter struct {
	Queue
	flight Flight
	final  chan result
	done   bool
}

// Stamp adds a Via of the listener with a fresh branch.
func (d *waiter) Stamp(msg *sip.Message, _ transport.Target, out *transport.ListenerInfo, last bool) (*sip.Message, error) {
	return stampVia(msg, out, last), nil
}

// stampVia is what a request Parley originates needs for one
// destination: a Via of the listener it leaves from, with a new branch.
func stampVia(msg *sip.Message, out *transport.ListenerInfo, last bool) *sip.Message {
	if !last {
		msg = msg.Clone()
	}
	msg.PrependHeader("Via", string(sip.AppendVia(nil, out.Proto.ViaName(), out.Host, out.Port, transaction.NewBranch())))
	return msg
}

// Response ends the wait at the first final response or failure.
func (d *waiter) Response(resp *sip.Message, err error) {
	if d.done || (resp != nil && resp.StatusCode() < 200) {
		return
	}
	d.done = true
	d.flight.Release()
	d.final <- result{resp, err}
}
