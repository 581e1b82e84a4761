// Package transport moves SIP messages over UDP, TCP, TLS and WebSocket
// (RFC 3261 §18, RFC 3581, RFC 7118): listeners, framing, the connection table and the
// received/rport rules. It knows nothing of transactions.
//
// Each protocol is a Driver in a registry (driver.go): its traits, which
// the layers above ask through Proto's methods instead of naming
// protocols, and how it listens, reads, frames and sends.
//
// A Manager owns the sockets. Each UDP listener is several SO_REUSEPORT
// sockets on one port, each read in batches (recvmmsg) by its own
// goroutine; each TCP, TLS or WebSocket connection has one reading
// goroutine at a time. The Handler is called on those goroutines, one
// message at a time per socket or connection. A connection's reading
// moves to a fresh goroutine after it has handed messages on, so that
// an idle connection waits on a shallow stack (4 KiB) rather than on the
// one handling grew; that costs one goroutine start per read that
// carried messages, from the runtime's pool.
//
// Every received datagram or frame is parsed under Config.Limits; a
// request's top Via gets received and rport (§18.2.1, RFC 3581) before the
// Handler sees it. What does not parse is dropped and counted (Stats):
// with a broken start line or header structure there is nothing to answer.
//
// Sending over UDP uses an unconnected socket, on which Linux reports no
// ICMP port-unreachable; a dead UDP peer shows only as Timer B or F
// expiring in the transaction layer. Stream sends reuse open connections
// in either direction and dial new ones, reporting refusals at once.
//
// A listener bound to 0.0.0.0 or :: advertises (ListenerInfo.Host) its
// configured advertise address; else the first global address of the
// machine in that family; else loopback. Servers with several addresses
// or behind NAT should configure Advertise.
package transport

import (
	"net/netip"

	"github.com/parley-sip/parley/sip"
)

// Proto is a transport protocol name in lower case: "udp", "tcp",
// "tls", "ws" or "wss", as in config and in a URI's transport parameter. Its driver
// (Lookup) knows everything else about it.
type Proto string

// The transports Parley speaks; the registry in driver.go holds their
// drivers.
const (
	UDP Proto = "udp"
	TCP Proto = "tcp"
	TLS Proto = "tls"
	// WS and WSS are SIP over WebSocket (RFC 7118), plain and over TLS:
	// what browsers and web apps speak.
	WS  Proto = "ws"
	WSS Proto = "wss"
)

// ConnID names one TCP or TLS connection in the connection table; 0 is
// no connection (UDP).
type ConnID uint64

// Incoming is one message received, with where it came from. The
// transport has already applied §18.2.1 (received and rport on the top
// Via of a request) before handing it on.
type Incoming struct {
	Msg    *sip.Message
	Proto  Proto
	Source netip.AddrPort // the peer's address
	Local  netip.AddrPort // the listener's bound address
	Conn   ConnID         // the connection it arrived on (TCP/TLS)
	// Listener is the listener that received it; its advertised address
	// is what this server puts in Via and Record-Route on that interface.
	// On a connection this server opened it is the listener of that
	// protocol and family (ListenerFor), nil when there is none.
	Listener *ListenerInfo

	released bool // Release was called: the transport reuses it all once the Handler returns

	// Arrival is when the message reached this server: the kernel's
	// receive time of its datagram (SO_TIMESTAMPNS, Linux), else the
	// time the transport read it (TCP, TLS, WebSocket: no per-message
	// kernel time). The transport sets it, and copies it to Msg
	// (sip.Message.Arrival) for the layers that see only the message;
	// one given to Inject is kept.
	Arrival sip.Arrival
}

// Release gives in, in.Msg and the bytes it was parsed from back to the
// transport, which parses a later message into them once the Handler
// returns. It is opt-in: a message whose handler does not call it stays
// with whoever kept it, as every message did before pooling. Call it only
// where the message's handling is known to end within the Handler call,
// on the whole way from the transport to that point: nothing keeps in,
// in.Msg, or a string, slice or typed value taken from them, and no
// goroutine, timer or queue reads them later. Checked builds (sip.
// CheckReleased) poison what was released, so a use after Release panics
// in tests. docs/ARCHITECTURE.md lists the places that release.
func (in *Incoming) Release() { in.released = true }

// Released reports whether Release was called.
func (in *Incoming) Released() bool { return in.released }

