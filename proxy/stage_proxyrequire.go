package proxy

// proxyRequireStage is §16.3 step 5: this proxy supports no extension that
// a UAC could require of proxies, so any Proxy-Require is refused with 420.
type proxyRequireStage struct{}

func (proxyRequireStage) Name() string { return "proxyrequire" }

func (proxyRequireStage) Serve(r *Request, next func()) {
	if r.Msg.Method() == "ACK" || r.Msg.Method() == "CANCEL" {
		next()
		return
	}
	if bad := r.Msg.Unsupported("Proxy-Require", nil); bad != "" {
		r.Respond(420, "Bad Extension", "Unsupported", bad)
		return
	}
	next()
}
