package server

import (
	"net/netip"

	"github.com/parley-sip/parley/observe"
	"github.com/parley-sip/parley/sip"
)

// lampCall is a call as busy lamps see it. A provider's call to one of
// the office's numbers names the number in its To (and often its
// Request-URI), which is nobody's lamp: colleagues watch the user the
// number rings (dids), so the callee shows as that user, with the To's
// display name. Every other call is as the observer saw it.
func (s *Server) lampCall(c observe.Call) observe.Call {
	if s.trunks == nil {
		return c
	}
	t := s.trunks.stage.Table()
	if len(t.DIDs) == 0 {
		return c
	}
	src, err := netip.ParseAddrPort(c.Source)
	if err != nil || !s.fromGateway(src.Addr()) {
		return c
	}
	// A call the B2BUA reports has no Request-URI: its To names the number.
	ruri, _ := sip.ParseURI(c.RequestURI)
	to, err := sip.ParseNameAddr(c.Callee)
	if err != nil {
		return c
	}
	uri, ok := t.Inbound(ruri, to.URI)
	if !ok {
		return c
	}
	u, err := sip.ParseURI(uri)
	if err != nil {
		return c
	}
	c.Callee = (&sip.NameAddr{Display: to.Display, URI: u}).String()
	return c
}
