package proxy

// loopStage is §16.3 step 4: a request whose Via holds a branch this proxy
// made for the very same request has come back: 482. A request that comes
// back changed (a spiral, e.g. a new Request-URI) is fine.
type loopStage struct{}

func (loopStage) Name() string { return "loop" }

func (loopStage) Serve(r *Request, next func()) {
	if r.Msg.Method() == "ACK" || r.Msg.Method() == "CANCEL" {
		next()
		return
	}
	vias, _ := r.Msg.Vias()
	want := r.proxy.loopHash(r.Msg)
	for i := range vias {
		if r.proxy.isOurVia(&vias[i]) && loopPart(vias[i].Branch()) == want {
			r.Respond(482, "Loop Detected")
			return
		}
	}
	next()
}
