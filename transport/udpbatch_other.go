//go:build !linux

package transport

import (
	"net"
	"net/netip"

	"github.com/parley-sip/parley/sip"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// batchConn is the part of ipv4.PacketConn and ipv6.PacketConn used
// here; both take the same Message type.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

func newBatchConn(uc *net.UDPConn) batchConn {
	if addrPort(uc.LocalAddr()).Addr().Is4() {
		return ipv4.NewPacketConn(uc)
	}
	return ipv6.NewPacketConn(uc)
}

// udpReader reads a socket in batches through x/net (recvmmsg where the
// system has it, one datagram per call elsewhere). Linux has its own,
// which allocates nothing per datagram (udpbatch_linux.go).
type udpReader struct {
	c    batchConn
	msgs []ipv4.Message
}

func newUDPReader(uc *net.UDPConn, slot int) *udpReader {
	r := &udpReader{c: newBatchConn(uc), msgs: make([]ipv4.Message, udpBatch)}
	for i := range r.msgs {
		r.msgs[i].Buffers = [][]byte{make([]byte, slot)}
	}
	return r
}

func (r *udpReader) read() (int, error) { return r.c.ReadBatch(r.msgs, 0) }

// datagram returns the i-th datagram, its source and no arrival: x/net
// passes no control data here, so deliver stamps it as read.
func (r *udpReader) datagram(i int) ([]byte, netip.AddrPort, sip.Arrival) {
	ua, ok := r.msgs[i].Addr.(*net.UDPAddr)
	if !ok {
		return nil, netip.AddrPort{}, 0
	}
	return r.msgs[i].Buffers[0][:r.msgs[i].N], unmap(ua.AddrPort()), 0
}

// udpWriter writes a socket's queue through x/net's WriteBatch.
type udpWriter struct {
	c    batchConn
	msgs []ipv4.Message
	bufs [][1][]byte
}

func newUDPWriter(uc *net.UDPConn, v4 bool) *udpWriter {
	return &udpWriter{c: newBatchConn(uc), msgs: make([]ipv4.Message, udpQueueMax), bufs: make([][1][]byte, udpQueueMax)}
}

func (w *udpWriter) write(q []queued) (int, error) {
	for i, e := range q {
		w.bufs[i][0] = e.msg
		w.msgs[i] = ipv4.Message{Buffers: w.bufs[i][:], Addr: net.UDPAddrFromAddrPort(e.dst)}
	}
	return w.c.WriteBatch(w.msgs[:len(q)], 0)
}
