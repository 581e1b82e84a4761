package transport

import "sync/atomic"

// Stats are the transport's counters since New, for logs and, later,
// metrics.
type Stats struct {
	Received      uint64 // messages handed to the Handler
	Malformed     uint64 // datagrams and frames dropped: unparsable, or a request without a usable Via
	Sent          uint64 // messages written
	SendErrors    uint64 // Send calls that failed
	Accepted      uint64 // connections accepted
	Refused       uint64 // connections closed at once: MaxConnections or MaxConnectionsPerIP
	Dialed        uint64 // connections opened by Send
	Open          int    // connections open now
	FramingErrors uint64 // connections closed for an unframable stream
	Overflows     uint64 // connections cut off for MaxBuffer or TCPMessageTimeout
	IdleClosed    uint64 // connections closed by TCPIdleTimeout
	Pings         uint64 // CRLF keep-alives answered
	STUNPings     uint64 // STUN binding requests answered on UDP (RFC 5626 §8)
	Denied        uint64 // datagrams and stream messages the Admit hook refused, unparsed
	DeniedConns   uint64 // connections the Admit hook closed at once
}

// counters are the live values behind Stats.
type counters struct {
	received, malformed, sent, sendErrors       atomic.Uint64
	accepted, refused, dialed                   atomic.Uint64
	framingErrors, overflows, idleClosed, pings atomic.Uint64
	denied, deniedConns, stunPings              atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (m *Manager) Stats() Stats {
	c := &m.stats
	return Stats{
		Received: c.received.Load(), Malformed: c.malformed.Load(),
		Sent: c.sent.Load(), SendErrors: c.sendErrors.Load(),
		Accepted: c.accepted.Load(), Refused: c.refused.Load(), Dialed: c.dialed.Load(),
		Open:          m.conns.count(),
		FramingErrors: c.framingErrors.Load(), Overflows: c.overflows.Load(),
		IdleClosed: c.idleClosed.Load(), Pings: c.pings.Load(),
		Denied: c.denied.Load(), DeniedConns: c.deniedConns.Load(), STUNPings: c.stunPings.Load(),
	}
}
