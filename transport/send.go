package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
)

// maxUDPRequest is §18.1.1's bound: a request larger than this, with the
// path MTU unknown, goes by a congestion-controlled transport.
const maxUDPRequest = 1300

// Send writes msg to dst (it implements Sender). UDP goes out from a
// listener's socket. TCP and TLS use, in order: dst.Conn when it is still
// open; an open connection to dst.Addr in either direction (one the peer
// opened from that address counts); a new connection, whose responses
// and requests are read like any other. A failed write closes the
// connection. msg is not retained.
func (m *Manager) Send(dst Target, msg []byte) error {
	if m.closed.Load() {
		return ErrClosed
	}
	var err error
	var at int64
	if dst.Relayed != 0 && dst.Proto.Stream() {
		at = m.relays.now() // UDP's sockets time their own, which a response may leave queued
	}
	if d, ok := Lookup(dst.Proto); ok {
		err = d.send(m, dst, msg)
	} else {
		err = fmt.Errorf("transport: unknown protocol %q", dst.Proto)
	}
	if err != nil {
		m.stats.sendErrors.Add(1)
		return err
	}
	m.stats.sent.Add(1)
	if at != 0 {
		m.relays.sent(dst.Relayed, msg, at)
	}
	return nil
}

// send writes msg on the connection for dst, found or dialed.
func (d *streamDriver) send(m *Manager, dst Target, msg []byte) error {
	c, err := m.connFor(dst, d)
	if err != nil {
		return err
	}
	if err := c.write(msg, m.cfg.TCPWriteTimeout); err != nil {
		m.forget(c) // a half-written message leaves the stream unframable
		return fmt.Errorf("transport: write %s %s: %w", c.proto, c.remote, err)
	}
	return nil
}

// connFor finds the connection for dst or has d dial one. Concurrent
// senders to one new address share a single connection attempt.
func (m *Manager) connFor(dst Target, d connDriver) (*conn, error) {
	if dst.Conn != 0 {
		if c := m.conns.get(dst.Conn); c != nil {
			return c, nil
		}
	}
	if !dst.Addr.IsValid() {
		return nil, ErrNoConnection
	}
	k := connKey{dst.Proto, unmap(dst.Addr)}
	c, call, leader := m.conns.lookupOrDial(k)
	switch {
	case c != nil:
		return c, nil
	case !leader:
		<-call.done
		return call.c, call.err
	}
	c, err := d.dial(m, dst)
	m.conns.endDial(k, call, c, err)
	return c, err
}

// dial opens a connection to dst.Addr within DialTimeout, handshake
// included, and starts reading it.
func (d *streamDriver) dial(m *Manager, dst Target) (*conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.DialTimeout)
	defer cancel()
	addr := unmap(dst.Addr)
	info := m.ListenerFor(dst.Proto, addr.Addr())
	nd := net.Dialer{LocalAddr: localFor(info, addr.Addr())}
	nc, err := nd.DialContext(ctx, network("tcp", addr.Addr()), addr.String())
	if err != nil {
		return nil, err
	}
	if d.traits.Secure {
		tc := tls.Client(nc, m.clientConfig(dst))
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	c := m.newConn(d, nc, info, false)
	if err := m.register(c); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// localFor binds an outgoing connection to the listener's address when
// the listener has a specific one, so the peer sees the address the Via
// names; a wildcard listener leaves the choice to the kernel.
func localFor(info *ListenerInfo, dst netip.Addr) net.Addr {
	if info == nil {
		return nil
	}
	b := info.Bound.Addr()
	if b.IsUnspecified() || !canReach(b, dst) {
		return nil
	}
	return &net.TCPAddr{IP: b.AsSlice()}
}

// clientConfig is the TLS client config for one destination: SNI and
// certificate checks against dst.ServerName, else against its IP.
func (m *Manager) clientConfig(dst Target) *tls.Config {
	cfg := m.clientTLS.Clone()
	cfg.ServerName = dst.ServerName
	if cfg.ServerName == "" {
		cfg.ServerName = dst.Addr.Addr().Unmap().String()
	}
	return cfg
}

// ChooseProto returns the transport a request of size bytes to dst
// should use (§18.1.1): a request over 1300 bytes that would go by UDP
// goes by TCP instead, when a TCP listener of dst's family exists (the
// Via must name one) and dst.PinnedUDP is not set. Should that TCP
// connection be refused, §18.1.1 has the caller retry over UDP. Responses
// do not switch: §18.2.2 sends them the way the request came.
func (m *Manager) ChooseProto(dst Target, size int) Proto {
	if dst.Proto != UDP || dst.PinnedUDP || size <= maxUDPRequest {
		return dst.Proto
	}
	if m.ListenerFor(TCP, dst.Addr.Addr()) == nil {
		return UDP
	}
	return TCP
}
