package proxy

import (
	"strconv"

	"github.com/parley-sip/parley/sip"
)

// cancelKey identifies an INVITE server transaction the way a CANCEL for
// it will be matched (§9.2, §17.2.3): the top Via's branch and sent-by, or
// for RFC 2543 clients without the magic cookie, Call-ID, From tag and
// CSeq number.
func cancelKey(m *sip.Message) string {
	v, err := m.TopVia()
	if err != nil {
		return ""
	}
	if b := v.Branch(); len(b) > len(sip.MagicCookie) && b[:len(sip.MagicCookie)] == sip.MagicCookie {
		host, port := v.SentBy()
		return b + "|" + host + ":" + strconv.Itoa(port)
	}
	cid, _ := m.CallID()
	cs, _ := m.CSeq()
	return "2543|" + cid + "|" + m.FromTag() + "|" + strconv.FormatUint(uint64(cs.Seq), 10)
}

// cancelStage is §16.10: a CANCEL that matches an INVITE we are
// forwarding is answered 200 here and cancels every pending branch; the
// 487s from downstream then end the INVITE. A CANCEL that matches
// nothing is answered 481: forwarding it (§16.10 allows that) would only
// reach phones that never saw the INVITE, and Kamailio drops it.
type cancelStage struct{}

func (cancelStage) Name() string { return "cancel" }

func (cancelStage) Serve(r *Request, next func()) {
	if r.Msg.Method() != "CANCEL" {
		next()
		return
	}
	if r.Tx == nil {
		// Stateless: the CANCEL takes the INVITE's path (§16.11).
		next()
		return
	}
	if v, ok := r.proxy.contexts.Load(cancelKey(r.Msg)); ok {
		// Also when the final response already went: the CANCEL crossed
		// it, and the INVITE transaction still exists (§9.2).
		r.Respond(200, "OK")
		v.(*responseContext).cancel()
		return
	}
	r.Respond(481, "Call/Transaction Does Not Exist")
}

// sendCancel sends a CANCEL for branch b in a client transaction of its
// own (§9.1): the branch's Request-URI, Call-ID, From, To, CSeq number
// and top Via, and its Route headers.
func (rc *responseContext) sendCancel(b *branch) {
	req, dst := b.flight.Sent()
	if req == nil {
		return // released: the branch has ended
	}
	cancel, err := BuildCancel(req)
	if err != nil {
		rc.p.log.Debug("proxy: cannot build CANCEL", "error", err)
		return
	}
	if _, err := rc.p.txs.Request(cancel, dst, func(*sip.Message) {}); err != nil {
		rc.p.log.Debug("proxy: sending CANCEL failed", "error", err)
	}
}

// BuildCancel builds the CANCEL of an INVITE as it was sent (§9.1): its
// Request-URI, Call-ID, From, To, CSeq number, top Via and Route headers.
// A B2BUA cancelling its B legs uses it too.
func BuildCancel(inv *sip.Message) (*sip.Message, error) {
	cs, err := inv.CSeq()
	if err != nil {
		return nil, err
	}
	vias, err := inv.Vias()
	if err != nil {
		return nil, err
	}
	b := sip.NewRequestBuilder("CANCEL", inv.RequestURI()).
		Header("Via", vias[0].String()).
		Header("Max-Forwards", "70")
	for _, route := range inv.HeaderValues("Route") {
		b.Header("Route", route)
	}
	b.Copy(inv, sip.HFrom).Copy(inv, sip.HTo).Copy(inv, sip.HCallID).
		Header("CSeq", strconv.FormatUint(uint64(cs.Seq), 10)+" CANCEL")
	return b.Message("", nil)
}
