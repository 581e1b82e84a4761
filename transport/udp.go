package transport

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// udpBatch is how many datagrams one read takes from the kernel
// (recvmmsg on Linux): under load one system call serves many messages.
const udpBatch = 16

// listenUDP binds UDPSockets sockets to one address with SO_REUSEPORT, so
// the kernel spreads datagrams over as many reading goroutines (by hash
// of the peer's address, so one peer always reaches the same socket).
func (m *Manager) listenUDP(ctx context.Context, addr netip.AddrPort) ([]*net.UDPConn, netip.AddrPort, error) {
	n := m.cfg.UDPSockets
	if !reusePortSupported {
		n = 1
	}
	netw := network(UDP, addr.Addr())
	if n > 1 && addr.Port() != 0 {
		// SO_REUSEPORT would let us share a port that another process
		// (an old instance of this server) also holds with it, splitting
		// traffic silently; a plain bind first reports it as in use.
		probe, err := net.ListenUDP(netw, net.UDPAddrFromAddrPort(addr))
		if err != nil {
			return nil, addr, err
		}
		probe.Close()
	}
	lc := net.ListenConfig{Control: udpControl(n > 1, m.cfg.UDPReadBuffer)}
	socks := make([]*net.UDPConn, 0, n)
	for range n {
		pc, err := lc.ListenPacket(ctx, netw, addr.String())
		if err != nil {
			for _, s := range socks {
				s.Close()
			}
			return nil, addr, err
		}
		uc := pc.(*net.UDPConn)
		socks = append(socks, uc)
		addr = addrPort(uc.LocalAddr()) // with port 0, the rest join the chosen port
	}
	return socks, addr, nil
}

// addrPort converts a net.Addr of a UDP or TCP socket, unmapping
// IPv4-mapped IPv6 addresses so that one peer has one spelling.
func addrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	}
	return unmap(ap)
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// batchReader is the part of ipv4.PacketConn and ipv6.PacketConn used
// here; both take the same Message type.
type batchReader interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
}

// udpReader holds one socket's read buffers, reused for every batch: each
// datagram is copied out into an exact-size slice that its message owns,
// so the buffers never escape.
type udpReader struct {
	conn batchReader
	msgs []ipv4.Message
}

func newUDPReader(uc *net.UDPConn, v4 bool, slot int) *udpReader {
	r := &udpReader{msgs: make([]ipv4.Message, udpBatch)}
	if v4 {
		r.conn = ipv4.NewPacketConn(uc)
	} else {
		r.conn = ipv6.NewPacketConn(uc)
	}
	for i := range r.msgs {
		r.msgs[i].Buffers = [][]byte{make([]byte, slot)}
	}
	return r
}

// slotSize is one read buffer: a byte more than the largest message, so
// that an oversize datagram shows as too large instead of arriving
// silently truncated; never more than the largest datagram.
func (m *Manager) slotSize() int {
	return min(m.cfg.Limits.MaxSize+1, 1<<16)
}

// readUDP reads one socket until the manager closes.
func (m *Manager) readUDP(l *listener, uc *net.UDPConn) {
	defer m.wg.Done()
	r := newUDPReader(uc, l.info.Bound.Addr().Is4(), m.slotSize())
	for {
		n, err := r.conn.ReadBatch(r.msgs, 0)
		if err != nil {
			if m.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Nothing expected here (ICMP errors are not reported on
			// unconnected sockets); pause so that a persistent error
			// cannot spin a core.
			m.log.Debug("udp read failed", "listener", l.info.Bound, "err", err)
			time.Sleep(time.Millisecond)
			continue
		}
		for i := range n {
			m.datagram(l, &r.msgs[i])
		}
	}
}

// datagram hands one received datagram on.
func (m *Manager) datagram(l *listener, msg *ipv4.Message) {
	ua, ok := msg.Addr.(*net.UDPAddr)
	if !ok {
		return
	}
	src := unmap(ua.AddrPort())
	// Keep-alives count too: a flood of them costs reads all the same.
	if !m.admit(src.Addr()) || keepAlive(msg.Buffers[0][:msg.N]) {
		return
	}
	data := make([]byte, msg.N)
	copy(data, msg.Buffers[0])
	m.deliver(data, &Incoming{Proto: UDP, Source: src, Local: l.info.Bound, Listener: l.info})
}

// keepAlive reports a datagram that carries no message: the CRLF
// keep-alives phones send to hold a NAT binding open (RFC 5626 §3.5.1
// uses STUN instead, which is also not SIP and starts with a 0 or 1 byte).
func keepAlive(b []byte) bool {
	if len(b) > 0 && b[0] < 2 {
		return true // STUN (RFC 5389 §6): not answered yet
	}
	for _, c := range b {
		if c != '\r' && c != '\n' && c != ' ' && c != 0 {
			return false
		}
	}
	return true
}

// sendUDP writes msg from the target's listener when it is a UDP
// listener of dst's family, else from the first that can reach dst.
func (m *Manager) sendUDP(dst Target, msg []byte) error {
	addr := unmap(dst.Addr)
	if !addr.IsValid() {
		return ErrNoConnection
	}
	l := m.udpFrom(dst.Listener, addr.Addr())
	if l == nil {
		return ErrNoListener
	}
	s := l.socks[int(m.rr.Add(1))%len(l.socks)]
	// An unconnected socket does not see ICMP port unreachable on Linux,
	// so a dead UDP peer shows only as Timer B/F expiring (§17.1.1.2).
	_, err := s.WriteToUDPAddrPort(msg, addr)
	return err
}

func (m *Manager) udpFrom(want *ListenerInfo, dst netip.Addr) *listener {
	ls := m.all()
	if want != nil {
		for _, l := range ls {
			if l.info == want && l.socks != nil && sameFamily(l.info.Bound.Addr(), dst) {
				return l
			}
		}
	}
	return pick(ls, UDP, dst)
}
