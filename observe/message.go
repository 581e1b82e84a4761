package observe

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/parley-sip/parley/sip"
)

// Direction says whether Parley received a message or sent it.
type Direction uint8

// Directions.
const (
	Received Direction = iota + 1
	Sent
)

// String returns "received" or "sent", the words the metrics and the API
// use.
func (d Direction) String() string {
	if d == Sent {
		return "sent"
	}
	return "received"
}

// Message is one captured SIP message. Its text is a copy, so a Message
// stays valid after the transport reuses its buffers, and the strings of
// its Summary share that copy rather than holding their own. When nothing
// reads the text (Config.CallsOnly) it is empty, and the Summary's strings
// share a compact copy of themselves instead: what the call tracker reads.
type Message struct {
	Seq   uint64         // capture order, from 1; gaps mean messages evicted or not kept
	Time  time.Time      // when Parley received it, or was about to send it
	Dir   Direction      // received or sent by Parley
	Proto string         // "udp", "tcp" or "tls"
	Local netip.AddrPort // Parley's side
	Peer  netip.AddrPort // the other side
	Text  string         // the message as on the wire; "" in mode CallsOnly
	Summary
}

// Src returns where the message came from.
func (m *Message) Src() netip.AddrPort {
	if m.Dir == Sent {
		return m.Local
	}
	return m.Peer
}

// Dst returns where the message went.
func (m *Message) Dst() netip.AddrPort {
	if m.Dir == Sent {
		return m.Peer
	}
	return m.Local
}

// FirstLine returns the request or status line.
func (m *Message) FirstLine() string {
	if m.Line == "" { // a Message built without Scan
		line, _ := cutLine(m.Text)
		return line
	}
	return m.Line
}

// IsRequest reports whether the message is a request.
func (m *Message) IsRequest() bool { return m.Status == 0 }

// Summary is what a quick scan of a message's headers finds. Fields the
// message lacks, or that are malformed, are empty: a summary is for
// display, grouping and following calls (the tracker reads nothing
// else), never for routing.
type Summary struct {
	Line       string // the request or status line
	Method     string // request method; "" for a response
	Status     int    // response status code; 0 for a request
	CSeqMethod string // the method of the CSeq header
	CallID     string // the Call-ID header
	Branch     string // branch parameter of the top Via
	From       string // From value without parameters after the address
	FromTag    string // the From header's tag: with CallID, the caller's side of a call
	To         string // To value likewise
	ToTag      bool   // the To header has a tag: the request is in a dialog
	ToTagValue string // that tag: with CallID and FromTag, the message's dialog
	CSeq       uint32 // the CSeq number
	Contact    string // the URI of the first Contact: a party's target
}

// compact returns the summary with its strings copied into one new
// string, so that it outlives the text it was scanned from at the cost of
// one small allocation, not a copy of the whole message. The Via branch,
// which only the latency histogram reads, is left out.
func (s Summary) compact() Summary {
	sip.Detach(&s.Line, &s.Method, &s.CSeqMethod, &s.CallID, &s.From, &s.FromTag, &s.To, &s.ToTagValue, &s.Contact)
	s.Branch = ""
	return s
}

