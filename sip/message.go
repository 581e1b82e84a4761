package sip

import "bytes"

// Message is a SIP request or response. It is parsed lazily: Parse only
// finds the start line and where each header is; typed values (Via, CSeq,
// Contact, …) are parsed on first use and cached. Untouched headers are
// written back byte for byte, so a proxy forwards what it does not change
// exactly as it received it.
//
// A Message is not safe for concurrent use.
type Message struct {
	raw []byte // the bytes parsed; never written to

	isRequest bool
	method    string
	uri       string // Request-URI as written, or as set by SetRequestURI
	status    int
	reason    string
	version   string

	fields   []field
	inline   [16]field // backing store that saves an allocation for typical messages
	body     []byte
	edited   bool // any change since parsing; otherwise raw is the wire form
	lineEdit bool // start line changed

	cache cache
}

// field is one header line as received (raw set) or as added by an edit.
type field struct {
	id    HeaderID
	name  string // as written on the wire
	value string // the value with surrounding white space trimmed
	raw   string // the whole line(s), line ending included; "" when edited
}

// IsRequest reports whether m is a request.
func (m *Message) IsRequest() bool { return m.isRequest }

// Method returns the request's method, or "" for a response.
func (m *Message) Method() string { return m.method }

// RequestURI returns the request's Request-URI as written.
func (m *Message) RequestURI() string { return m.uri }

// StatusCode returns the response's status code, or 0 for a request.
func (m *Message) StatusCode() int { return m.status }

// Reason returns the response's reason phrase.
func (m *Message) Reason() string { return m.reason }

// Body returns the message body. The caller must not modify it.
func (m *Message) Body() []byte { return m.body }

// Raw returns the bytes m was parsed from. The caller must not modify them.
func (m *Message) Raw() []byte { return m.raw }

// Edited reports whether m was changed since it was parsed.
func (m *Message) Edited() bool { return m.edited }

// find returns the index of the first header with the given id or name,
// or -1. name is compared only for unknown headers.
func (m *Message) find(id HeaderID, name string) int {
	for i := range m.fields {
		if m.fields[i].id == id && (id != HUnknown || EqualFold(m.fields[i].name, name)) {
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
	return m.fields[i].value
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
	for i := range m.fields {
		if !fn(m.fields[i].name, m.fields[i].value) {
			return
		}
	}
}

// each calls fn with each comma-separated element of every header line
// matching id/name, in order, until fn returns false. It does not allocate.
func (m *Message) each(id HeaderID, name string, fn func(string) bool) {
	for i := range m.fields {
		f := &m.fields[i]
		if f.id != id || (id == HUnknown && !EqualFold(f.name, name)) {
			continue
		}
		rest := f.value
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

// count returns how many header lines carry id.
func (m *Message) count(id HeaderID) int {
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
func (m *Message) String() string { return string(m.AppendTo(nil)) }

// Bytes returns the message as it would be sent. For an unedited message
// it is the parsed bytes themselves, which the caller must not modify.
func (m *Message) Bytes() []byte {
	if !m.edited {
		return m.raw
	}
	return m.AppendTo(nil)
}

// Clone returns a copy of m that can be edited independently, as a proxy
// does for each branch it forks to. Parsed bytes are shared, which is safe
// because neither copy ever writes to them.
func (m *Message) Clone() *Message {
	c := new(Message)
	*c = *m
	if len(m.fields) <= len(c.inline) {
		c.fields = c.inline[:len(m.fields)]
		copy(c.fields, m.fields)
	} else {
		c.fields = append([]field(nil), m.fields...)
	}
	c.cache = cache{}
	return c
}

var crlf = []byte("\r\n")

// lineEnd returns the index just past the end of the line starting at
// data[i:], accepting CRLF or a bare LF, and the index where the line's
// content ends. ok is false when no line ending follows.
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
