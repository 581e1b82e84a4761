package dialog

import (
	"strconv"
	"strings"

	"github.com/parley-sip/parley/sip"
)

// NewRequest builds a request of method in the dialog (§12.2.1.1) and
// records it as sent: the next local CSeq, To with the remote tag, From
// with ours, the Call-ID, the Request-URI and Route from the remote target
// and the route set (loose or strict routing), and our Contact on a
// target refresh. via is the top Via's value, with a fresh branch; extra
// are further header lines as name/value pairs (Event,
// Subscription-State, credentials, …). A body goes on with
// Message.SetBody. For the ACK of a 2xx use NewACK.
func (d *Dialog) NewRequest(method, via string, extra ...string) (*sip.Message, error) {
	var m *sip.Message
	err := d.change(func() error {
		if d.state == Terminated {
			return ErrTerminated
		}
		if method == "ACK" || method == "CANCEL" {
			return ErrNotInDialog // they take their INVITE's CSeq: NewACK; CANCEL copies its INVITE (§9.1)
		}
		seq := uint32(1)
		if d.hasLocalSeq {
			seq = d.localSeq + 1
		}
		var err error
		if m, err = d.build(method, via, seq, extra); err != nil {
			return err
		}
		return d.request(m, true)
	})
	return m, err
}

// NewACK builds the ACK for a 2xx to an INVITE the local side sent in or
// for the dialog (§13.2.2.4): the dialog's headers with the INVITE's CSeq
// number, which it takes from the 2xx. extra are as for NewRequest.
func (d *Dialog) NewACK(ok200 *sip.Message, via string, extra ...string) (*sip.Message, error) {
	cs, err := ok200.CSeq()
	if err != nil || cs.Method != "INVITE" || ok200.StatusCode()/100 != 2 {
		return nil, ErrNotInDialog
	}
	var m *sip.Message
	err = d.change(func() error {
		if d.state == Terminated {
			return ErrTerminated
		}
		m, err = d.build("ACK", via, cs.Seq, extra)
		return err
	})
	return m, err
}

// build writes the start line and the dialog's headers.
func (d *Dialog) build(method, via string, seq uint32, extra []string) (*sip.Message, error) {
	in := Info{ID: d.id, LocalParty: d.localParty, RemoteParty: d.remoteParty, LocalTarget: d.localTarget,
		RemoteTarget: d.remoteTarget, RouteSet: d.routeSet}
	return in.Request(method, via, seq, extra...)
}

// Request builds a request of method with CSeq number seq from a copy
// of a dialog's state, as NewRequest does from the dialog itself, but
// records nothing: how a process that never held the dialog (a cluster
// node ending a dead node's calls) still sends its BYE.
func (in *Info) Request(method, via string, seq uint32, extra ...string) (*sip.Message, error) {
	if in.RemoteTarget == "" {
		return nil, ErrNoTarget
	}
	uri, routes := in.RemoteTarget, in.RouteSet
	strict := len(routes) > 0 && !looseRoute(routes[0])
	if strict {
		// §12.2.1.1: a strict router gets the request with its URI as the
		// Request-URI, and the remote target goes last in Route.
		first, _ := sip.ParseNameAddr(routes[0])
		uri = first.URI.String()
		if i := strings.IndexByte(uri, '?'); i >= 0 {
			uri = uri[:i] // headers are not allowed in a Request-URI (§19.1.1)
		}
		routes = routes[1:]
	}
	b := sip.NewRequestBuilder(method, uri)
	if via != "" {
		b.Header("Via", via)
	}
	b.Header("Max-Forwards", "70")
	b.Header("From", in.LocalParty).Header("To", in.RemoteParty).Header("Call-ID", in.ID.CallID)
	b.Header("CSeq", strconv.FormatUint(uint64(seq), 10)+" "+method)
	for _, r := range routes {
		b.Header("Route", r)
	}
	if strict {
		b.Header("Route", "<"+in.RemoteTarget+">")
	}
	if refreshes(method) && in.LocalTarget != "" {
		b.Header("Contact", "<"+in.LocalTarget+">")
	}
	for i := 0; i+1 < len(extra); i += 2 {
		b.Header(extra[i], extra[i+1])
	}
	return b.Message("", nil)
}

// looseRoute reports whether a Route value's URI has the lr parameter.
func looseRoute(route string) bool {
	n, err := sip.ParseNameAddr(route)
	return err == nil && n.URI.Params.Has("lr")
}