// Scan summarises a SIP message without parsing it in full: one pass over
// the start line and the header lines, no allocation. It tolerates
// anything, since it also sees messages the parser would reject.
func Scan(text string) Summary {
	var s Summary
	line, rest := cutLine(text)
	s.Line = line
	if code, ok := strings.CutPrefix(line, "SIP/2.0 "); ok {
		s.Status = statusCode(code)
	} else if i := strings.IndexByte(line, ' '); i > 0 {
		s.Method = line[:i]
	}
	seenVia := false
	for rest != "" {
		line, rest = cutLine(rest)
		if line == "" {
			break // the end of the headers
		}
		if !mayMatter(line[0]) {
			continue // most headers, and folded continuation lines
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		s.header(strings.TrimSpace(name), strings.TrimSpace(value), &seenVia)
	}
	return s
}

// mayMatter reports whether a header line starting with c can be one that
// header records: the first letter of Call-ID, CSeq, Via, From, To and
// Contact, long or compact. Skipping the others before cutting the line at its
// colon halves the scan of a typical message, which every captured
// message pays on the transport's goroutines.
func mayMatter(c byte) bool {
	switch c | 0x20 {
	case 'c', 'i', 'v', 'f', 't', 'm':
		return true
	}
	return false
}

// header records one header of interest; compact forms count too.
func (s *Summary) header(name, value string, seenVia *bool) {
	if n := len(name); n > 7 || n == 5 || n == 6 {
		return // no name of interest has that length
	}
	switch {
	case is(name, "Call-ID", "i"):
		s.CallID = value
	case is(name, "CSeq", ""):
		num, m, ok := strings.Cut(value, " ")
		if ok {
			s.CSeqMethod = strings.TrimSpace(m)
		}
		if n, err := strconv.ParseUint(num, 10, 32); err == nil {
			s.CSeq = uint32(n)
		}
	case is(name, "Via", "v") && !*seenVia:
		*seenVia = true
		first, _, _ := strings.Cut(value, ",")
		s.Branch = param(first, "branch")
	case is(name, "From", "f"):
		s.From = addressPart(value)
		s.FromTag = param(headerParams(value), "tag")
	case is(name, "To", "t"):
		s.To = addressPart(value)
		s.ToTagValue = param(headerParams(value), "tag")
		s.ToTag = s.ToTagValue != ""
	case is(name, "Contact", "m") && s.Contact == "":
		s.Contact = contactURI(value)
	}
}

// contactURI returns the URI of a Contact value's first entry, as a
// dialog keeps its target: without the angle brackets and header
// parameters. A "*" gives "".
func contactURI(v string) string {
	i := strings.IndexAny(v, "<,;")
	if i >= 0 && v[i] == '<' {
		uri, _, _ := strings.Cut(v[i+1:], ">")
		return strings.TrimSpace(uri)
	}
	if i >= 0 {
		v = v[:i] // an addr-spec ends at its header parameters or the next entry
	}
	if uri := strings.TrimSpace(v); uri != "*" {
		return uri
	}
	return ""
}

func is(name, long, compact string) bool {
	return strings.EqualFold(name, long) || compact != "" && strings.EqualFold(name, compact)
}

// statusCode reads the three digits of a status line, or returns 0.
func statusCode(s string) int {
	if len(s) < 3 {
		return 0
	}
	n := 0
	for i := range 3 {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	if n < 100 || len(s) > 3 && s[3] != ' ' {
		return 0
	}
	return n
}

// cutLine splits off the first line, without its CR LF.
func cutLine(s string) (line, rest string) {
	line, rest, _ = strings.Cut(s, "\n")
	return strings.TrimSuffix(line, "\r"), rest
}

// addressPart drops the header parameters (tag and the like) of a From or
// To value, keeping the display name and address a person reads.
func addressPart(v string) string {
	if i := strings.IndexByte(v, '>'); i >= 0 {
		return v[:i+1]
	}
	if i := strings.IndexByte(v, ';'); i >= 0 {
		return strings.TrimSpace(v[:i])
	}
	return v
}

// headerParams returns the header parameters of a name-addr or addr-spec
// value, starting at their first ';'.
func headerParams(v string) string {
	if i := strings.IndexByte(v, '>'); i >= 0 {
		v = v[i+1:]
	}
	if i := strings.IndexByte(v, ';'); i >= 0 {
		return v[i:]
	}
	return ""
}

// param returns the value of the named ;parameter in s, or "".
func param(s, name string) string {
	_, s, ok := strings.Cut(s, ";")
	for ok {
		var p string
		p, s, ok = strings.Cut(s, ";")
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
