package proxy

// scannerStage drops requests from known scanners (SIPVicious's
// "friendly-scanner" and the like) without a word: an answer of any kind,
// even an error, tells a scanner that a SIP server lives here and how it
// behaves. Dropping also ends the server transaction, so that its
// retransmissions are absorbed and nothing is held for it.
type scannerStage struct{}

func (scannerStage) Name() string { return "scanner" }

func (scannerStage) Serve(r *Request, next func()) {
	drop := r.proxy.cfg.DropScanner
	if drop == nil || !drop(r.In.Source.Addr(), r.Msg.Header("User-Agent")) {
		next()
		return
	}
	r.drop()
	r.proxy.log.Debug("proxy: dropped a scanner's request", "source", r.In.Source, "method", r.Msg.Method())
}
