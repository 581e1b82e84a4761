package observe

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/parley-sip/parley/clock"
)

var (
	parley = netip.MustParseAddrPort("192.0.2.1:5060")
	alice  = netip.MustParseAddrPort("192.0.2.10:5060")
	bob    = netip.MustParseAddrPort("192.0.2.20:5062")
)

// msg describes a test message; text builds it.
type msg struct {
	method string // request method; empty for a response
	status int
	cseq   string // CSeq method; defaults to method
	callID string
	branch string
	toTag  string
	seq    int    // CSeq number; 0 means 1
	from   string // From tag; "" means alice's, from1
	event  string // the Event header, when not ""
}

func (m msg) text() string {
	var b strings.Builder
	cseq := m.cseq
	if cseq == "" {
		cseq = m.method
	}
	if m.method != "" {
		fmt.Fprintf(&b, "%s sip:bob@example.com SIP/2.0\r\n", m.method)
	} else {
		fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", m.status, reason(m.status))
	}
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=%s;rport, SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-a\r\n", m.branch)
	b.WriteString("Max-Forwards: 70\r\n")
	from := m.from
	if from == "" {
		from = "from1"
	}
	fmt.Fprintf(&b, "From: \"Alice\" <sip:alice@example.com>;tag=%s\r\n", from)
	if m.toTag != "" {
		fmt.Fprintf(&b, "To: <sip:bob@example.com>;tag=%s\r\n", m.toTag)
	} else {
		b.WriteString("To: <sip:bob@example.com>\r\n")
	}
	// The parties' Contacts, as phones send them in what makes or
	// refreshes a dialog: the callee's names its tag, to tell forks apart.
	switch {
	case m.method == "INVITE" && m.from == "":
		b.WriteString("Contact: <sip:alice@192.0.2.10:5060>\r\n")
	case cseq == "INVITE" && m.status > 100 && m.status < 300 && m.toTag != "":
		fmt.Fprintf(&b, "Contact: <sip:bob-%s@192.0.2.20:5060>\r\n", m.toTag)
	}
	if m.event != "" {
		fmt.Fprintf(&b, "Event: %s\r\n", m.event)
	}
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\nContent-Length: 0\r\n\r\n", m.callID, max(m.seq, 1), cseq)
	return b.String()
}

func reason(code int) string {
	switch code {
	case 100:
		return "Trying"
	case 180:
		return "Ringing"
	case 200:
		return "OK"
	case 404:
		return "Not Found"
	case 407:
		return "Proxy Authentication Required"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	}
	return "Whatever"
}

// newClock is the tests' fake time.
func newClock() *clock.Fake { return clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) }
