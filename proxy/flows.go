package proxy

import (
	"net/netip"
	"strings"
	"time"

	"github.com/parley-sip/parley/flowtoken"
	"github.com/parley-sip/parley/gruu"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// Requests to a phone that registered with SIP Outbound (RFC 5626) and
// GRUU (RFC 5627). The bindings of one instance (a phone, by its
// +sip.instance) are one target, never several at once (§7): the first
// live flow carries the request, the others are its fallbacks. A
// connection that has closed is a dead flow and is skipped; with no live
// flow left the request gets 430 Flow Failed. A GRUU in the Request-URI
// narrows the bindings to its instance.

// connChecker is what the transport tells about a connection's life; the
// server's transport has it, test fakes need not.
type connChecker interface {
	ConnOpen(id transport.ConnID) bool
}

// keepAliveChecker is what the transport tells about a UDP flow's life:
// when its phone last sent a STUN keepalive.
type keepAliveChecker interface {
	LastKeepAlive(src netip.AddrPort) (time.Time, bool)
}

// flowAlive reports whether a binding's flow can still carry a request:
// a connection that has closed cannot, nor a UDP flow whose keepalives
// stopped, and Parley does not dial a phone back on a flow (§5.3). A
// flow through an edge proxy (Path) is the edge's to judge. A connection
// flow without a ConnID was loaded after a restart, or written by another
// server: no connection of this process carries it, and dialing the
// phone's source port (a browser's, a NAT's) reaches nothing.
func (p *Proxy) flowAlive(b *location.Binding) bool {
	proto := transport.Proto(b.Transport)
	switch {
	case len(b.Path) > 0:
		return true
	case proto == transport.UDP:
		return p.keptAlive(b.Source)
	case !proto.Stream():
		return true
	case b.ConnID == 0:
		return false
	}
	cc, ok := p.tp.(connChecker)
	return !ok || cc.ConnOpen(transport.ConnID(b.ConnID))
}

// keptAlive reports whether a UDP flow still shows life (RFC 5626
// §4.4.2): once its phone has sent STUN keepalives, a silence longer
// than UDPFlowTimeout fails it. A flow never pinged gives no sign either
// way and is taken as alive.
func (p *Proxy) keptAlive(src netip.AddrPort) bool {
	timeout := p.config().UDPFlowTimeout
	kc, ok := p.tp.(keepAliveChecker)
	if timeout <= 0 || !ok {
		return true
	}
	last, pinged := kc.LastKeepAlive(src)
	return !pinged || p.now().Sub(last) <= timeout
}

// bindingTargets appends to ts an AOR's bindings, in Lookup's order, as
// targets: one per instance, its further live flows in Target.Flows (which
// carry the first flow's Contact as Request-URI: one phone's Contacts
// differ at most in what the flow itself says). dead
// counts the instances left out because none of their flows is alive.
// Bindings without flows cost no allocation.
func (p *Proxy) bindingTargets(ts []Target, bs []location.Binding) (_ []Target, dead int) {
	var byInstance map[string]int // instance → index in ts, -1 while all its flows so far are dead
	for i := range bs {
		b := &bs[i]
		p.ownFirstHop(b)
		if b.InstanceID == "" || b.RegID == 0 {
			ts = append(ts, p.bindingTarget(*b))
			continue
		}
		if byInstance == nil {
			byInstance = make(map[string]int, 2)
		}
		alive := p.flowAlive(b)
		at, seen := byInstance[b.InstanceID]
		switch {
		case !seen && !alive:
			byInstance[b.InstanceID] = -1
		case !alive:
		case !seen || at < 0:
			byInstance[b.InstanceID] = len(ts)
			ts = append(ts, p.flowTarget(b))
		default:
			if next := p.flowTarget(b); next.Dest.Proto != "" {
				ts[at].Flows = append(ts[at].Flows, next.Dest)
			}
		}
	}
	for _, at := range byInstance {
		if at < 0 {
			dead++
		}
	}
	return ts, dead
}

// ownFirstHop drops the first Path entry of a binding when it names this
// node: a node of a cluster puts itself there (registrar.NodePath) so
// that the others come through it, but it holds the flow itself and
// sends straight over it, as a single server does, instead of routing
// the request to itself.
func (p *Proxy) ownFirstHop(b *location.Binding) {
	if len(b.Path) == 0 {
		return
	}
	na, err := sip.ParseNameAddr(b.Path[0])
	if err == nil && p.isUs(&na.URI) {
		b.Path = b.Path[1:]
	}
}

// flowTarget is the target of an outbound flow binding: the flow itself,
// whatever the Contact says (§5.3), unless an edge proxy keeps the flow
// (Path), which then gets the request.
func (p *Proxy) flowTarget(b *location.Binding) Target {
	t := p.bindingTarget(*b)
	t.flow = true
	if len(b.Path) == 0 && b.Source.IsValid() {
		proto := transport.Proto(b.Transport)
		t.Dest = transport.Target{Proto: proto, Addr: b.Source, Conn: transport.ConnID(b.ConnID), Listener: p.listenerAt(proto, b.Local)}
	}
	return t
}

// gruuBindings narrows bs to the instance a GRUU names. A temporary GRUU
// counts only while the instance keeps the Call-ID it was issued under
// (RFC 5627 §5); invalidated says that the instance registered again
// since, so the GRUU no longer exists.
func gruuBindings(bs []location.Binding, ref gruu.Ref) (out []location.Binding, invalidated bool) {
	for i := range bs {
		if bs[i].InstanceID != ref.Instance {
			continue
		}
		if ref.Temp && gruu.CallTag(bs[i].CallID) != ref.CallTag {
			invalidated = true
			continue
		}
		out = append(out, bs[i])
	}
	return out, invalidated && len(out) == 0
}

// toOurGRUU reports whether a request's Request-URI is a GRUU of a
// domain we serve, which only the location service resolves.
func (p *Proxy) toOurGRUU(r *Request) bool {
	u, err := r.Msg.RequestURIParsed()
	return err == nil && p.store != nil && u.IsSIP() && u.Params.Has(gruu.Param) && p.isOurDomain(u.Host)
}

// readGRUU reads the GRUU in a Request-URI of our domain, if any.
func (p *Proxy) readGRUU(u *sip.URI) (gruu.Ref, bool, error) {
	if !u.Params.Has(gruu.Param) {
		return gruu.Ref{}, false, nil
	}
	return p.config().GRUU.Read(u)
}

// Flow tokens (RFC 5626 §5.3). A phone that wants its dialogs kept on
// its flow says so with "ob" in the Contact URI of the request that
// makes the dialog; we then record-route with a token naming the flow
// the request came on, and a request that comes back along that route
// from the other side goes out over the flow, not to the Contact (which
// a phone behind NAT cannot be reached at).

// flowTokenOf returns the token for the Record-Route of a request, or ""
// when the request did not come straight from a phone asking for it.
func (p *Proxy) flowTokenOf(r *Request) string {
	if p.config().FlowTokens == nil || !cameFromUA(r.Msg) {
		return ""
	}
	contacts, err := r.Msg.Contacts()
	if err != nil || len(contacts) != 1 || !contacts[0].URI.Params.Has("ob") {
		return ""
	}
	return p.sealFlow(r)
}

// sealFlow returns the token of the flow r came on, or "" without a key
// or when r did not come straight from a phone.
func (p *Proxy) sealFlow(r *Request) string {
	signer := p.config().FlowTokens
	if signer == nil || !cameFromUA(r.Msg) || !r.In.Source.IsValid() {
		return ""
	}
	return signer.Seal(flowtoken.Flow{Proto: string(r.In.Proto), Local: r.In.Local, Remote: r.In.Source, Conn: uint64(r.In.Conn)})
}

// addOutboundPath is the edge proxy's part of a REGISTER it relays for a
// phone that registers flows (a Contact with reg-id, Supported: path):
// a Path naming us with the flow token and "ob" (RFC 5626 §5.1, RFC
// 3327), so that the registrar knows the first hop keeps flows and its
// requests to the phone come back to us and out over the flow.
func (p *Proxy) addOutboundPath(r *Request, m *sip.Message, out *transport.ListenerInfo) {
	if !m.HasToken("Supported", "path") || !hasRegID(m) {
		return
	}
	token := p.sealFlow(r)
	if token == "" {
		return
	}
	v := rrValue(out, false, token)
	m.PrependHeader("Path", v[:len(v)-1]+";ob>")
}

func hasRegID(m *sip.Message) bool {
	contacts, err := m.Contacts()
	if err != nil {
		return false
	}
	for i := range contacts {
		if contacts[i].Params.Has("reg-id") {
			return true
		}
	}
	return false
}

// routeFlow is the target of an in-dialog request that came along our
// Record-Route, given the user part of our Route entry: over the flow a
// token names, unless the request came on that flow itself (it is then
// going the other way, from the phone). alive is false when the flow's
// connection has closed.
func (p *Proxy) routeFlow(r *Request, user string) (t Target, alive bool) {
	signer := p.config().FlowTokens
	if signer == nil || !strings.HasPrefix(user, flowtoken.Prefix) {
		return Target{}, true
	}
	f, err := signer.Open(user)
	if err != nil {
		return Target{}, true // not ours after all: route as if it had none
	}
	proto := transport.Proto(f.Proto)
	if proto == r.In.Proto && f.Remote == r.In.Source && transport.ConnID(f.Conn) == r.In.Conn {
		return Target{}, true
	}
	b := location.Binding{Transport: f.Proto, Source: f.Remote, Local: f.Local, ConnID: f.Conn}
	if !p.flowAlive(&b) {
		return Target{}, false
	}
	dst := transport.Target{Proto: proto, Addr: f.Remote, Conn: transport.ConnID(f.Conn), Listener: p.listenerAt(proto, f.Local)}
	return Target{Dest: dst, flow: true}, true
}
