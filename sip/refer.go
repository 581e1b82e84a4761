package sip

import (
	"strconv"
	"strings"
)

// Errors of the transfer headers (RFC 3515, RFC 3891, RFC 3892). A REFER
// must carry exactly one Refer-To (RFC 3515 §2.4.1); a server that acts
// on a Replaces must be sure which dialog it names (RFC 3891 §3).
var (
	ErrReferTo          = badRequest("Malformed Refer-To")
	ErrMissingReferTo   = badRequest("Missing Refer-To")
	ErrMultipleReferTo  = badRequest("Multiple Refer-To Headers")
	ErrReplaces         = badRequest("Malformed Replaces")
	ErrMultipleReplaces = badRequest("Multiple Replaces Headers")
	ErrReferredBy       = badRequest("Malformed Referred-By")
)

// ContentTypeSipfrag is the Content-Type of a NOTIFY reporting a REFER's
// progress (RFC 3515 §2.4.5, RFC 3420).
const ContentTypeSipfrag = "message/sipfrag;version=2.0"

// ReferTo is a Refer-To value (RFC 3515 §2.1): the address to contact,
// and the Replaces the URI carries as an embedded header, which is how an
// attended transfer names the dialog the new call replaces.
type ReferTo struct {
	NameAddr
	// Replaces is the URI's Replaces header, nil when it has none.
	Replaces *Replaces
}

// ParseReferTo parses a Refer-To value. The URI's embedded headers are
// read only for Replaces; any other is left in URI.Headers. A bare URI
// with embedded headers, which RFC 3261 §20 says must be in angle
// brackets, is accepted all the same: the '?' is unambiguous and phones
// send it.
func ParseReferTo(s string) (ReferTo, error) {
	na, err := ParseNameAddr(s)
	if err != nil {
		t := trimLWS(s)
		if strings.IndexByte(t, '<') >= 0 || strings.IndexByte(t, '?') < 0 {
			return ReferTo{}, ErrReferTo
		}
		u, uerr := ParseURI(t)
		if uerr != nil {
			return ReferTo{}, ErrReferTo
		}
		na = NameAddr{URI: u, raw: s}
	}
	if na.Star {
		return ReferTo{}, ErrReferTo
	}
	r := ReferTo{NameAddr: na}
	if v, ok := na.URI.Header("Replaces"); ok {
		rep, err := ParseReplaces(v)
		if err != nil {
			return ReferTo{}, ErrReferTo
		}
		r.Replaces = &rep
	}
	return r, nil
}

// Target returns the URI to send the new request to: the Refer-To URI
// without its embedded headers, which become headers of that request
// rather than part of its Request-URI (§19.1.5).
func (r *ReferTo) Target() URI {
	u := r.URI
	if u.Headers == "" {
		return u
	}
	u = u.Rebuild()
	u.Headers = ""
	return u
}

// Method returns the method the referrer asks for: the URI's method
// parameter (RFC 3515 §2.4.2), INVITE when absent.
func (r *ReferTo) Method() string {
	if m, ok := r.URI.Params.Get("method"); ok && m != "" {
		return strings.ToUpper(m)
	}
	return "INVITE"
}

// Header returns the value of an embedded URI header (§19.1.1: the part
// after '?', hname=hvalue pairs joined by '&'), unescaped, and whether it
// is present. Names compare without case.
func (u URI) Header(name string) (string, bool) {
	rest := u.Headers
	for rest != "" {
		var item string
		if i := strings.IndexByte(rest, '&'); i >= 0 {
			item, rest = rest[:i], rest[i+1:]
		} else {
			item, rest = rest, ""
		}
		n, v, _ := strings.Cut(item, "=")
		if EqualFold(Unescape(n), name) {
			return Unescape(v), true
		}
	}
	return "", false
}

