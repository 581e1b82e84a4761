package proxy

import (
	"errors"

	"github.com/parley-sip/parley/sip"
)

// sanityStage is §16.3 step 1 (and §8.2.2): a request that does not parse
// as far as the proxy needs is answered with the defect as reason phrase.
type sanityStage struct{}

func (sanityStage) Name() string { return "sanity" }

func (sanityStage) Serve(r *Request, next func()) {
	err := r.Msg.Validate()
	if err == nil {
		next()
		return
	}
	var se *sip.Error
	if !errors.As(err, &se) {
		se = &sip.Error{Code: 400, Reason: "Bad Request"}
	}
	if r.Msg.Answerable() {
		r.Respond(se.Code, se.Reason)
	} else {
		r.Drop()
	}
	r.proxy.log.Debug("proxy: invalid request", "source", r.In.Source, "reason", se.Reason)
}
