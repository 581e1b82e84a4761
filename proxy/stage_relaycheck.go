package proxy

// relayCheckStage keeps the proxy from being an open relay: an initial
// request is forwarded only when it comes from one of our domains, is
// addressed to one of them (or to this server), or comes from a trusted
// network. Anything else would let a stranger use Parley to reach any
// address on the Internet with Parley's name in the Via, which is how
// toll fraud and spam through open SIP servers work. Requests in dialog
// with our Record-Route never get here (the route stage relays them),
// and responses are not requests.
//
// It runs with authentication off and on alike: the auth stage verifies
// who the caller is, this stage decides whether the request concerns us
// at all, and it costs a few map lookups before any digest work. A From
// of one of our domains is only a claim, so it lets a request out only
// when the auth stage will make the caller prove it: with passwords off
// (the default) or for a method the policy does not challenge, anyone
// could write that From, and only a trusted source may relay.
type relayCheckStage struct{}

func (relayCheckStage) Name() string { return "relaycheck" }

func (relayCheckStage) Serve(r *Request, next func()) {
	if r.proxy.mayRelay(r) {
		next()
		return
	}
	r.proxy.log.Debug("proxy: relaying denied", "source", r.In.Source, "method", r.Msg.Method(),
		"from", r.Msg.Header("From"), "ruri", r.Msg.RequestURI())
	if r.Msg.Method() == "REGISTER" {
		// Most likely a phone set up with a domain the operator has not
		// configured yet: say so in the registrar's words.
		r.Respond(403, "Domain Not Served Here")
		return
	}
	r.Respond(403, "Relaying Denied") // an ACK is dropped instead: it is never answered
}

// mayRelay applies the relay policy. A request with a route preloaded past
// us goes where its Route says, not to its Request-URI, so only its From
// or its source can make it ours.
func (p *Proxy) mayRelay(r *Request) bool {
	cfg := p.config()
	if (cfg.OpenRelay != nil && cfg.OpenRelay()) || r.flowRouted {
		return true // flowRouted: to a phone's flow, by a route we signed
	}
	if u, err := r.Msg.RequestURIParsed(); err == nil && !r.preloaded && (p.isOurDomain(u.Host) || p.isUs(&u)) {
		return true
	}
	if from, err := r.Msg.From(); err == nil && p.isOurDomain(from.URI.Host) && p.verifiesFrom(r, from.URI.Host) {
		return true
	}
	// Last, as the dearest check and the rarest reason.
	return cfg.RelayTrusted != nil && cfg.RelayTrusted(r.In.Source.Addr())
}

// verifiesFrom reports whether the auth stage will demand credentials of
// domain's subscriber for r, so that its From can be believed; a request
// from a source the auth stage trusts is let through unchallenged, and
// is then the trusted source's responsibility.
func (p *Proxy) verifiesFrom(r *Request, domain string) bool {
	cfg := p.config()
	if cfg.Auth == nil {
		return false
	}
	need, _ := cfg.AuthPolicy.For(domain).Requires(r.Msg.Method(), true, false)
	return need || (cfg.Trusted != nil && cfg.Trusted(r.In.Source.Addr()))
}
