package sip

import (
	"bytes"
	"math"
	"strings"
)

// Message is a SIP request or response. It is parsed lazily: Parse only
// finds the start line and where each header is; typed values (Via, CSeq,
// Contact, …) are parsed on first use and cached. Untouched headers are
// written back byte for byte, so a proxy forwards what it does not change
// exactly as it received it.
//
// The zero Message is empty and ready for Limits.ParseInto, which lets a
// server keep Messages in a sync.Pool: Reset (or ParseInto) keeps every
// buffer a Message grew, so a reused Message parses, edits and writes
// without allocating.
//
// A Message is not safe for concurrent use.
type Message struct {
	raw   []byte // the bytes parsed, from the start line on; never written to
	extra []byte // the text of lines added or rewritten by edits, append-only

	method  string
	uri     string // Request-URI as written, or as set by SetRequestURI
	reason  string
	version string
	status  int16 // a three-digit code
	relays  bool  // built to pass on another message (RelayOf)
	arrival Arrival

	startEnd uint32 // raw[:startEnd] is the start line with its line ending

	isRequest bool
	edited    bool // any change since parsing; otherwise raw is the wire form
	lineEdit  bool // start line changed
	released  bool // Release poisoned it (checked builds only)

	fields []field
	inline [16]field // backing store that saves an allocation for typical messages
	body   []byte

	cache *cache // typed values, allocated on first use and kept by Reset
}

// field is one header line: the name, the value and the whole line
// (folded continuation lines and line ending included) as offsets into
// raw, or into extra for a line an edit made. Offsets rather than strings
// keep the field small (16 bytes) and free of pointers, which makes parsing
// cheaper (less to zero, nothing for the collector to scan, a Message small
// enough for the allocator's fast path) and lets a pooled Message keep its
// fields across messages. Offsets within the line are 16 bits, so a header
// line is at most maxLine bytes.
type field struct {
	start   uint32 // first byte of the name
	end     uint32 // just past the line ending
	nameLen uint16
	valOff  uint16 // the value, with surrounding white space trimmed
	valLen  uint16
	id      HeaderID
	added   bool // lives in extra, not raw
}

// maxLine is the longest header line a field can describe.
const maxLine = 1<<16 - 1

// maxOffset bounds a message so that every offset fits a field.
const maxOffset = math.MaxUint32

func newField(start, nameEnd, valStart, valEnd, end int, id HeaderID, added bool) field {
	return field{
		start:   uint32(start),
		end:     uint32(end),
		nameLen: uint16(nameEnd - start),
		valOff:  uint16(valStart - start),
		valLen:  uint16(valEnd - valStart),
		id:      id,
		added:   added,
	}
}

func (m *Message) src(f *field) []byte {
	if f.added {
		return m.extra
	}
	return m.raw
}

func (m *Message) fieldName(f *field) string {
	return view(m.src(f)[f.start : f.start+uint32(f.nameLen)])
}

func (m *Message) fieldValue(f *field) string {
	vs := f.start + uint32(f.valOff)
	return view(m.src(f)[vs : vs+uint32(f.valLen)])
}

func (m *Message) fieldLine(f *field) []byte { return m.src(f)[f.start:f.end] }

// IsRequest reports whether m is a request.
func (m *Message) IsRequest() bool {
	m.live()
	return m.isRequest
}

// Method returns the request's method, or "" for a response.
func (m *Message) Method() string {
	m.live()
	return m.method
}

// RequestURI returns the request's Request-URI as written.
func (m *Message) RequestURI() string {
	m.live()
	return m.uri
}

// ReceivedRequestURI returns the Request-URI as the request arrived,
// before any SetRequestURI: what the caller dialled, which call records
// keep after a DID or a dial plan rewrote it. A built message's is the
// one it was built with.
func (m *Message) ReceivedRequestURI() string {
	if !m.lineEdit || !m.isRequest || m.startEnd == 0 || int(m.startEnd) > len(m.raw) {
		return m.uri
	}
	line := bytes.TrimRight(m.raw[:m.startEnd], "\r\n")
	sp1, sp2 := bytes.IndexByte(line, ' '), bytes.LastIndexByte(line, ' ')
	if sp1 < 0 || sp2 <= sp1 {
		return m.uri
	}
	return view(line[sp1+1 : sp2])
}

// StatusCode returns the response's status code, or 0 for a request.
func (m *Message) StatusCode() int {
	m.live()
	return int(m.status)
}

// Reason returns the response's reason phrase.
func (m *Message) Reason() string {
	m.live()
	return m.reason
}

// Body returns the message body. The caller must not modify it.
func (m *Message) Body() []byte {
	m.live()
	return m.body
}

// Raw returns the bytes m was parsed from, without any CRLFs that preceded
// the start line and without bytes past the body. The caller must not
// modify them.
func (m *Message) Raw() []byte {
	m.live()
	return m.raw
}

// Edited reports whether m was changed since it was parsed.
func (m *Message) Edited() bool {
	m.live()
	return m.edited
}

// HeaderCount returns the number of header lines.
func (m *Message) HeaderCount() int {
	m.live()
	return len(m.fields)
}

// Reset empties m for reuse, keeping the memory it grew (the field list,
// the edit buffer and the typed-value cache) so that the next parse into it
// allocates nothing. Strings and slices obtained from m before Reset must
// not be used after it.
func (m *Message) Reset() {
	fields := m.fields
	if cap(fields) <= len(m.inline) {
		fields = m.inline[:0]
	}
	extra := m.extra[:0]
	c := m.cache
	*m = Message{}
	m.fields = fields[:0]
	m.extra = extra
	if c != nil {
		c.reset()
		m.cache = c
	}
}

