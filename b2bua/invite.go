package b2bua

import (
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// invite is an INVITE that crossed the call, from leg from to leg to,
// from the moment it is relayed until the ACK of its 2xx has crossed
// too: while it lives, another INVITE in the call is glare (491). The
// 2xx we sent on from is retransmitted until its ACK (§13.3.1.4); the
// ACK then goes to the 2xx of to, and again for each retransmission of
// that 2xx.
type invite struct {
	c        *Call
	from, to *Leg
	seq      uint32 // CSeq of the INVITE on from, which its ACK carries
	tx       proxy.ServerTx
	out      *sip.Message // our 2xx on from
	toOK     *sip.Message // to's 2xx, to be ACKed
	answered bool         // a final response went back on from
	complete bool         // the INVITE carried the offer and the 2xx the answer
	held     []func()     // requests that overtook the ACK, taken once it comes
	acked    bool
	ack      *sip.Message // the ACK sent to to
	ackDst   transport.Target
	timer    clock.Timer
	reliable bool // no retransmissions: only the wait for the ACK
	interval time.Duration
	waited   time.Duration
}

// newInvite2xx starts waiting for the ACK of out, our 2xx to an INVITE
// from leg from, which to answered with toOK.
func (c *Call) newInvite2xx(from, to *Leg, toOK, out *sip.Message, tx proxy.ServerTx) *invite {
	cs, _ := out.CSeq()
	iv := &invite{c: c, from: from, to: to, seq: cs.Seq, tx: tx, out: out, toOK: toOK, answered: true}
	iv.arm()
	return iv
}

// arm schedules the 2xx retransmissions on an unreliable transport, and
// on a reliable one only the wait for the ACK (64*T1), so that an offer
// whose ACK never comes does not hold the call's glare guard for ever.
func (iv *invite) arm() {
	iv.interval = iv.c.b.cfg.T1
	iv.reliable = iv.from.side == SideA && iv.c.aReliable || iv.from.dest.Proto.Reliable()
	if iv.reliable {
		iv.interval = 64 * iv.c.b.cfg.T1
	}
	iv.timer = iv.c.after(iv.interval, iv.retransmit)
}

func (iv *invite) retransmit() {
	if iv.acked || iv.c.state == stateEnded {
		return
	}
	iv.waited += iv.interval
	if iv.waited >= 64*iv.c.b.cfg.T1 {
		// §13.3.1.4: no ACK came; the session is not up on that side.
		iv.c.b.log.Debug("b2bua: no ACK for a 2xx", "call", iv.c.id)
		iv.passACK(nil)
		iv.c.bye(iv.from)
		iv.c.bye(iv.to)
		iv.c.end(cdr.System, "no ACK")
		return
	}
	if iv.reliable {
		return
	}
	if err := iv.tx.Respond(iv.out); err != nil {
		iv.c.b.log.Debug("b2bua: 2xx retransmission failed", "call", iv.c.id, "error", err)
	}
	iv.interval = min(2*iv.interval, iv.c.b.cfg.T2)
	iv.timer = iv.c.after(iv.interval, iv.retransmit)
}

func (iv *invite) stop() {
	if iv.timer != nil {
		iv.timer.Stop()
	}
	iv.acked = true
	// Posted, so that they run, in the order they came, once the ACK's
	// event has let go of the glare guard (or the call has ended, and
	// they get 481).
	for _, fn := range iv.held {
		iv.c.Post(fn)
	}
	iv.held = nil
}

// waitsFor reports whether a request of method from l's far end must
// wait for the ACK of this INVITE's 2xx. One from the side that is to
// ACK was sent after its ACK, which it overtook: it waits, so that the
// other leg sees them in the order they were sent, and so that an offer
// is no glare. An offer from the other side waits when the 2xx carried
// the answer: the exchange is complete (RFC 3311 §5.2, RFC 6337 §3.1)
// though the ACK has not come. A BYE never waits.
func (iv *invite) waitsFor(l *Leg, method string) bool {
	if !iv.answered || iv.acked || method == "BYE" {
		return false
	}
	return l == iv.from || iv.complete && (method == "INVITE" || method == "UPDATE")
}

// passACK is the ACK from from (nil when none came): it goes on to to's
// 2xx with the ACK's body (the answer of a late offer).
func (iv *invite) passACK(ack *sip.Message) {
	if iv.ack != nil {
		return // a retransmitted ACK: to's ACK went already
	}
	iv.stop()
	if iv.toOK == nil {
		return // our 2xx alone (a pickup), or to's ACK went already
	}
	iv.c.ack(iv.to, iv.toOK, ack, func(out *sip.Message, dst transport.Target) { iv.ack, iv.ackDst = out, dst })
	// A held call keeps only what a retransmission of to's 2xx needs,
	// the ACK, and that only as long as one may come (64*T1, §13.2.2.4).
	iv.out, iv.toOK, iv.tx = nil, nil, nil
	iv.c.after(64*iv.c.b.cfg.T1, iv.forget)
}

// forget lets go of the ACK once no retransmission of to's 2xx can come;
// the call's answer is over then.
func (iv *invite) forget() {
	iv.ack = nil
	if iv.c.answer == iv {
		iv.c.answer = nil
	}
}

// resendACK answers a retransmission of to's 2xx.
func (iv *invite) resendACK() {
	if iv.ack != nil {
		iv.c.sendACK(iv.ack, iv.ackDst)
	}
}

// ack sends the ACK of leg l's 2xx ok, with from's body when from is an
// ACK that carries one, to where the leg's requests go: its flow, or the
// remote target, looked up first when that needs DNS. sent, when not nil,
// learns the ACK and where it went, for retransmissions of the 2xx.
func (c *Call) ack(l *Leg, ok, from *sip.Message, sent func(*sip.Message, transport.Target)) {
	ack, err := l.d.NewACK(ok, "")
	if err != nil {
		c.b.log.Debug("b2bua: cannot build an ACK", "call", c.id, "error", err)
		return
	}
	if from != nil {
		c.withBody(ack, from, c.sideAcross(l))
		ack.RelayOf(from)
	}
	send := func(dsts []transport.Target, err error) {
		if err != nil || len(dsts) == 0 {
			c.b.log.Debug("b2bua: no destination for an ACK", "call", c.id, "error", err)
			return
		}
		li := c.b.cfg.Outbound.ListenerFor(dsts[0])
		if li == nil {
			return
		}
		ack.PrependHeader("Via", string(sip.AppendVia(nil, li.Proto.ViaName(), li.Host, li.Port, transaction.NewBranch())))
		c.sendACK(ack, dsts[0].Relaying(ack))
		if sent != nil {
			sent(ack, dsts[0])
		}
	}
	req := outbound.Request{Msg: ack, Dest: l.dest}
	if l.dest.Proto != "" {
		send([]transport.Target{l.dest}, nil)
		return
	}
	if dsts, found, err := c.b.cfg.Outbound.Destinations(c.ctx(), &req); found {
		send(dsts, err)
		return
	}
	c.b.cfg.Outbound.Lookup(c.ctx(), req, func(dsts []transport.Target, err error) {
		c.Post(func() { send(dsts, err) })
	})
}

// sideAcross is the side across from l.
func (c *Call) sideAcross(l *Leg) Side {
	if l.side == SideA {
		return SideB
	}
	return SideA
}

func (c *Call) sendACK(ack *sip.Message, dst transport.Target) {
	if err := c.b.cfg.Sender.Send(dst, ack.Bytes()); err != nil {
		c.b.log.Debug("b2bua: sending ACK failed", "call", c.id, "error", err)
	}
}
