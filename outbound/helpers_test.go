package outbound

import (
	"net/netip"

	"github.com/parley-sip/parley/transport"
)

func target(proto transport.Proto, addr string) transport.Target {
	return transport.Target{Proto: proto, Addr: netip.MustParseAddrPort(addr)}
}

// sameDst compares where a message went: protocol, address, connection.
func sameDst(got, want transport.Target) bool {
	return got.Proto == want.Proto && got.Addr == want.Addr && got.Conn == want.Conn
}