// find returns the index of the first header with the given id or name,
// or -1. name is compared only for unknown headers.
func (m *Message) find(id HeaderID, name string) int {
	m.live()
	for i := range m.fields {
		f := &m.fields[i]
		if f.id == id && (id != HUnknown || EqualFold(m.fieldName(f), name)) {
			return i
		}
	}
	return -1
}

func (m *Message) findName(name string) (HeaderID, int) {
	id := HeaderIDOf(name)
	return id, m.find(id, name)
}

// Header returns the value of the first header called name (long or
// compact form, any case), or "" when there is none.
func (m *Message) Header(name string) string {
	_, i := m.findName(name)
	if i < 0 {
		return ""
	}
	return m.fieldValue(&m.fields[i])
}

// HasHeader reports whether a header called name is present.
func (m *Message) HasHeader(name string) bool {
	_, i := m.findName(name)
	return i >= 0
}

// HeaderValues returns every value of the header called name: one per
// line, and each comma-separated element of lines that hold several.
func (m *Message) HeaderValues(name string) []string {
	id := HeaderIDOf(name)
	var out []string
	m.each(id, name, func(v string) bool {
		out = append(out, v)
		return true
	})
	return out
}

// EachHeader calls fn with every header line's name (as written) and value
// in order, until fn returns false.
func (m *Message) EachHeader(fn func(name, value string) bool) {
	m.live()
	for i := range m.fields {
		f := &m.fields[i]
		if !fn(m.fieldName(f), m.fieldValue(f)) {
			return
		}
	}
}

// each calls fn with each comma-separated element of every header line
// matching id/name, in order, until fn returns false. It does not allocate.
func (m *Message) each(id HeaderID, name string, fn func(string) bool) {
	m.live()
	for i := range m.fields {
		f := &m.fields[i]
		if f.id != id || (id == HUnknown && !EqualFold(m.fieldName(f), name)) {
			continue
		}
		rest := m.fieldValue(f)
		if unsplit(f.id) {
			if rest != "" && !fn(rest) {
				return
			}
			continue
		}
		for rest != "" {
			var elem string
			elem, rest = splitComma(rest)
			if elem == "" {
				continue
			}
			if !fn(elem) {
				return
			}
		}
	}
}

// unsplit reports the headers whose values hold commas of their own and
// so are one value per line (§7.3.1): the digest challenges and
// credentials.
func unsplit(id HeaderID) bool {
	return id == HAuthorization || id == HProxyAuthorization || id == HWWWAuthenticate || id == HProxyAuthenticate
}

// count returns how many header lines carry id.
func (m *Message) count(id HeaderID) int {
	m.live()
	n := 0
	for i := range m.fields {
		if m.fields[i].id == id {
			n++
		}
	}
	return n
}

// splitComma returns the first element of a comma-separated header value
// and the rest. Commas inside quoted strings and <…> do not split.
func splitComma(s string) (elem, rest string) {
	if strings.IndexByte(s, ',') < 0 {
		return trimLWS(s), "" // the common single value, found by a fast search
	}
	inQuote, inAngle := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
		case c == '"':
			inQuote = true
		case c == '<':
			inAngle = true
		case c == '>':
			inAngle = false
		case c == ',' && !inAngle:
			return trimLWS(s[:i]), s[i+1:]
		}
	}
	return trimLWS(s), ""
}

// String returns the message as it would be sent.
func (m *Message) String() string { return string(m.AppendTo(make([]byte, 0, m.Len()))) }

// Bytes returns the message as it would be sent. For an unedited message
// it is the parsed bytes themselves, which the caller must not modify.
func (m *Message) Bytes() []byte {
	m.live()
	if !m.edited {
		return m.raw
	}
	// Sized by Len, the copy is one allocation; appending to nil grew it
	// through six or seven for a typical INVITE.
	return m.AppendTo(make([]byte, 0, m.Len()))
}

// Clone returns a copy of m that can be edited independently, as a proxy
// does for each branch it forks to. Parsed bytes are shared, which is safe
// because neither copy ever writes to them.
func (m *Message) Clone() *Message {
	c := new(Message)
	m.CloneInto(c)
	return c
}

// CloneInto makes dst a copy of m that can be edited independently, reusing
// dst's memory as ParseInto does: with pooled Messages a forking proxy
// copies a request for each branch without allocating. The parsed bytes are
// shared; lines added by edits are copied.
func (m *Message) CloneInto(dst *Message) {
	m.live()
	if dst == m {
		return
	}
	dst.Reset()
	fields, extra, c := dst.fields, dst.extra, dst.cache
	*dst = *m
	dst.fields = append(fields[:0], m.fields...)
	dst.extra = append(extra[:0], m.extra...)
	dst.cache = c
	if c != nil {
		c.reset()
	}
}

// lineEnd returns the index where the content of the line starting at
// data[i] ends and the index just past its line ending, accepting CRLF or a
// bare LF. ok is false when no line ending follows.
func lineEnd(data []byte, i int) (contentEnd, next int, ok bool) {
	j := bytes.IndexByte(data[i:], '\n')
	if j < 0 {
		return len(data), len(data), false
	}
	end := i + j
	next = end + 1
	if end > i && data[end-1] == '\r' {
		end--
	}
	return end, next, true
}
