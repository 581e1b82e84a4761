package proxy

// routeStage is §16.4: undo a strict router's rewrite, remove our own
// Route entries, and send in-dialog requests along their route set.
type routeStage struct{}

func (routeStage) Name() string { return "route" }

// An in-dialog request (To tag) is relayed only when it came through our
// Record-Route: one that names no Route of ours is not of a dialog we
// proxy, and relaying it unauthenticated would make us an open relay
// (Kamailio's stock WITHINDLG answers it 404 too). An initial request
// with a preloaded route goes on through the stages (auth included), then
// to its route.
func (routeStage) Serve(r *Request, next func()) {
	p := r.proxy
	ours := p.fixStrictRoute(r.Msg)
	popped, user := p.popOwnRoutes(r.Msg)
	ours = popped || ours
	flow, alive := p.routeFlow(r, user)
	switch {
	case !alive && r.Msg.Method() == "ACK":
		r.answered = true // nothing to answer, and the flow is gone
		return
	case !alive:
		r.Respond(430, "Flow Failed") // RFC 5626 §5.3: the flow the route names is gone
		return
	}
	routes, _ := r.Msg.Routes()
	if r.Msg.ToTag() == "" {
		r.preloaded = len(routes) > 0
		if flow.Dest.Proto != "" { // through the Path we added for the phone (RFC 5626 §5.3)
			r.preloaded, r.flowRouted = true, true
			r.Targets = append(r.Targets, flow)
		}
		next()
		return
	}
	switch {
	case ours && flow.Dest.Proto == "" && p.toOurGRUU(r):
		// A phone that put its GRUU in Contact (Linphone does) is found
		// in dialog too through the location service (RFC 5627 §6).
		u, _ := r.Msg.RequestURIParsed()
		p.locate(r, u, func() { relayStage{}.Serve(r, next) })
	case ours:
		r.Targets = append(r.Targets, flow)
		relayStage{}.Serve(r, next)
	case r.Msg.Method() == "ACK" && p.config().Stateless:
		// Maybe the ACK of a non-2xx, which takes its INVITE's path (§16.11).
		next()
	case r.Msg.Method() == "ACK":
		r.answered = true // nothing to answer, nowhere to send
	default:
		r.Respond(404, "Not Here")
	}
}
