package proxy

import (
	"encoding/base32"
	"hash/fnv"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// isOurDomain reports whether host is a domain whose users we locate.
func (p *Proxy) isOurDomain(host string) bool {
	if p.config().Domains == nil {
		return true
	}
	return p.config().Domains(strings.ToLower(host))
}

// isUs reports whether a URI points at this server: its host is one of
// our listeners' (advertised or bound) addresses or one of our names, and
// its port the listener's. This is how we recognise our own Record-Route
// and Route entries (§16.4), and requests addressed to the server itself.
func (p *Proxy) isUs(u *sip.URI) bool {
	if !u.IsSIP() {
		return false
	}
	port := u.Port
	if port == 0 {
		port = uriTransport(u).DefaultPort()
	}
	return p.isOurAddr(u.Host, port)
}

// IsUs reports whether a URI names this server itself (one of its
// addresses or names, at one of its ports) rather than a domain it serves.
func (p *Proxy) IsUs(u *sip.URI) bool { return p.isUs(u) }

// uriTransport is the transport whose default port a URI without one
// means, for recognising our own address: what outbound.URIProto says
// the URI asks for (a sips URI with transport=tcp still means port 5061,
// with transport=ws 443).
func uriTransport(u *sip.URI) transport.Proto {
	p, _ := outbound.URIProto(u)
	return p
}

func (p *Proxy) isOurAddr(host string, port int) bool {
	host = sip.TrimBrackets(host)
	addr, addrErr := netip.ParseAddr(host)
	portOurs := false
	for _, l := range p.tp.Listeners() {
		if l.Port != port && int(l.Bound.Port()) != port {
			continue
		}
		portOurs = true
		if strings.EqualFold(l.Host, host) || strings.EqualFold(sip.TrimBrackets(l.Host), host) {
			return true
		}
		bound := l.Bound.Addr()
		if addrErr == nil && (addr == bound || bound.IsUnspecified() && isLocalAddr(addr)) {
			return true
		}
		if strings.EqualFold(host, "localhost") && (bound.IsLoopback() || bound.IsUnspecified()) {
			return true
		}
	}
	// Only a port of ours gets here, so the common foreign address never
	// pays for the name lookup.
	names := p.config().Names
	return portOurs && names != nil && names(host)
}

// isLocalAddr reports whether a is an address of this machine, for
// listeners bound to the wildcard address.
func isLocalAddr(a netip.Addr) bool {
	if a.IsLoopback() {
		return true
	}
	for _, b := range localAddrs() {
		if a == b {
			return true
		}
	}
	return false
}

func (p *Proxy) isOurVia(v *sip.Via) bool {
	host, port := v.SentBy()
	return p.isOurAddr(host, port)
}

// fixStrictRoute undoes what a strict router did (§16.4): when the
// Request-URI is a URI we put in a Record-Route, the real Request-URI is
// the last Route value.
func (p *Proxy) fixStrictRoute(m *sip.Message) bool {
	u, err := m.RequestURIParsed()
	if err != nil || !p.isUs(&u) || !u.Params.Has("lr") {
		return false
	}
	routes, _ := m.Routes()
	if len(routes) == 0 {
		return false
	}
	last := routes[len(routes)-1]
	m.SetRequestURI(last.URI.String())
	vals := m.HeaderValues("Route")
	m.RemoveHeader("Route")
	for _, v := range vals[:len(vals)-1] {
		m.AddHeader("Route", v)
	}
	return true
}

// popOwnRoutes removes the Route entries at the top that are ours: one,
// or two where we double record-routed (§16.4, RFC 5658). It reports
// whether there was one, and the user part of the first of ours that had
// one: a flow token, when we put it there.
func (p *Proxy) popOwnRoutes(m *sip.Message) (popped bool, user string) {
	for i := 0; i < 2; i++ {
		routes, _ := m.Routes()
		if len(routes) == 0 || !p.isUs(&routes[0].URI) {
			break
		}
		if user == "" {
			user = routes[0].URI.User
		}
		m.PopRoute()
		popped = true
	}
	return popped, user
}

// loopHash is the loop-detection part of our branches (§16.6 step 8):
// a hash of what identifies the request as it arrived. A request that
// comes back to us unchanged hashes the same. The To tag is left out so
// that a non-2xx ACK and a CANCEL hash like their INVITE, which keeps a
// stateless proxy's branch the same for all three (§16.11).
func (p *Proxy) loopHash(m *sip.Message) string {
	h := fnv.New64a()
	h.Write([]byte(m.RequestURI()))
	cid, _ := m.CallID()
	h.Write([]byte(cid))
	h.Write([]byte(m.FromTag()))
	cs, _ := m.CSeq()
	h.Write(strconv.AppendUint(nil, uint64(cs.Seq), 10))
	for _, v := range m.HeaderValues("Proxy-Require") {
		h.Write([]byte(v))
	}
	for _, v := range m.HeaderValues("Route") {
		h.Write([]byte(v))
	}
	return encodeHash(h.Sum64())
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func encodeHash(x uint64) string {
	var b [8]byte
	for i := range b {
		b[i] = byte(x >> (56 - 8*i))
	}
	return b32.EncodeToString(b[:])
}

// loopPart extracts the loop hash of a branch made by branchFor.
func loopPart(branch string) string {
	rest, ok := strings.CutPrefix(branch, sip.MagicCookie+"P")
	if !ok {
		return ""
	}
	if dot := strings.IndexByte(rest, '.'); dot >= 0 {
		return rest[:dot]
	}
	return rest
}

// toTag makes the To tag of a local response, the same for every
// retransmission of the request.
func (p *Proxy) toTag(m *sip.Message) string { return sip.LocalToTag(m, p.config().Secret) }

// bindingTarget turns a binding into a target: its contact as the new
// Request-URI and its Path as the route. Without a Path, a phone behind
// NAT is reached on the flow it registered from (its private Contact is
// unreachable), and a phone on TCP or TLS on the connection it opened,
// which is often the only way in. Otherwise the Contact is used as the
// phone gave it: it may listen elsewhere than it sends from, or register
// for another device.
func (p *Proxy) bindingTarget(b location.Binding) Target {
	t := Target{URI: b.Contact, Q: b.Q, Route: b.Path}
	if len(b.Path) > 0 || !b.Source.IsValid() {
		return t
	}
	proto := transport.Proto(b.Transport)
	flow := transport.Target{Proto: proto, Addr: b.Source, Conn: transport.ConnID(b.ConnID), Listener: p.listenerAt(proto, b.Local)}
	u, err := sip.ParseURI(b.Contact)
	switch {
	case err != nil || contactBehindNAT(&u, b.Source):
		t.Dest = flow
	case proto.Stream() && b.ConnID != 0:
		if addr, ok := literalAddr(&u, proto); ok {
			flow.Addr = addr // should the connection be gone, dial the Contact
			t.Dest = flow
		}
	}
	return t
}

// listenerAt finds our listener of proto bound to local: a NAT lets
// packets in only from the address the phone registered with (RFC 3581 §4).
func (p *Proxy) listenerAt(proto transport.Proto, local netip.AddrPort) *transport.ListenerInfo {
	for _, l := range p.tp.Listeners() {
		if l.Proto == proto && l.Bound == local {
			return l
		}
	}
	return nil
}

// viaTarget is where a response goes next: the address of its (new) top
// Via, as §18.2.2 says.
func (p *Proxy) viaTarget(resp *sip.Message) (transport.Target, error) {
	v, err := resp.TopVia()
	if err != nil {
		return transport.Target{}, err
	}
	proto, _ := transport.ProtoOfVia(v.Transport) // an unknown one fails at Send
	host, port := v.SentBy()
	if r := v.Received(); r != "" {
		host = r
	}
	if rp, has := v.RPort(); has && rp != 0 {
		port = rp
	}
	addr, err := p.out.Resolver().ResolveHost(p.requestContext(), sip.TrimBrackets(host))
	if err != nil {
		return transport.Target{}, err
	}
	return transport.Target{Proto: proto, Addr: netip.AddrPortFrom(addr, uint16(port))}, nil
}

var (
	localOnce sync.Once
	localList []netip.Addr
)

// localAddrs lists this machine's interface addresses, read once.
func localAddrs() []netip.Addr {
	localOnce.Do(func() {
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				localList = append(localList, p.Addr())
			}
		}
	})
	return localList
}
