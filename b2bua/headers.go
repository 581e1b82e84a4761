package b2bua

import (
	"strconv"
	"strings"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// passes reports whether header name crosses from one leg to the other.
func (b *B2BUA) passes(name string) bool {
	if b.pass[strings.ToLower(name)] {
		return true
	}
	return b.cfg.PassXHeaders && len(name) > 2 && (name[0] == 'X' || name[0] == 'x') && name[1] == '-'
}

// passed lists the headers of m that cross, as name/value pairs.
func (b *B2BUA) passed(m *sip.Message, extra ...string) []string {
	out := extra
	m.EachHeader(func(name, value string) bool {
		if b.passes(name) {
			out = append(out, name, value)
		}
		return true
	})
	return out
}

// agent appends the header naming Parley to extra: Server in a response,
// User-Agent in a request (server_header; none when it is empty).
func (b *B2BUA) agent(response bool, extra []string) []string {
	if b.cfg.Agent == nil {
		return extra
	}
	name := b.cfg.Agent()
	if name == "" {
		return extra
	}
	if response {
		return append(extra, "Server", name)
	}
	return append(extra, "User-Agent", name)
}

// withBody puts from's body on to, through the media seam.
func (c *Call) withBody(to, from *sip.Message, side Side) {
	body := from.Body()
	if len(body) == 0 {
		return
	}
	ct := from.ContentType()
	if c.b.cfg.Body != nil {
		ct, body = c.b.cfg.Body(c, side, ct, body)
	}
	// The message carries the call's copy, so that one kept past its
	// transaction keeps no received message alive.
	to.SetBody(c.noteBody(side, ct, body))
}

// contactFor is Parley's Contact on a leg that uses listener l.
func contactFor(l *transport.ListenerInfo) string {
	if l == nil {
		return ""
	}
	s := "sip:" + l.Host + ":" + strconv.Itoa(l.Port)
	if l.Proto != transport.UDP {
		s += ";transport=" + string(l.Proto)
	}
	return s
}

// newFrom is a caller's From for the B leg: the same identity with a tag
// of Parley's; other parameters stay behind.
func newFrom(n *sip.NameAddr, tag string) string {
	b := make([]byte, 0, 96)
	if n.Display != "" {
		b = append(b, n.Display...)
		b = append(b, ' ')
	}
	b = append(b, '<')
	b = n.URI.AppendTo(b)
	b = append(b, ">;tag="...)
	b = append(b, tag...)
	return string(b)
}

// cancelKey identifies an INVITE the way its CANCEL names it (§9.1): the
// same Call-ID and top Via branch.
func cancelKey(m *sip.Message) string {
	v, err := m.TopVia()
	if err != nil {
		return ""
	}
	cid, _ := m.CallID()
	host, port := v.SentBy()
	return cid + "|" + v.Branch() + "|" + host + ":" + strconv.Itoa(port)
}
