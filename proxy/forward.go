package proxy

import (
	"crypto/rand"
	"hash/fnv"
	"strconv"
	"sync/atomic"

	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// dialogCreating lists the methods whose forwarding is record-routed.
var dialogCreating = map[string]bool{"INVITE": true, "SUBSCRIBE": true, "REFER": true, "NOTIFY": true}

// targetRequest is §16.6 steps 1-6 for one target: a copy with the
// target's Request-URI, Max-Forwards decremented and the target's route,
// ready for the outbound service, which finds its destinations (§16.6
// step 7, RFC 3263 §4.3).
func (p *Proxy) targetRequest(r *Request, t Target) (outbound.Request, error) {
	return p.targetRequestIn(r, t, new(sip.Message))
}

// targetRequestIn is targetRequest building the copy in m.
func (p *Proxy) targetRequestIn(r *Request, t Target, m *sip.Message) (outbound.Request, error) {
	r.Msg.CloneInto(m)
	if t.URI != "" {
		m.SetRequestURI(t.URI)
	}
	if mf, _ := m.MaxForwards(); mf < 0 {
		m.SetMaxForwards(70)
	} else {
		m.SetMaxForwards(mf - 1)
	}
	req := outbound.Request{Msg: m, Route: t.Route, Dest: t.Dest, Also: t.Flows}
	if req.Dest.Proto != "" || len(t.Route) > 0 {
		return req, nil
	}
	if routes, _ := m.Routes(); len(routes) > 0 {
		return req, nil
	}
	next, err := m.RequestURIParsed()
	if err != nil {
		return req, err
	}
	if stripped, dst, ok := takeAlias(next); ok {
		m.SetRequestURI(stripped.String()) // a phone behind NAT (see nat.go)
		dst = p.aliasTarget(&stripped, dst)
		dst.Listener = p.tp.ListenerFor(dst.Proto, dst.Addr.Addr())
		req.Dest = dst
	}
	return req, nil
}

// stampBranch finishes a copy of base for one destination: our
// Record-Route and Via name out, the listener the request leaves from
// (§16.6 steps 4 and 8). With last set no other destination will need
// base, so base itself is finished instead of a copy.
func (p *Proxy) stampBranch(r *Request, base *sip.Message, out *transport.ListenerInfo, branch string, last bool) *sip.Message {
	m := base
	if !last {
		m = base.Clone()
	}
	if p.shouldRecordRoute(m) {
		p.addRecordRoute(m, r.In.Listener, out, p.flowTokenOf(r))
	}
	if p.config().RecordRoute && dialogCreating[m.Method()] && cameFromUA(r.Msg) {
		aliasContact(m, transport.Target{Proto: r.In.Proto, Addr: r.In.Source})
	}
	if m.Method() == "REGISTER" {
		p.addOutboundPath(r, m, out)
	}
	m.PrependHeader("Via", string(sip.AppendVia(nil, out.Proto.ViaName(), out.Host, out.Port, branch)))
	return m
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
// user, when not empty, is the user part of the entry facing the
// request's sender: a flow token (see flows.go).
func (p *Proxy) addRecordRoute(m *sip.Message, in, out *transport.ListenerInfo, user string) {
	if in == nil || sameListener(in, out) {
		m.PrependHeader("Record-Route", rrValue(out, false, user))
		return
	}
	m.PrependHeader("Record-Route", rrValue(in, true, user))
	m.PrependHeader("Record-Route", rrValue(out, true, ""))
}

func sameListener(a, b *transport.ListenerInfo) bool {
	return a.Proto == b.Proto && a.Host == b.Host && a.Port == b.Port
}

func rrValue(l *transport.ListenerInfo, double bool, user string) string {
	b := make([]byte, 0, 64) // a constant size stays on the stack; a flow token grows it
	b = append(b, "<sip:"...)
	if user != "" {
		b = append(b, user...)
		b = append(b, '@')
	}
	b = append(b, l.Host...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(l.Port), 10)
	if l.Proto != transport.UDP {
		b = append(b, ";transport="...)
		b = append(b, l.Proto.URIParam()...)
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

// forwardStateless sends the request to its first target's first
// destination without keeping any state (§16.11). Finding it may need
// DNS, which the outbound service asks off the reading goroutine. A
// failure to send is answered only when the request is not an ACK. The
// copy sent is built in a pooled Message; a request whose forward ended
// here, sent or answered, is marked ended: nothing keeps it.
func (p *Proxy) forwardStateless(r *Request) {
	m := takeCopy()
	req, err := p.targetRequestIn(r, r.Targets[0], m)
	if err != nil {
		putCopy(m)
		p.statelessFailed(r, err)
		r.ended = true
		return
	}
	dsts, ok, err := p.out.Destinations(r.Context(), &req)
	if !ok {
		p.lookupStateless(r, req)
		return
	}
	err = p.sendStateless(r, req.Msg, dsts, err)
	putCopy(m)
	if err != nil {
		p.statelessFailed(r, err)
	}
	r.ended = true
}

// lookupStateless asks DNS off the reading goroutine, then sends. By
// then the chain has moved on, so a failure is answered with send,
// which leaves the request's state alone; the request is kept, not
// ended, as the lookup reads it after the reader has moved on.
func (p *Proxy) lookupStateless(r *Request, req outbound.Request) {
	m := req.Msg
	p.out.Lookup(r.Context(), req, func(dsts []transport.Target, err error) {
		err = p.sendStateless(r, m, dsts, err)
		putCopy(m)
		if err != nil {
			p.log.Debug("proxy: stateless forward failed", "error", err)
			if r.Msg.Method() != "ACK" {
				r.send(r.response(503, "Destination Unreachable"))
			}
		}
	})
}

// sendStateless sends m to the first of dsts.
func (p *Proxy) sendStateless(r *Request, m *sip.Message, dsts []transport.Target, err error) error {
	if err == nil && len(dsts) == 0 {
		err = outbound.ErrUnreachable
	}
	if err != nil {
		return err
	}
	out := p.out.ListenerFor(dsts[0])
	if out == nil {
		return outbound.ErrUnreachable
	}
	m = p.stampBranch(r, m, out, p.statelessBranch(r.Msg), true)
	return p.sendWire(dsts[0], m)
}

func (p *Proxy) statelessFailed(r *Request, err error) {
	p.log.Debug("proxy: stateless forward failed", "error", err)
	r.Respond(503, "Destination Unreachable")
}
