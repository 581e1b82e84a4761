package proxy

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// Phones behind NAT put their private address in Contact, and the far end
// of a dialog sends in-dialog requests (ACK, BYE, re-INVITE) there, through
// us because we record-route. We cannot reach a private address; we can
// reach the public address the phone's messages come from. So, as
// Kamailio's nathelper does, a Contact whose address is not where the
// message came from gets an "alias" URI parameter naming that source, and
// a request whose Request-URI carries an alias goes to the alias address
// with the parameter removed again. Phones keep the Contact as an opaque
// remote target, so the alias comes back to us unchanged.

const aliasParam = "alias"

// aliasContact adds the source flow to a dialog-creating message's single
// Contact when the Contact's address is not the source's. src is where
// the message came from.
func aliasContact(m *sip.Message, src transport.Target) {
	contacts, err := m.Contacts()
	if err != nil || len(contacts) != 1 || contacts[0].Star || !src.Addr.IsValid() {
		return
	}
	c := contacts[0]
	if !c.URI.IsSIP() || c.URI.Params.Has(aliasParam) {
		return
	}
	if contactBehindNAT(&c.URI, src.Addr) || connectedFromElsewhere(&c.URI, src) {
		m.SetHeader("Contact", contactWithAlias(c, src))
	}
}

// connectedFromElsewhere reports whether a message that came on a TCP,
// TLS or WebSocket connection names another address than the
// connection's far end in its Contact. A phone connects from an ephemeral
// port and may accept nothing at its Contact (baresip over TLS has no
// certificate to accept with): in-dialog requests then reach it only
// over its connection, as Kamailio's stock configuration sends them
// (set_contact_alias on a Via port that is not the source's).
func connectedFromElsewhere(u *sip.URI, src transport.Target) bool {
	if !src.Proto.Stream() {
		return false
	}
	addr, ok := literalAddr(u, src.Proto)
	return ok && addr != netip.AddrPortFrom(src.Addr.Addr().Unmap(), src.Addr.Port())
}

// connFinder is what the transport tells of its open connections: the
// one with a peer's address, in either direction.
type connFinder interface {
	ConnTo(p transport.Proto, addr netip.AddrPort) transport.ConnID
}

// aliasTarget is where a request to an aliased Contact goes: the alias's
// flow. On a connection, that is the connection while it is open; once it
// has closed, a public Contact is dialled rather than the alias (an
// ephemeral port that nothing listens on), as a binding's is (see
// bindingTarget).
func (p *Proxy) aliasTarget(contact *sip.URI, alias transport.Target) transport.Target {
	cf, ok := p.tp.(connFinder)
	if !ok || !alias.Proto.Stream() || contactBehindNAT(contact, alias.Addr) {
		return alias
	}
	addr, ok := literalAddr(contact, alias.Proto)
	if !ok {
		return alias
	}
	return transport.Target{Proto: alias.Proto, Addr: addr, Conn: cf.ConnTo(alias.Proto, alias.Addr)}
}

// aliasWebPhone is, for a stateless proxy, what the response context does
// for a stateful one: a callee's answer (1xx or 2xx to a dialog-creating
// request) whose Contact is under .invalid, a web phone's, gets the flow
// it came on as its alias, so that the caller's in-dialog requests reach
// the web phone's connection. A stateless proxy cannot tell whether the
// answer came from the callee itself or a proxy in between, so a private
// address, which a proxy could route, is left alone here.
func aliasWebPhone(resp *sip.Message, in *transport.Incoming) {
	code := resp.StatusCode()
	cseq, err := resp.CSeq()
	if code <= 100 || code >= 300 || err != nil || !dialogCreating[cseq.Method] {
		return
	}
	contacts, err := resp.Contacts()
	if err != nil || len(contacts) != 1 || !isInvalidHost(contacts[0].URI.Host) {
		return
	}
	aliasContact(resp, transport.Target{Proto: in.Proto, Addr: in.Source})
}

