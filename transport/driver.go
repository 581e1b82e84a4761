package transport

import (
	"context"
	"net/netip"
	"strings"
)

// Traits are the facts about a transport protocol that the layers above
// act on, so that none of them needs to know the protocols by name.
type Traits struct {
	// Via is the transport token in a Via header (§20.42): "UDP".
	Via string
	// DefaultPort is the port a URI or Via without one means: 5060, and
	// 5061 for TLS (§19.1.2, §18.2.2).
	DefaultPort int
	// Reliable transports deliver in order without loss, which turns off
	// the retransmission timers (§17.1.1.2).
	Reliable bool
	// Stream transports carry messages on connections: responses go back
	// on the request's connection (§18.2.2), Send reuses open ones, and
	// on the wire (HEP) they count as TCP.
	Stream bool
	// Secure transports need the server certificate, and are what a sips
	// URI asks for.
	Secure bool
	// URIParam is the value of a SIP URI's transport parameter that names
	// the protocol, when it is not the protocol's own name: RFC 7118 §5.2
	// gives WS and WSS both "ws" (a sips URI asks for the secure one).
	URIParam string
	// NAPTR is the RFC 3263 §4.1 NAPTR service that names the protocol
	// ("SIP+D2U"); empty when DNS has none.
	NAPTR string
	// SRVService and SRVProto are the labels of its SRV records, as in
	// _sips._tcp (RFC 3263 §4.1); empty when DNS has none.
	SRVService, SRVProto string
}

// Driver is one transport protocol: its traits, and how the Manager
// listens, reads and sends on it. Drivers live in this package, because
// they need the Manager's connection table, limits and counters; adding
// a protocol is one new driver in the registry (see docs/ARCHITECTURE.md,
// "How to add a transport").
type Driver interface {
	// Proto is the protocol's name in config, Target and URI transport
	// parameters ("udp").
	Proto() Proto
	// Traits describes the protocol to the layers above.
	Traits() Traits
	// listen binds l's sockets (l.socks for datagrams, l.ln for
	// connections) at addr and returns the bound address, whose port is
	// the chosen one when addr's is 0.
	listen(ctx context.Context, m *Manager, l *listener, addr netip.AddrPort) (netip.AddrPort, error)
	// serve starts l's reading goroutines, each counted in m.wg.
	serve(m *Manager, l *listener)
	// send writes one message to dst: from a listener's socket, or on a
	// connection found or dialed for dst.
	send(m *Manager, dst Target, msg []byte) error
}

// connDriver is a driver whose messages travel on connections kept in
// the connection table, where Send finds them for reuse and the
// connection limits apply. Each connection has one reading goroutine,
// which runs readConn: framing is the driver's (a byte stream by
// Content-Length, one message per WebSocket message).
type connDriver interface {
	Driver
	// dial opens a connection to dst.Addr, handshakes included, and
	// registers it (m.register), which starts its reading goroutine.
	dial(m *Manager, dst Target) (*conn, error)
	// readConn reads c until it ends, handing every message to
	// m.deliver, and reports true once it has: the caller then closes c
	// (m.connDone). False means that reading goes on in another
	// goroutine, which calls m.connDone itself when c ends.
	readConn(m *Manager, c *conn) (ended bool)
}

// registry holds the drivers in RFC 3263 §4.1 order of preference, which
// is also the order in which SRV records are tried.
var registry = newRegistry(udpDriver{}, tcpDriver, tlsDriver, wsDriverPlain, wssDriver)

// entry is a driver with its name and traits read once, so that the
// per-message questions (Reliable, ViaName) cost a short scan, no calls.
type entry struct {
	proto  Proto
	traits Traits
	driver Driver
}

func newRegistry(ds ...Driver) []entry {
	es := make([]entry, len(ds))
	for i, d := range ds {
		es[i] = entry{d.Proto(), d.Traits(), d}
	}
	return es
}

func find(p Proto) *entry {
	for i := range registry {
		if registry[i].proto == p {
			return &registry[i]
		}
	}
	return nil
}

// Lookup returns the driver of p; ok is false for a protocol Parley does
// not speak.
func Lookup(p Proto) (d Driver, ok bool) {
	if e := find(p); e != nil {
		return e.driver, true
	}
	return nil, false
}

// Drivers returns every driver in order of preference.
func Drivers() []Driver {
	ds := make([]Driver, len(registry))
	for i, e := range registry {
		ds[i] = e.driver
	}
	return ds
}

// ProtoOfVia returns the protocol of a Via transport token (any case);
// ok is false for a protocol Parley does not speak, whose name is then
// the token in lower case.
func ProtoOfVia(token string) (p Proto, ok bool) {
	for _, e := range registry {
		if strings.EqualFold(e.traits.Via, token) {
			return e.proto, true
		}
	}
	return Proto(strings.ToLower(token)), false
}

// Known reports whether p is a protocol Parley speaks.
func (p Proto) Known() bool { return find(p) != nil }

// Reliable reports whether p delivers in order without loss, which turns
// off retransmission timers (§17.1.1.2).
func (p Proto) Reliable() bool {
	e := find(p)
	return e != nil && e.traits.Reliable
}

// Stream reports whether p carries messages on connections.
func (p Proto) Stream() bool {
	e := find(p)
	return e != nil && e.traits.Stream
}

// Secure reports whether p needs the certificate and suits a sips URI.
func (p Proto) Secure() bool {
	e := find(p)
	return e != nil && e.traits.Secure
}

// DefaultPort is the port a URI or Via of p without one means.
func (p Proto) DefaultPort() int {
	if e := find(p); e != nil {
		return e.traits.DefaultPort
	}
	return 0
}

// URIParam returns the value of a URI's transport parameter that names p
// in a URI this server writes (Record-Route): "tcp", "tls", and "ws" for
// both WebSocket protocols (RFC 7118 §5.2).
func (p Proto) URIParam() string {
	if e := find(p); e != nil && e.traits.URIParam != "" {
		return e.traits.URIParam
	}
	return string(p)
}

// secureForm is the protocol a sips URI means by a transport parameter
// that names an insecure one: TLS for tcp (RFC 5630 §3.1.3) and WSS for
// ws (RFC 7118 §5.2, which gives both the one value "ws").
var secureForm = map[Proto]Proto{TCP: TLS, WS: WSS}

// ProtoOfURI returns the protocol a SIP or SIPS URI's transport
// parameter asks for: the one it names (any case), or, in a sips URI,
// that protocol's secure form. ok is false for a parameter naming no
// protocol Parley speaks, or one with no secure form in a sips URI;
// the caller then falls back on the scheme's default.
func ProtoOfURI(param string, sips bool) (p Proto, ok bool) {
	p = Proto(strings.ToLower(param))
	if !p.Known() {
		return p, false
	}
	if !sips || p.Secure() {
		return p, true
	}
	p, ok = secureForm[p]
	return p, ok
}

// ViaName returns the transport token for a Via header ("UDP", "TCP", "TLS").
func (p Proto) ViaName() string {
	if e := find(p); e != nil {
		return e.traits.Via
	}
	return ""
}
