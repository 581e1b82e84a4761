package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/parley-sip/parley/sip"
)

// udpBatch is how many datagrams one read takes from the kernel
// (recvmmsg on Linux): under load one system call serves several
// messages. It is small because a batch is handled in order by the
// reader that took it while the socket's other reader may sit idle: at
// 16, a B2BUA's datagram waited a median of 128-512 µs behind the rest
// of its batch under load, where its own handling took 16-64 µs
// (docs/PERFORMANCE.md, issue 16's UDP read batch).
const udpBatch = 4

// udpHoldMax bounds how long a read batch holds a response back for the
// batch's sendmmsg: past it, the responses held so far leave before the
// next datagram is handled. Messages handled in tens of microseconds (a
// registrar's) still share a system call; a B2BUA's slower ones do not
// hold an answer for the whole batch.
const udpHoldMax = 100 * time.Microsecond

// udpDriver is UDP (§18): a listener is SO_REUSEPORT sockets read in
// batches, and a message is one datagram.
type udpDriver struct{}

func (udpDriver) Proto() Proto { return UDP }

func (udpDriver) Traits() Traits {
	return Traits{Via: "UDP", DefaultPort: 5060, NAPTR: "SIP+D2U", SRVService: "sip", SRVProto: "udp"}
}

func (udpDriver) listen(ctx context.Context, m *Manager, l *listener, addr netip.AddrPort) (bound netip.AddrPort, err error) {
	l.socks, bound, err = m.listenUDP(ctx, addr)
	return bound, err
}

// serve starts UDPReaders goroutines on each socket.
func (udpDriver) serve(m *Manager, l *listener) {
	for _, s := range l.socks {
		for range m.cfg.UDPReaders {
			m.wg.Add(1)
			go m.readUDP(l, s)
		}
	}
}

func (udpDriver) send(m *Manager, dst Target, msg []byte) error { return m.sendUDP(dst, msg) }

// listenUDP binds UDPSockets sockets to one address with SO_REUSEPORT, so
// the kernel spreads datagrams over as many reading goroutines (by hash
// of the peer's address, so one peer always reaches the same socket).
func (m *Manager) listenUDP(ctx context.Context, addr netip.AddrPort) ([]*udpSocket, netip.AddrPort, error) {
	n := m.cfg.UDPSockets
	if !reusePortSupported {
		n = 1
	}
	netw := network("udp", addr.Addr())
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
	socks := make([]*udpSocket, 0, n)
	for range n {
		pc, err := lc.ListenPacket(ctx, netw, addr.String())
		if err != nil {
			for _, s := range socks {
				s.conn.Close()
			}
			return nil, addr, err
		}
		uc := pc.(*net.UDPConn)
		socks = append(socks, newUDPSocket(uc, addr.Addr().Is4(), m.queuedSendFailed, &m.relays))
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

// slotSize is one read buffer: a byte more than the largest message, so
// that an oversize datagram shows as too large instead of arriving
// silently truncated; never more than the largest datagram.
func (m *Manager) slotSize() int {
	return min(m.cfg.Limits.MaxSize+1, 1<<16)
}

// readUDP reads one socket until the manager closes. Several may read
// the same socket (Config.UDPReaders): the socket's read lock lets one
// into recvmmsg at a time while the others handle their batches.
func (m *Manager) readUDP(l *listener, s *udpSocket) {
	defer m.wg.Done()
	r := newUDPReader(s.conn, m.slotSize())
	for {
		n, err := r.read()
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
		// A lone datagram's answers go out at once: holding them would
		// only add the queue's cost. Several read together are the load
		// that one sendmmsg for all their answers pays off for.
		batched := n > 1
		if batched {
			s.hold()
		}
		for i := range n {
			b, src, at := r.datagram(i)
			m.datagram(l, b, src, at)
			if batched && i < n-1 {
				s.flushStale(udpHoldMax)
			}
		}
		if batched {
			s.release()
		}
	}
}

// datagram hands one received datagram on; b is the reader's buffer,
// which the next read reuses, at its kernel receive time (0: none).
func (m *Manager) datagram(l *listener, b []byte, src netip.AddrPort, at sip.Arrival) {
	if !src.IsValid() {
		return
	}
	// Keep-alives count too: a flood of them costs reads all the same.
	if !m.admit(src.Addr()) {
		return
	}
	if isSTUN(b) {
		m.answerSTUN(l, src, b)
		return
	}
	if keepAlive(b) {
		return
	}
	m.deliver(b, true, Incoming{Proto: UDP, Source: src, Local: l.info.Bound, Listener: l.info, Arrival: at})
}

// keepAlive reports a datagram that carries no message: the CRLF
// keep-alives phones send to hold a NAT binding open, or something that
// starts like STUN (a 0 or 1 byte) without being a message isSTUN takes.
func keepAlive(b []byte) bool {
	if len(b) > 0 && b[0] < 2 {
		return true
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
	s := sockFor(l.socks, addr)
	// An unconnected socket does not see ICMP port unreachable on Linux,
	// so a dead UDP peer shows only as Timer B/F expiring (§17.1.1.2).
	// A response may wait in the socket's queue (for the end of a read
	// batch, or for the write in progress); a request's sender waits for
	// its own write, never for a batch, because a local failure to send
	// it (no route, say) must reach its client transaction, which then
	// tries the next address (§17.1.4, RFC 3263 §4.3).
	return s.send(msg, addr, isResponse(msg), dst.Relayed)
}

// sockFor picks the socket that writes to dst: always the same one for
// one destination, so that a response queued in a read batch is never
// overtaken by a later one to the same peer written at once from
// another socket (a 180 arriving after the 200 would be ignored).
func sockFor(socks []*udpSocket, dst netip.AddrPort) *udpSocket {
	if len(socks) == 1 {
		return socks[0]
	}
	b := dst.Addr().As16()
	h := uint32(dst.Port())
	for i := 0; i < 16; i += 4 {
		h = (h ^ binary.LittleEndian.Uint32(b[i:])) * 16777619 // FNV-1a's prime, a word at a time
	}
	return socks[h%uint32(len(socks))]
}

// isResponse tells a response from a request by its start line.
func isResponse(msg []byte) bool {
	return len(msg) > 8 && string(msg[:8]) == "SIP/2.0 "
}

// queuedSendFailed counts and logs a queued message the kernel refused;
// Send counted it as sent when it queued it.
func (m *Manager) queuedSendFailed(dst netip.AddrPort, err error) {
	m.stats.sent.Add(^uint64(0))
	m.stats.sendErrors.Add(1)
	m.log.Debug("udp send failed", "destination", dst, "err", err)
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
