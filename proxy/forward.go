package proxy

import (
	"crypto/rand"
	"errors"
	"hash/fnv"
	"strconv"
	"sync/atomic"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// errNoListener means no listener can send to a destination's transport
// and address family.
var errNoListener = errors.New("proxy: no listener for the destination's transport")

// dialogCreating lists the methods whose forwarding is record-routed.
var dialogCreating = map[string]bool{"INVITE": true, "SUBSCRIBE": true, "REFER": true, "NOTIFY": true}

// prepareBranch makes the request for one target as §16.6 says and finds
// where it goes: the first of its destinations (stateless forwarding
// tries no other).
func (p *Proxy) prepareBranch(r *Request, t Target, branch string) (*sip.Message, transport.Target, error) {
	base, dsts, err := p.targetRequest(r, t)
	if err != nil {
		return nil, transport.Target{}, err
	}
	m, err := p.stampBranch(r, base, dsts[0], branch, true)
	return m, dsts[0], err
}

// targetRequest is §16.6 steps 1-6 for one target: a copy with the
// target's Request-URI, Max-Forwards decremented and the target's route;
// and the destinations to try in order (§16.6 step 7, RFC 3263 §4.3).
func (p *Proxy) targetRequest(r *Request, t Target) (*sip.Message, []transport.Target, error) {
	m := r.Msg.Clone()
	if t.URI != "" {
		m.SetRequestURI(t.URI)
	}
	if mf, _ := m.MaxForwards(); mf < 0 {
		m.SetMaxForwards(70)
	} else {
		m.SetMaxForwards(mf - 1)
	}
	for i := len(t.Route) - 1; i >= 0; i-- {
		m.PrependHeader("Route", t.Route[i])
	}
	dsts, err := p.destinations(r, m, t)
	if err != nil {
		return nil, nil, err
	}
	return m, dsts, nil
}

// stampBranch finishes a copy of base for one destination: our
// Record-Route and Via name the listener the request leaves from
// (§16.6 steps 4 and 8). With last set no other destination will need
// base, so base itself is finished instead of a copy.
func (p *Proxy) stampBranch(r *Request, base *sip.Message, dst transport.Target, branch string, last bool) (*sip.Message, error) {
	out := dst.Listener
	if out == nil || out.Proto != dst.Proto {
		out = p.tp.ListenerFor(dst.Proto, dst.Addr.Addr())
	}
	if out == nil {
		return nil, errNoListener
	}
	m := base
	if !last {
		m = base.Clone()
	}
	if p.shouldRecordRoute(m) {
		p.addRecordRoute(m, r.In.Listener, out)
	}
	if p.config().RecordRoute && dialogCreating[m.Method()] && cameFromUA(r.Msg) {
		aliasContact(m, transport.Target{Proto: r.In.Proto, Addr: r.In.Source})
	}
	m.PrependHeader("Via", string(sip.AppendVia(nil, out.Proto.ViaName(), out.Host, out.Port, branch)))
	return m, nil
}

// destinations is where a branch may go, in order (§16.6 step 7, RFC
// 3263): the flow the target registered on, else the top Route, else the
// Request-URI, resolved to every address DNS gives.
func (p *Proxy) destinations(r *Request, m *sip.Message, t Target) ([]transport.Target, error) {
	if t.Dest.Proto != "" {
		return []transport.Target{t.Dest}, nil
	}
	next, err := m.RequestURIParsed()
	if err != nil {
		return nil, err
	}
	routes, _ := m.Routes()
	if len(routes) > 0 {
		next = routes[0].URI
	} else if stripped, dst, ok := takeAlias(next); ok {
		m.SetRequestURI(stripped.String()) // a phone behind NAT (see nat.go)
		dst.Listener = p.tp.ListenerFor(dst.Proto, dst.Addr.Addr())
		return []transport.Target{dst}, nil
	}
	dsts, err := p.resolver.Resolve(r.ctx, &next)
	if err != nil {
		return nil, err
	}
	if _, pinned := uriProto(&next); !pinned {
		for i := range dsts {
			dsts[i].Proto = p.tp.ChooseProto(dsts[i], len(m.Raw())+300)
		}
	}
	return dsts, nil
}

// cameFromUA reports whether a request came straight from the phone that
// made it (one Via): only then is its source the phone's own NAT flow.
func cameFromUA(m *sip.Message) bool {
	vias, err := m.Vias()
	return err == nil && len(vias) == 1
}

func (p *Proxy) shouldRecordRoute(m *sip.Message) bool {
	if !p.config().RecordRoute || !dialogCreating[m.Method()] {
		return false
	}
	return m.ToTag() == ""
}

// addRecordRoute inserts our Record-Route: one entry, or two when the
// request leaves on another transport or interface than it came in on
// (RFC 5658 double record-routing), so each side sees an address it can
// reach.
func (p *Proxy) addRecordRoute(m *sip.Message, in, out *transport.ListenerInfo) {
	if in == nil || sameListener(in, out) {
		m.PrependHeader("Record-Route", rrValue(out, false))
		return
	}
	m.PrependHeader("Record-Route", rrValue(in, true))
	m.PrependHeader("Record-Route", rrValue(out, true))
}

func sameListener(a, b *transport.ListenerInfo) bool {
	return a.Proto == b.Proto && a.Host == b.Host && a.Port == b.Port
}

func rrValue(l *transport.ListenerInfo, double bool) string {
	b := make([]byte, 0, 64)
	b = append(b, "<sip:"...)
	b = append(b, l.Host...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(l.Port), 10)
	if l.Proto != transport.UDP {
		b = append(b, ";transport="...)
		b = append(b, l.Proto...)
	}
	if double {
		b = append(b, ";r2=on"...)
	}
	b = append(b, ";lr>"...)
	return string(b)
}

var branchCounter atomic.Uint64

var branchSalt = func() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return b32.EncodeToString(b[:])
}()

// newBranch makes a unique branch whose first part is the request's loop
// hash (§16.6 step 8), so that loopStage can recognise it.
func (p *Proxy) newBranch(m *sip.Message) string {
	n := branchCounter.Add(1)
	return sip.MagicCookie + "P" + p.loopHash(m) + "." + branchSalt + strconv.FormatUint(n, 36)
}

// statelessBranch is the same for every retransmission of a request, so
// that it takes the same path (§16.11): it hashes the incoming branch.
func (p *Proxy) statelessBranch(m *sip.Message) string {
	h := fnv.New64a()
	h.Write([]byte(p.config().Secret))
	if v, err := m.TopVia(); err == nil {
		h.Write([]byte(v.Branch()))
		h.Write([]byte(v.Host))
	}
	return sip.MagicCookie + "P" + p.loopHash(m) + "." + encodeHash(h.Sum64())
}

// forwardStateless sends the request to its first target without keeping
// any state (§16.11). A failure to send is answered only when the
// request is not an ACK.
func (p *Proxy) forwardStateless(r *Request) {
	m, dst, err := p.prepareBranch(r, r.Targets[0], p.statelessBranch(r.Msg))
	if err == nil {
		err = p.tp.Send(dst, m.Bytes())
	}
	if err != nil {
		p.log.Debug("proxy: stateless forward failed", "error", err)
		r.Respond(503, "Destination Unreachable")
	}
}