// contactBehindNAT reports whether a Contact cannot be what it says: a
// private, shared or link-local address (RFC 1918, RFC 6598, RFC 4193)
// while the message came from another address. This is Kamailio's
// nat_uac_test flag 1, the test that does not misfire on phones that
// send from one port and listen on another, or on third-party
// registrations.
//
// A Contact under .invalid (RFC 6761), as web phones send (RFC 7118 §5),
// can never be resolved: such a client is reached on its connection only.
func contactBehindNAT(u *sip.URI, src netip.AddrPort) bool {
	if isInvalidHost(u.Host) {
		return true
	}
	host, err := netip.ParseAddr(sip.TrimBrackets(u.Host))
	if err != nil {
		return false // a name: a server that can be resolved, not a phone behind NAT
	}
	host = host.Unmap()
	return isPrivate(host) && host != src.Addr().Unmap()
}

// isInvalidHost reports whether host is under the .invalid top-level
// domain, which no name server answers for.
func isInvalidHost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	return len(host) >= len(".invalid") && strings.EqualFold(host[len(host)-len(".invalid"):], ".invalid")
}

var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

func isPrivate(a netip.Addr) bool {
	return a.IsPrivate() || a.IsLinkLocalUnicast() || sharedSpace.Contains(a)
}

// literalAddr is the address of a Contact whose host is an IP literal.
func literalAddr(u *sip.URI, proto transport.Proto) (netip.AddrPort, bool) {
	host, err := netip.ParseAddr(sip.TrimBrackets(u.Host))
	if err != nil {
		return netip.AddrPort{}, false
	}
	port := u.Port
	if port == 0 {
		port = proto.DefaultPort()
	}
	return netip.AddrPortFrom(host.Unmap(), uint16(port)), true
}

// contactWithAlias writes the Contact in name-addr form with the alias
// URI parameter ip~port~transport added.
func contactWithAlias(c sip.NameAddr, src transport.Target) string {
	uri := c.URI
	uri.Params = sip.Params(appendParam(string(uri.Params), aliasParam+"="+formatAlias(src)))
	var b strings.Builder
	if c.Display != "" {
		b.WriteString(c.Display)
		b.WriteByte(' ')
	}
	b.WriteByte('<')
	b.Write(uri.Rebuild().AppendTo(nil))
	b.WriteByte('>')
	if c.Params != "" {
		b.WriteByte(';')
		b.WriteString(string(c.Params))
	}
	return b.String()
}

func appendParam(params, p string) string {
	if params == "" {
		return p
	}
	return params + ";" + p
}

func formatAlias(t transport.Target) string {
	return t.Addr.Addr().Unmap().String() + "~" + strconv.Itoa(int(t.Addr.Port())) + "~" + string(t.Proto)
}

// takeAlias reads and removes the alias of a Request-URI. ok is false
// when it has none (or a malformed one, which is then left alone).
func takeAlias(u sip.URI) (stripped sip.URI, dst transport.Target, ok bool) {
	v, has := u.Params.Get(aliasParam)
	if !has {
		return u, dst, false
	}
	parts := strings.Split(v, "~")
	if len(parts) != 3 {
		return u, dst, false
	}
	ip, err := netip.ParseAddr(parts[0])
	port, perr := strconv.ParseUint(parts[1], 10, 16)
	proto := transport.Proto(parts[2])
	if err != nil || perr != nil || !proto.Known() {
		return u, dst, false
	}
	u.Params = sip.Params(removeParam(string(u.Params), aliasParam))
	return u.Rebuild(), transport.Target{Proto: proto, Addr: netip.AddrPortFrom(ip, uint16(port))}, true
}

// removeParam drops every parameter called name from a parameter list.
func removeParam(params, name string) string {
	var kept []string
	for _, p := range strings.Split(params, ";") {
		n, _, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(n), name) {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ";")
}
