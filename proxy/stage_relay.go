package proxy

// relayStage forwards the request to its target set: statefully with a
// response context, or statelessly.
type relayStage struct{}

func (relayStage) Name() string { return "relay" }

func (relayStage) Serve(r *Request, _ func()) {
	if len(r.Targets) == 0 {
		r.Respond(404, "Not Found")
		return
	}
	if r.stateless || r.Tx == nil {
		r.proxy.forwardStateless(r)
		return
	}
	r.proxy.forwardStateful(r)
}