// Target is where to send a message.
type Target struct {
	Proto Proto
	Addr  netip.AddrPort
	// Conn, when not 0 and still open, is used instead of opening or
	// looking up a connection to Addr: responses go back on the
	// connection their request came on (§18.2.2), and requests to a
	// registered phone behind NAT go on the connection it registered on.
	Conn ConnID
	// ServerName is the host name for TLS certificate checks (SNI);
	// empty checks the certificate against the IP address of Addr.
	ServerName string
	// Listener, when not nil, is the listener to send from. UDP needs it:
	// RFC 3581 §4 sends a response from the address and port its request
	// arrived on, which is the only address a NAT lets back in. When nil
	// (or not a listener of this protocol and address family) the first
	// listener of the family that can reach Addr is used.
	Listener *ListenerInfo
	// PinnedUDP records that the target asked for UDP explicitly (a URI
	// with ;transport=udp), which keeps ChooseProto from moving a large
	// request to TCP (§18.1.1).
	PinnedUDP bool
	// Relayed, when not 0, is the arrival of the message that the one
	// sent relays (sip.Message.RelayOf): the transport counts the time
	// from it to the moment the kernel took the message in its relay
	// histogram (Manager.RelayStats). Set by Relaying, on a message's
	// first send only.
	Relayed sip.Arrival
}

// Relaying returns t marked with the Arrival of the message m relays,
// taking m's mark (sip.Message.TakeRelayed): the relay histogram then
// times this send of m, and no later one (a retransmission's wait is its
// timer's). A message that relays none leaves t unmarked.
func (t Target) Relaying(m *sip.Message) Target {
	t.Relayed = m.TakeRelayed()
	return t
}

// ListenerInfo describes one listening socket to the layers above.
type ListenerInfo struct {
	Proto Proto
	Bound netip.AddrPort // the address the socket is bound to
	// Host and Port are what goes into Via and Record-Route: the
	// advertised address when configured (NAT, load balancer), else the
	// bound one; for a wildcard bind the first global address of the
	// machine in the family, else loopback. IPv6 hosts are in brackets.
	Host string
	Port int
}

// Handler receives every message the transports read. It is called on the
// reading goroutine and must not block for long.
type Handler interface {
	HandleMessage(in *Incoming)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(in *Incoming)

// HandleMessage calls f(in).
func (f HandlerFunc) HandleMessage(in *Incoming) { f(in) }

// Sender sends wire bytes to a target. The transport layer implements it;
// tests use fakes.
type Sender interface {
	// Send writes msg to dst. It returns an error when the message could
	// not be handed to the network (no route, connection refused, ICMP
	// port unreachable already seen for dst), which callers treat as a
	// transport failure (§8.1.3.1, §17.1.4).
	Send(dst Target, msg []byte) error
}

// ResponseTarget returns where a response to in must go (§18.2.2, RFC
// 3581 §4), sent from the listener the request arrived on. For connection
// transports it is the request's connection; should that have closed, Send
// opens a new one to the source IP at the sent-by port, as §18.2.2 says.
// For UDP it is the source address and port when rport was asked for,
// else the received address (the source IP) at the sent-by port; an maddr
// in the Via wins over both.
func ResponseTarget(in *Incoming) Target {
	t := Target{Proto: in.Proto, Addr: in.Source, Conn: in.Conn, Listener: in.Listener}
	v, err := in.Msg.TopVia()
	if err != nil {
		return t
	}
	if in.Proto.Stream() {
		host, port := v.SentBy()
		t.Addr = netip.AddrPortFrom(in.Source.Addr(), uint16(port))
		if _, err := netip.ParseAddr(sip.TrimBrackets(host)); err != nil {
			t.ServerName = host // a name the peer's certificate should carry
		}
		return t
	}
	if maddr, ok := v.Params.Get("maddr"); ok {
		if a, err := netip.ParseAddr(maddr); err == nil {
			_, port := v.SentBy()
			t.Addr = netip.AddrPortFrom(a, uint16(port))
			return t
		}
	}
	if _, has := v.RPort(); has {
		return t // rport: reply to the exact source address and port
	}
	host, port := v.SentBy()
	addr := in.Source.Addr()
	if r := v.Received(); r != "" {
		if a, err := netip.ParseAddr(r); err == nil {
			addr = a
		}
	} else if a, err := netip.ParseAddr(sip.TrimBrackets(host)); err == nil {
		addr = a
	}
	t.Addr = netip.AddrPortFrom(addr, uint16(port))
	return t
}
