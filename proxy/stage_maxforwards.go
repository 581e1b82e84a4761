package proxy

// maxForwardsStage is §16.3 step 3: a request that may not be forwarded
// again is answered 483, except OPTIONS, which the server answers itself
// (§11, "OPTIONS with Max-Forwards 0" probes the proxy).
type maxForwardsStage struct{}

func (maxForwardsStage) Name() string { return "maxforwards" }

func (maxForwardsStage) Serve(r *Request, next func()) {
	mf, _ := r.Msg.MaxForwards()
	if mf != 0 {
		next()
		return
	}
	if r.Msg.Method() == "ACK" {
		r.answered = true // never answered, and may not go further
		return
	}
	if r.Msg.Method() == "OPTIONS" {
		r.proxy.answerOptions(r)
		return
	}
	r.Respond(483, "Too Many Hops")
}
