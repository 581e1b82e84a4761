package transaction

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"sync"

	"github.com/parley-sip/parley/transport"
)

// Client transactions in Completed over UDP wait out Timer K (a
// non-INVITE, T4) or Timer D (an INVITE answered non-2xx) only to absorb
// retransmitted final responses, and an INVITE's to ACK each again
// (§17.1.1.2, §17.1.2.2). Each wait is the same for every transaction,
// so they leave the table for a linger store of their own, as completed
// server transactions do: a record holds the key and, for Timer D, where
// the request went and the ACK.

// clientStore returns the store that holds parked INVITE or non-INVITE
// client transactions, or nil when the layer keeps them on the heap.
func (l *Layer) clientStore(invite bool) *lingerStore {
	if invite {
		return l.clientD
	}
	return l.clientK
}

// park moves a client transaction that has just entered Completed over
// UDP into its linger store. It reports false when the store cannot take
// it (a record too large, an unencodable target): the caller then runs
// Timer D or K on the heap. The caller holds c.mu.
func (c *ClientTx) park() bool {
	s := c.l.clientStore(c.invite)
	if s == nil {
		return false
	}
	var r lingerRecord
	if c.invite {
		var buf [maxTarget]byte
		var ok bool
		if r.prefix, ok = c.l.targets.encode(buf[:0], c.dst); !ok {
			return false
		}
	}
	if !s.addRecord(c.key, c.ack, r) {
		return false
	}
	c.parked = c.l.clock.Now().Add(s.d)
	c.ack = nil
	c.l.clients.remove(c.key, c)
	return true
}

// unpark ends a parked transaction's record before its timer: the TU
// terminated it. The caller holds c.mu.
func (c *ClientTx) unpark() {
	if !c.parked.IsZero() && c.l.clock.Now().Before(c.parked) {
		c.l.clientStore(c.invite).remove(c.key)
	}
}

// stateLocked is the state, with a parked transaction Terminated once
// its timer has passed. The caller holds c.mu.
func (c *ClientTx) stateLocked() State {
	if !c.parked.IsZero() && c.state != Terminated && !c.l.clock.Now().Before(c.parked) {
		c.state = Terminated
	}
	return c.state
}

// absorbResponse takes a response for a client transaction parked in
// Completed: it is absorbed, and a retransmitted non-2xx final response
// to an INVITE is ACKed again, to where the request went. It reports
// false when no record matches.
func (l *Layer) absorbResponse(in *transport.Incoming, key string) bool {
	invite := strings.HasSuffix(key, " INVITE")
	s := l.clientStore(invite)
	if s == nil || s.count.Load() == 0 {
		return false
	}
	var rec lingerRecord
	if !s.lookup(key, &rec) {
		return false
	}
	if !invite || in.Msg.StatusCode() < 300 {
		return true
	}
	dst, ack, ok := l.targets.decode(rec.resp)
	if !ok || len(ack) == 0 {
		return true // no ACK could be built from the request: none went out at first either
	}
	if err := l.sender.Send(dst, ack); err != nil {
		l.log.Debug("transaction: resending an ACK failed", "key", key, "err", err)
	}
	return true
}

// lingering reports whether a client transaction with key waits in a
// linger store, so that a new one with the same key is a duplicate.
func (l *Layer) lingering(key string, invite bool) bool {
	s := l.clientStore(invite)
	if s == nil || s.count.Load() == 0 {
		return false
	}
	return s.has(key)
}

// targetCodec writes a transport.Target into a linger record's bytes. A
// record holds no pointers, so the one pointer a UDP target has, its
// listener, becomes an index into a table of the listeners seen: there
// are a handful per process, and they live as long as it.
type targetCodec struct {
	mu    sync.Mutex
	index map[*transport.ListenerInfo]uint16
	list  []*transport.ListenerInfo
}

// maxListeners bounds the codec's table; past it targets stay on the heap.
const maxListeners = 1024

// maxTarget is the most bytes an encoded target takes; one that needs
// more (a long IPv6 zone) stays on the heap.
const maxTarget = 64

// Encoded target layout, followed by the payload (the ACK).
const (
	tgtListener = 0  // uint16: 0 for none, else index+1
	tgtPinned   = 2  // byte
	tgtProtoLen = 3  // byte
	tgtAddrLen  = 4  // byte
	tgtConn     = 8  // uint64
	tgtHeader   = 16 // then the proto, the address, the payload
)

// encode appends dst to b, or reports false when dst has what a record
// cannot hold (a TLS server name, a table full, more than maxTarget
// bytes). The caller's buffer of maxTarget bytes keeps it off the heap.
func (tc *targetCodec) encode(b []byte, dst transport.Target) ([]byte, bool) {
	if dst.ServerName != "" {
		return nil, false
	}
	li, ok := tc.listener(dst.Listener)
	if !ok {
		return nil, false
	}
	start := len(b)
	b = append(b, make([]byte, tgtHeader)...)
	b = append(b, dst.Proto...)
	b, err := dst.Addr.AppendBinary(b)
	pl := len(dst.Proto)
	al := len(b) - start - tgtHeader - pl
	if err != nil || len(b)-start > maxTarget {
		return nil, false
	}
	h := b[start:]
	binary.LittleEndian.PutUint16(h[tgtListener:], li)
	if dst.PinnedUDP {
		h[tgtPinned] = 1
	}
	h[tgtProtoLen] = byte(pl)
	h[tgtAddrLen] = byte(al)
	binary.LittleEndian.PutUint64(h[tgtConn:], uint64(dst.Conn))
	return b, true
}

// decode reverses encode.
func (tc *targetCodec) decode(b []byte) (dst transport.Target, payload []byte, ok bool) {
	if len(b) < tgtHeader {
		return dst, nil, false
	}
	pl, al := int(b[tgtProtoLen]), int(b[tgtAddrLen])
	if len(b) < tgtHeader+pl+al {
		return dst, nil, false
	}
	var addr netip.AddrPort
	if addr.UnmarshalBinary(b[tgtHeader+pl:tgtHeader+pl+al]) != nil {
		return dst, nil, false
	}
	proto := transport.UDP // what parks; anything else costs a copy
	if p := b[tgtHeader : tgtHeader+pl]; string(p) != string(proto) {
		proto = transport.Proto(p)
	}
	dst = transport.Target{
		Proto:     proto,
		Addr:      addr,
		Conn:      transport.ConnID(binary.LittleEndian.Uint64(b[tgtConn:])),
		PinnedUDP: b[tgtPinned] != 0,
	}
	if li := binary.LittleEndian.Uint16(b[tgtListener:]); li != 0 {
		tc.mu.Lock()
		dst.Listener = tc.list[li-1]
		tc.mu.Unlock()
	}
	return dst, b[tgtHeader+pl+al:], true
}

// listener returns li's index+1 in the table, adding it; 0 is nil.
func (tc *targetCodec) listener(li *transport.ListenerInfo) (uint16, bool) {
	if li == nil {
		return 0, true
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if i, ok := tc.index[li]; ok {
		return i, true
	}
	if len(tc.list) >= maxListeners {
		return 0, false
	}
	if tc.index == nil {
		tc.index = make(map[*transport.ListenerInfo]uint16)
	}
	tc.list = append(tc.list, li)
	tc.index[li] = uint16(len(tc.list))
	return uint16(len(tc.list)), true
}
