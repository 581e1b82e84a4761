//go:build linux

package transport

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// rawSockaddr holds a struct sockaddr_in or sockaddr_in6 as the kernel
// lays it out (family in host order, port in network order), decoded and
// encoded here byte by byte so that no net.UDPAddr is built per datagram.
type rawSockaddr [unix.SizeofSockaddrInet6]byte

// addrPort decodes the address the kernel wrote, n bytes of it. IPv4
// mapped into IPv6 is unmapped so that a peer has one spelling; a
// scope is kept as a numeric zone, which allocates, but only for
// link-local peers.
func (sa *rawSockaddr) addrPort(n uint32) netip.AddrPort {
	port := binary.BigEndian.Uint16(sa[2:4])
	switch binary.NativeEndian.Uint16(sa[0:2]) {
	case unix.AF_INET:
		if n < unix.SizeofSockaddrInet4 {
			return netip.AddrPort{}
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(sa[4:8])), port)
	case unix.AF_INET6:
		if n < unix.SizeofSockaddrInet6 {
			return netip.AddrPort{}
		}
		ip := netip.AddrFrom16([16]byte(sa[8:24])).Unmap()
		if scope := binary.NativeEndian.Uint32(sa[24:28]); scope != 0 && ip.Is6() {
			ip = ip.WithZone(strconv.FormatUint(uint64(scope), 10))
		}
		return netip.AddrPortFrom(ip, port)
	}
	return netip.AddrPort{}
}

// set encodes ap for an AF_INET socket (v4) or an AF_INET6 one, which
// takes IPv4 destinations mapped, and returns the length to pass. A zone
// is an interface's index or name.
func (sa *rawSockaddr) set(ap netip.AddrPort, v4 bool) uint32 {
	*sa = rawSockaddr{}
	binary.BigEndian.PutUint16(sa[2:4], ap.Port())
	if v4 {
		binary.NativeEndian.PutUint16(sa[0:2], unix.AF_INET)
		a := ap.Addr().Unmap().As4()
		copy(sa[4:8], a[:])
		return unix.SizeofSockaddrInet4
	}
	binary.NativeEndian.PutUint16(sa[0:2], unix.AF_INET6)
	a := ap.Addr().As16()
	copy(sa[8:24], a[:])
	binary.NativeEndian.PutUint32(sa[24:28], zoneIndex(ap.Addr().Zone()))
	return unix.SizeofSockaddrInet6
}

// zoneIndex is a zone's interface index: a number as it is, else the
// interface of that name (a lookup, so only link-local peers pay it).
func zoneIndex(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n)
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}
