package transport

import (
	"net/netip"

	"github.com/pion/stun/v3"
)

// SIP Outbound keeps a UDP flow open with STUN binding requests sent to
// the SIP port itself (RFC 5626 §4.4.2, §8): the answer refreshes the
// NAT's mapping and tells the phone its public address, so a change of
// it (the NAT rebooted) shows and the phone registers again. A STUN
// message starts with two zero bits and carries the magic cookie at
// bytes 4 to 8 (RFC 5389 §6), which no SIP message can: the first byte
// of SIP is a letter.

// isSTUN reports whether a datagram is a STUN message rather than SIP.
func isSTUN(b []byte) bool {
	return len(b) > 0 && b[0]&0xC0 == 0 && stun.IsMessage(b)
}

// stunReply builds the answer to a STUN binding request from src: a
// binding success response with src as XOR-MAPPED-ADDRESS, and a
// FINGERPRINT when the request had one (RFC 5389 §7.3.1). ok is false
// for anything else, which is dropped: indications and responses need no
// answer, and a message that does not decode has nobody to tell.
func stunReply(b []byte, src netip.AddrPort) (reply []byte, ok bool) {
	var req stun.Message
	if err := stun.Decode(b, &req); err != nil || req.Type != stun.BindingRequest {
		return nil, false
	}
	setters := []stun.Setter{
		stun.NewTransactionIDSetter(req.TransactionID),
		stun.BindingSuccess,
		&stun.XORMappedAddress{IP: src.Addr().Unmap().AsSlice(), Port: int(src.Port())},
	}
	if req.Contains(stun.AttrFingerprint) {
		setters = append(setters, stun.Fingerprint)
	}
	resp, err := stun.Build(setters...)
	if err != nil {
		return nil, false
	}
	return resp.Raw, true
}

// answerSTUN answers a STUN binding request on the listener it came to,
// so that the reply leaves from the port the phone's NAT mapping names.
func (m *Manager) answerSTUN(l *listener, src netip.AddrPort, b []byte) {
	reply, ok := stunReply(b, src)
	if !ok {
		return
	}
	m.keepAlives.seen(src)
	if err := m.Send(Target{Proto: UDP, Addr: src, Listener: l.info}, reply); err == nil {
		m.stats.stunPings.Add(1)
	}
}

// ConnOpen reports whether connection id is still open: a flow a phone
// registered on (RFC 5626) is dead once its connection has closed.
func (m *Manager) ConnOpen(id ConnID) bool {
	return id != 0 && m.conns.get(id) != nil
}

// ConnTo returns the ID of the open proto connection with the peer at
// addr, whichever side opened it, or 0 when there is none.
func (m *Manager) ConnTo(p Proto, addr netip.AddrPort) ConnID {
	if c := m.conns.to(connKey{p, unmap(addr)}); c != nil {
		return c.id
	}
	return 0
}

// ConnAddrs returns both ends of open connection id (ours, the peer's),
// the addresses a message sent on it really goes between: a response's
// Target.Addr is where §18.2.2 would reconnect to (the Via's port), not
// the port the peer's connection comes from. ok is false when id is 0 or
// closed.
func (m *Manager) ConnAddrs(id ConnID) (local, peer netip.AddrPort, ok bool) {
	if id == 0 {
		return local, peer, false
	}
	c := m.conns.get(id)
	if c == nil {
		return local, peer, false
	}
	return c.local(), c.remote, true
}
