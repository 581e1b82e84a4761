//go:build linux

package transport

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// A destination encoded for sendmmsg decodes, as recvmmsg's source would,
// to the same address: IPv4 on either family of socket (mapped on an
// AF_INET6 one), IPv6 with and without a zone.
func TestRawSockaddrRoundTrip(t *testing.T) {
	tests := []struct {
		in      string
		v4      bool
		wantLen uint32
		want    string
	}{
		{"127.0.0.1:5060", true, unix.SizeofSockaddrInet4, "127.0.0.1:5060"},
		{"192.0.2.7:65535", true, unix.SizeofSockaddrInet4, "192.0.2.7:65535"},
		{"127.0.0.1:5060", false, unix.SizeofSockaddrInet6, "127.0.0.1:5060"},
		{"[::ffff:10.0.0.1]:1", true, unix.SizeofSockaddrInet4, "10.0.0.1:1"},
		{"[::1]:27001", false, unix.SizeofSockaddrInet6, "[::1]:27001"},
		{"[2001:db8::5]:5061", false, unix.SizeofSockaddrInet6, "[2001:db8::5]:5061"},
		{"[fe80::1%3]:5060", false, unix.SizeofSockaddrInet6, "[fe80::1%3]:5060"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var sa rawSockaddr
			n := sa.set(netip.MustParseAddrPort(tt.in), tt.v4)
			if n != tt.wantLen {
				t.Fatalf("length %d, want %d", n, tt.wantLen)
			}
			if got := sa.addrPort(n).String(); got != tt.want {
				t.Errorf("decoded %s, want %s", got, tt.want)
			}
		})
	}
}

// What the kernel cannot have meant decodes to an invalid address, which
// the reader drops: a length short of the family's, or another family.
func TestRawSockaddrRefuses(t *testing.T) {
	var v4, v6, unixSock rawSockaddr
	v4.set(netip.MustParseAddrPort("127.0.0.1:1"), true)
	v6.set(netip.MustParseAddrPort("[::1]:1"), false)
	unixSock[0] = unix.AF_UNIX
	tests := []struct {
		name string
		sa   *rawSockaddr
		n    uint32
	}{
		{"short v4", &v4, unix.SizeofSockaddrInet4 - 1},
		{"short v6", &v6, unix.SizeofSockaddrInet6 - 1},
		{"AF_UNIX", &unixSock, unix.SizeofSockaddrInet6},
	}
	for _, tt := range tests {
		if ap := tt.sa.addrPort(tt.n); ap.IsValid() {
			t.Errorf("%s: decoded %v", tt.name, ap)
		}
	}
}

// FuzzRawSockaddr feeds arbitrary kernel bytes to the decoder: it must not
// panic, and a valid result must encode back to what decodes the same.
func FuzzRawSockaddr(f *testing.F) {
	var seed rawSockaddr
	seed.set(netip.MustParseAddrPort("[fe80::1%2]:5060"), false)
	f.Add(seed[:], uint32(len(seed)))
	seed.set(netip.MustParseAddrPort("127.0.0.1:5060"), true)
	f.Add(seed[:], uint32(unix.SizeofSockaddrInet4))
	f.Fuzz(func(t *testing.T, b []byte, n uint32) {
		var sa rawSockaddr
		copy(sa[:], b)
		ap := sa.addrPort(n)
		if !ap.IsValid() {
			return
		}
		var again rawSockaddr
		if got := again.addrPort(again.set(ap, ap.Addr().Is4())); got != ap {
			t.Fatalf("%v encoded and decoded is %v", ap, got)
		}
	})
}
