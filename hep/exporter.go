package hep

import (
	"net"
	"sync"
	"sync/atomic"
)

// Exporter sends packets to one collector over UDP. Sending is fire and
// forget, as HEP over UDP is: a collector that is down loses messages,
// and Parley never waits for it.
type Exporter struct {
	conn *net.UDPConn

	mu  sync.Mutex // guards buf
	buf []byte

	sent, failed atomic.Uint64
}

// Dial resolves address (HOST:PORT) and returns an exporter sending there.
func Dial(address string) (*Exporter, error) {
	ua, err := net.ResolveUDPAddr("udp", address)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return nil, err
	}
	return &Exporter{conn: conn, buf: make([]byte, 0, 4096)}, nil
}

// Send encodes p and sends it. A packet too long for HEP, or one the
// network refuses (a collector's ICMP port unreachable shows up on the
// next send), is counted as failed and its error returned.
func (e *Exporter) Send(p *Packet) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, err := p.AppendTo(e.buf[:0])
	if err == nil {
		e.buf = b
		_, err = e.conn.Write(b)
	}
	if err != nil {
		e.failed.Add(1)
		return err
	}
	e.sent.Add(1)
	return nil
}

// Stats returns the packets sent and those that failed.
func (e *Exporter) Stats() (sent, failed uint64) { return e.sent.Load(), e.failed.Load() }

// Close closes the socket.
func (e *Exporter) Close() error { return e.conn.Close() }
