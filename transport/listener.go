package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/parley-sip/parley/sip"
)

// listener is one configured listener once bound: a group of UDP sockets
// sharing one port, or one TCP socket accepting connections. Its driver
// fills in the sockets and reads them.
type listener struct {
	info   *ListenerInfo
	driver Driver
	socks  []*udpSocket // datagram drivers (UDP)
	ln     net.Listener // connection drivers (TCP, TLS, WS, WSS)
	http   *http.Server // WebSocket drivers: the server that upgrades
}

func (l *listener) close() {
	for _, s := range l.socks {
		s.conn.Close()
	}
	if l.ln != nil {
		l.ln.Close()
	}
	if l.http != nil {
		l.http.Close() // connections still in their handshake
	}
}

// bindAddr resolves a listener's host to the address to bind.
func bindAddr(ctx context.Context, lc ListenerConfig) (netip.AddrPort, error) {
	host := sip.TrimBrackets(lc.Host)
	if host == "" {
		host = "0.0.0.0"
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		addrs, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if lerr != nil || len(addrs) == 0 {
			return netip.AddrPort{}, fmt.Errorf("listen %s %s: cannot resolve host: %v", lc.Proto, lc.Host, lerr)
		}
		a = addrs[0]
	}
	return netip.AddrPortFrom(a.Unmap().WithZone(""), uint16(lc.Port)), nil
}

// network returns the Go network name ("udp" or "tcp" as base) that
// binds only a's family: IPv6 sockets are v6-only, so "0.0.0.0" and "::"
// can both be bound on one port.
func network(base string, a netip.Addr) string {
	if a.Is4() {
		return base + "4"
	}
	return base + "6"
}

// newInfo describes a bound listener: Host and Port are the advertised
// address when one is configured; otherwise the bound address, and for a
// wildcard bind the first global address of the machine in the family,
// falling back to loopback when the machine has none.
func newInfo(lc ListenerConfig, bound netip.AddrPort) *ListenerInfo {
	info := &ListenerInfo{Proto: lc.Proto, Bound: bound, Port: int(bound.Port())}
	if lc.Advertise != "" {
		host, port, _ := splitAdvertise(lc.Advertise, 0) // validated in New
		info.Host = host
		if port != 0 {
			info.Port = port
		}
		return info
	}
	a := bound.Addr()
	if a.IsUnspecified() {
		a = machineAddr(a.Is4())
	}
	info.Host = formatHost(a)
	return info
}

// formatHost writes an address as a Via or URI host: IPv6 in brackets.
func formatHost(a netip.Addr) string {
	if a.Is6() {
		return "[" + a.String() + "]"
	}
	return a.String()
}

// machineAddr returns the first address of the family that a peer
// elsewhere could reach: not loopback, link-local or multicast.
func machineAddr(v4 bool) netip.Addr {
	loop := netip.IPv6Loopback()
	if v4 {
		loop = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return loop
	}
	for _, ia := range addrs {
		ipn, ok := ia.(*net.IPNet)
		if !ok {
			continue
		}
		a, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		a = a.Unmap()
		if a.Is4() == v4 && a.IsGlobalUnicast() && !a.IsLinkLocalUnicast() {
			return a
		}
	}
	return loop
}

// splitAdvertise parses "host", "host:port", "[v6]", "[v6]:port" or a
// bare IPv6 address. The host comes back as written in Via (IPv6 in
// brackets); port is defPort when none is given.
func splitAdvertise(s string, defPort int) (host string, port int, err error) {
	port = defPort
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, errors.New("missing ]")
		}
		host, rest := s[:end+1], s[end+1:]
		if _, err := netip.ParseAddr(host[1:end]); err != nil {
			return "", 0, err
		}
		if rest == "" {
			return host, port, nil
		}
		if rest[0] != ':' {
			return "", 0, errors.New("junk after ]")
		}
		port, err = parsePort(rest[1:])
		return host, port, err
	case strings.Count(s, ":") > 1:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return "", 0, err
		}
		return formatHost(a), port, nil
	}
	host, p, found := strings.Cut(s, ":")
	if host == "" {
		return "", 0, errors.New("empty host")
	}
	if found {
		port, err = parsePort(p)
	}
	return host, port, err
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return n, nil
}

// canReach reports whether a socket bound to bound can send to dst: a
// loopback-bound socket cannot reach other hosts, nor can a socket bound
// to a public address reach loopback.
func canReach(bound, dst netip.Addr) bool {
	return !dst.IsValid() || bound.IsUnspecified() || bound.IsLoopback() == dst.IsLoopback()
}

// sameFamily reports whether a socket bound to bound can send to dst at
// all; an invalid dst matches any family.
func sameFamily(bound, dst netip.Addr) bool {
	return !dst.IsValid() || bound.Is4() == dst.Unmap().Is4()
}

// pick returns the listener for sending p to dst: the first of the
// family that can reach dst, else the first of the family, else nil.
func pick(ls []*listener, p Proto, dst netip.Addr) *listener {
	var first *listener
	for _, l := range ls {
		b := l.info.Bound.Addr()
		if l.info.Proto != p || !sameFamily(b, dst) {
			continue
		}
		if canReach(b, dst.Unmap()) {
			return l
		}
		if first == nil {
			first = l
		}
	}
	return first
}