// ReferTo returns the request's one Refer-To. Its absence, a second one,
// or one that does not parse is an error with the 400 to answer with.
func (m *Message) ReferTo() (ReferTo, error) {
	v := m.HeaderValues("Refer-To")
	switch {
	case len(v) == 0:
		return ReferTo{}, ErrMissingReferTo
	case len(v) > 1:
		return ReferTo{}, ErrMultipleReferTo
	}
	return ParseReferTo(v[0])
}

// ReferredBy returns the Referred-By header (RFC 3892): who asked for the
// request. ok is false when there is none; err is ErrReferredBy when it
// does not parse, which a B2BUA may take as "none" since it only copies it.
func (m *Message) ReferredBy() (na NameAddr, ok bool, err error) {
	if !m.HasHeader("Referred-By") {
		return NameAddr{}, false, nil
	}
	na, err = ParseNameAddr(m.Header("Referred-By"))
	if err != nil || na.Star {
		return NameAddr{}, false, ErrReferredBy
	}
	return na, true, nil
}

// Replaces is a Replaces value (RFC 3891 §6.1): the dialog a new INVITE
// replaces, named by Call-ID and tags as seen from the side the referrer
// talks to, and whether only an early dialog may be replaced.
type Replaces struct {
	CallID    string
	ToTag     string
	FromTag   string
	EarlyOnly bool
	// Params is every parameter as written, for extensions.
	Params Params
}

// ParseReplaces parses a Replaces value: a Call-ID and parameters, of
// which to-tag and from-tag are required (RFC 3891 §6.1). Without both
// the dialog cannot be found, so a value lacking either is malformed.
func ParseReplaces(s string) (Replaces, error) {
	s = trimLWS(s)
	callID, params, _ := strings.Cut(s, ";")
	callID = trimLWS(callID)
	if callID == "" || !validCallID(callID) {
		return Replaces{}, ErrReplaces
	}
	r := Replaces{CallID: callID, Params: Params(trimLWS(params))}
	if !validParams(string(r.Params)) {
		return Replaces{}, ErrReplaces
	}
	to, okTo := r.Params.Get("to-tag")
	from, okFrom := r.Params.Get("from-tag")
	if !okTo || !okFrom || !isToken(to) || !isToken(from) {
		return Replaces{}, ErrReplaces
	}
	r.ToTag, r.FromTag = to, from
	r.EarlyOnly = r.Params.Has("early-only")
	return r, nil
}

// String writes the value as a Replaces header carries it.
func (r Replaces) String() string {
	b := make([]byte, 0, len(r.CallID)+len(r.ToTag)+len(r.FromTag)+32)
	b = append(b, r.CallID...)
	b = append(b, ";to-tag="...)
	b = append(b, r.ToTag...)
	b = append(b, ";from-tag="...)
	b = append(b, r.FromTag...)
	if r.EarlyOnly {
		b = append(b, ";early-only"...)
	}
	return string(b)
}

// Replaces returns the request's Replaces header; ok is false when it has
// none. Two are an error (RFC 3891 §3 asks for 400).
func (m *Message) Replaces() (r Replaces, ok bool, err error) {
	v := m.HeaderValues("Replaces")
	switch {
	case len(v) == 0:
		return Replaces{}, false, nil
	case len(v) > 1:
		return Replaces{}, false, ErrMultipleReplaces
	}
	r, err = ParseReplaces(v[0])
	return r, err == nil, err
}

// Sipfrag returns the body of a NOTIFY that reports a referred request's
// progress (RFC 3515 §2.4.5): the status line of its latest response,
// which is all RFC 3420 requires of a message/sipfrag.
func Sipfrag(code int, reason string) []byte {
	if reason == "" {
		reason = ReasonPhrase(code)
	}
	b := make([]byte, 0, 16+len(reason))
	b = append(b, "SIP/2.0 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, sanitizeReason(reason)...)
	return append(b, "\r\n"...)
}

// sanitizeReason keeps a reason phrase taken from a peer's response from
// breaking the body's one line.
func sanitizeReason(s string) string {
	if strings.IndexAny(s, "\r\n") < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}
