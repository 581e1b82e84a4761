package sip

import (
	"hash/fnv"
	"io"
	"strconv"
)

// Builder writes a new message line by line and parses the result, so that
// a message made in code behaves exactly like one received.
type Builder struct {
	b []byte
}

// NewRequestBuilder starts a request with the given method and Request-URI.
func NewRequestBuilder(method, requestURI string) *Builder {
	b := &Builder{b: make([]byte, 0, 512)}
	b.b = appendClean(b.b, method)
	b.b = append(b.b, ' ')
	b.b = appendClean(b.b, requestURI)
	b.b = append(b.b, " SIP/2.0\r\n"...)
	return b
}

// NewResponseBuilder starts a response; an empty reason takes the
// standard phrase for the code. A code outside 100..699 becomes 500, so
// that what is built always parses.
func NewResponseBuilder(code int, reason string) *Builder {
	if code < 100 || code > 699 {
		code, reason = 500, ""
	}
	if reason == "" {
		reason = ReasonPhrase(code)
	}
	b := &Builder{b: make([]byte, 0, 512)}
	b.b = append(b.b, "SIP/2.0 "...)
	b.b = strconv.AppendInt(b.b, int64(code), 10)
	b.b = append(b.b, ' ')
	b.b = appendClean(b.b, reason)
	b.b = append(b.b, "\r\n"...)
	return b
}

// appendClean appends s with CR and LF made spaces, so that no caller's
// text can end a line early.
func appendClean(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

// Header adds one header line. CR and LF in name or value become spaces.
func (b *Builder) Header(name, value string) *Builder {
	b.b = appendClean(b.b, name)
	b.b = append(b.b, ": "...)
	b.b = appendClean(b.b, value)
	b.b = append(b.b, "\r\n"...)
	return b
}

// Copy adds every line of header id from m, as m would write it.
func (b *Builder) Copy(m *Message, id HeaderID) *Builder {
	for i := range m.fields {
		if f := &m.fields[i]; f.id == id {
			b.b = append(b.b, m.fieldLine(f)...)
		}
	}
	return b
}

// copyFirst adds the first line of header id from m.
func (b *Builder) copyFirst(m *Message, id HeaderID) *Builder {
	if i := m.find(id, ""); i >= 0 {
		b.b = append(b.b, m.fieldLine(&m.fields[i])...)
	}
	return b
}

// Message ends the headers, adds the body with its Content-Type (when the
// body is not empty) and Content-Length, and parses the result.
func (b *Builder) Message(contentType string, body []byte) (*Message, error) {
	if len(body) > 0 && contentType != "" {
		b.Header("Content-Type", contentType)
	}
	b.b = append(b.b, "Content-Length: "...)
	b.b = strconv.AppendInt(b.b, int64(len(body)), 10)
	b.b = append(b.b, "\r\n\r\n"...)
	b.b = append(b.b, body...)
	return Limits{}.Parse(b.b)
}

// NewResponse builds a response to req as §8.2.6.2 says: every Via, and
// the first From, Call-ID and CSeq copied as received; To copied with
// toTag added when To has no tag and toTag is not "" (a 100 Trying carries
// none); Timestamp echoed in a 100 (§8.2.6.1). Extra header lines follow as
// name/value pairs. It never returns nil: a request too broken to copy
// from still gets a response with what could be copied.
func NewResponse(req *Message, code int, reason, toTag string, extra ...string) *Message {
	b := NewResponseBuilder(code, reason)
	b.Copy(req, HVia).copyFirst(req, HFrom)
	if i := req.find(HTo, ""); i >= 0 {
		tagged := false
		if toTag != "" {
			// A To that does not parse gets its tag too (a 400 for it is
			// still a final response, §8.2.6.2); only a tag it has stops it.
			if req.ToTag() == "" {
				b.b = append(b.b, "To: "...)
				b.b = appendClean(b.b, req.fieldValue(&req.fields[i]))
				b.b = append(b.b, ";tag="...)
				b.b = appendClean(b.b, toTag)
				b.b = append(b.b, "\r\n"...)
				tagged = true
			}
		}
		if !tagged {
			b.copyFirst(req, HTo)
		}
	}
	b.copyFirst(req, HCallID).copyFirst(req, HCSeq)
	if code == 100 {
		b.Copy(req, HTimestamp)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		b.Header(extra[i], extra[i+1])
	}
	m, err := b.Message("", nil)
	if err != nil {
		// Only a request whose copied lines break the message could get
		// here; answer with the status line alone.
		m, _ = NewResponseBuilder(code, reason).Message("", nil)
	}
	if m == nil {
		m, _ = NewResponseBuilder(500, "").Message("", nil)
	}
	return m
}

// LocalToTag makes the To tag of a response a server makes itself
// (§8.2.6.2) without keeping state: a hash of the request's Call-ID, From
// and top Via lines, so that a retransmission gets the same tag, salted
// with a secret so that nobody can predict it. It reads the lines as
// written, so a request too broken to parse still gets its tag.
func LocalToTag(req *Message, salt string) string {
	h := fnv.New64a()
	io.WriteString(h, salt)
	for _, id := range [...]HeaderID{HCallID, HFrom, HVia} {
		h.Write([]byte{0})
		if i := req.find(id, ""); i >= 0 {
			io.WriteString(h, req.fieldValue(&req.fields[i]))
		}
	}
	var b [16]byte
	return string(strconv.AppendUint(b[:0], h.Sum64(), 36))
}

// ReasonPhrase returns the RFC 3261 §21 reason phrase for a status code.
func ReasonPhrase(code int) string {
	if r, ok := reasons[code]; ok {
		return r
	}
	switch code / 100 {
	case 1:
		return "Trying"
	case 2:
		return "OK"
	case 3:
		return "Redirected"
	case 4:
		return "Request Failure"
	case 5:
		return "Server Error"
	}
	return "Global Failure"
}

var reasons = map[int]string{
	100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
	183: "Session Progress", 199: "Early Dialog Terminated",
	200: "OK", 202: "Accepted", 204: "No Notification",
	300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
	305: "Use Proxy", 380: "Alternative Service",
	400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
	404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
	407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
	412: "Conditional Request Failed", 413: "Request Entity Too Large",
	414: "Request-URI Too Long", 415: "Unsupported Media Type",
	416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
	423: "Interval Too Brief", 429: "Provide Referrer Identity",
	439: "First Hop Lacks Outbound Support", 480: "Temporarily Unavailable",
	481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
	484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
	488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
	500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
	503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
	513: "Message Too Large", 580: "Precondition Failure",
	600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}
