package transport

import (
	"net/netip"
	"time"

	"github.com/parley-sip/parley/sip"
)

// admit asks the Admit hook about a message's source, counting what it
// refuses.
func (m *Manager) admit(src netip.Addr) bool {
	if m.cfg.Admit == nil || m.cfg.Admit(src) {
		return true
	}
	m.stats.denied.Add(1)
	return false
}

// deliver parses one message, stamps the top Via of a request, and hands
// it to the Handler. A datagram (copy set) is in the reader's buffer,
// which the next read reuses, so it is copied; a frame is the transport's
// to give and the message owns it from here on. in carries everything but
// Msg. The memory comes from the delivery pool and goes back to it when
// the Handler released the message (Incoming.Release).
func (m *Manager) deliver(data []byte, copy bool, in Incoming) {
	if in.Arrival == 0 { // a stream's message, or a datagram without a kernel time
		in.Arrival = sip.ArrivalAt(time.Now().UnixNano())
	}
	d := takeDelivery(in)
	if copy {
		data = d.copyIn(data)
	}
	defer d.done()
	if err := m.cfg.Limits.ParseInto(&d.msg, data); err != nil {
		m.stats.malformed.Add(1)
		m.refuse(&d.in, err)
		return
	}
	d.msg.SetArrival(in.Arrival)
	if d.msg.IsRequest() {
		if err := stamp(&d.msg, in.Source, in.Conn != 0 && isWebSocket(in.Proto)); err != nil {
			m.stats.malformed.Add(1)
			m.refuse(&d.in, err)
			return
		}
	}
	m.stats.received.Add(1)
	m.h.HandleMessage(&d.in)
}

// refuse answers a request that did not parse, or whose top Via did not,
// when it holds what a response must copy (a 400 naming the defect, 505
// for another SIP version, 513 when too large), and drops anything else:
// a broken start line or a response has nobody to tell. A response to a
// request whose Via is unusable goes back to the address and port it came
// from, as RFC 3581 would send it.
func (m *Manager) refuse(in *Incoming, err error) {
	in.Release() // answered at once or dropped: nothing keeps it
	msg := in.Msg
	se, ok := err.(*sip.Error)
	if !ok || !msg.IsRequest() || msg.Method() == "ACK" || !msg.AnswerableAtSource() {
		m.log.Debug("dropped unparsable message", "proto", in.Proto, "source", in.Source, "err", err)
		return
	}
	_ = stamp(msg, in.Source, false) // a Via that parses says where the response goes
	resp := sip.NewResponse(msg, se.Code, se.Reason, sip.LocalToTag(msg, m.tagSalt))
	if serr := m.Send(ResponseTarget(in), resp.Bytes()); serr != nil {
		m.log.Debug("answering an unparsable request failed", "source", in.Source, "err", serr)
	}
}

// stamp applies §18.2.1 and RFC 3581 §4 to a request: received when the
// Via's sent-by host is not the source IP (IPv6 without brackets, as the
// received grammar wants), rport filled with the source port when the
// client asked for it, or always with forceRPort, which WebSocket
// clients get: their sent-by is a .invalid name (RFC 7118), so a
// stateless proxy finds their connection by received and rport. Without
// them a response could not find its way back through NAT.
func stamp(msg *sip.Message, src netip.AddrPort, forceRPort bool) error {
	v, err := msg.TopVia()
	if err != nil {
		return err
	}
	if _, rport := v.RPort(); !rport && !forceRPort && sameHost(v.Host, src.Addr()) {
		return nil // the common case: nothing to stamp, and no address text to make
	}
	with := v.WithReceived
	if forceRPort {
		with = v.WithReceivedRPort
	}
	if value, changed := with(src.Addr().String(), int(src.Port())); changed {
		msg.SetTopVia(value)
	}
	return nil
}

// sameHost reports whether a Via's sent-by host is addr written as
// received would write it, in which case §18.2.1 adds no received. It
// compares without making addr's text on the heap.
func sameHost(host string, addr netip.Addr) bool {
	var buf [64]byte
	return string(addr.AppendTo(buf[:0])) == sip.TrimBrackets(host)
}
