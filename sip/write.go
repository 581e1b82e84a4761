package sip

import "strconv"

// Edits keep the parsed bytes and record changes beside them: a header
// that an edit touches loses its raw line and is written from name and
// value; every other line is copied through as received.

// smallInts holds the decimal text of 0..255 so that setting
// Max-Forwards never allocates.
var smallInts = func() (t [256]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func (m *Message) touch(id HeaderID) {
	m.edited = true
	m.cache.clear(id)
}

// SetRequestURI replaces the Request-URI.
func (m *Message) SetRequestURI(uri string) {
	m.uri = uri
	m.lineEdit = true
	m.edited = true
}

// SetStatus replaces a response's status code and reason phrase, as a
// proxy does when it turns a 503 into a 500 (§16.7 step 6).
func (m *Message) SetStatus(code int, reason string) {
	m.status = code
	m.reason = reason
	m.lineEdit = true
	m.edited = true
}

func (m *Message) insert(i int, f field) {
	m.fields = append(m.fields, field{})
	copy(m.fields[i+1:], m.fields[i:])
	m.fields[i] = f
}

func (m *Message) newField(name, value string) field {
	id := HeaderIDOf(name)
	if id != HUnknown {
		name = canonicalNames[id]
	}
	return field{id: id, name: name, value: value}
}

// PrependHeader adds a header line above every other line of the same
// name, or at the top when there is none: how Via and Record-Route grow.
func (m *Message) PrependHeader(name, value string) {
	f := m.newField(name, value)
	i := m.find(f.id, name)
	if i < 0 {
		i = 0
	}
	m.insert(i, f)
	m.touch(f.id)
}

// AddHeader adds a header line below all others.
func (m *Message) AddHeader(name, value string) {
	f := m.newField(name, value)
	m.fields = append(m.fields, f)
	m.touch(f.id)
}

// SetHeader makes value the only value of the header called name: the
// first such line is rewritten in place and any others removed.
func (m *Message) SetHeader(name, value string) {
	f := m.newField(name, value)
	i := m.find(f.id, name)
	if i < 0 {
		m.fields = append(m.fields, f)
	} else {
		m.fields[i] = f
		m.removeFrom(i+1, f.id, name)
	}
	m.touch(f.id)
}

// RemoveHeader removes every line of the header called name.
func (m *Message) RemoveHeader(name string) {
	id := HeaderIDOf(name)
	m.removeFrom(0, id, name)
	m.touch(id)
}

func (m *Message) removeFrom(start int, id HeaderID, name string) {
	out := m.fields[:start]
	for _, f := range m.fields[start:] {
		if f.id == id && (id != HUnknown || EqualFold(f.name, name)) {
			continue
		}
		out = append(out, f)
	}
	clear(m.fields[len(out):])
	m.fields = out
}

// removeTop removes the first value of the first line of header id: the
// whole line when it holds one value, else that value from the line.
// It reports whether there was a value to remove.
func (m *Message) removeTop(id HeaderID) bool {
	i := m.find(id, "")
	if i < 0 {
		return false
	}
	_, rest := splitComma(m.fields[i].value)
	rest = trimLWS(rest)
	if rest == "" {
		copy(m.fields[i:], m.fields[i+1:])
		m.fields[len(m.fields)-1] = field{}
		m.fields = m.fields[:len(m.fields)-1]
	} else {
		m.fields[i].value = rest
		m.fields[i].raw = ""
	}
	m.touch(id)
	return true
}

// PopVia removes the topmost Via value, as a proxy does to a response
// before forwarding it upstream (§16.7 step 3).
func (m *Message) PopVia() bool { return m.removeTop(HVia) }

// PopRoute removes the topmost Route value (§16.4, §16.6 step 6).
func (m *Message) PopRoute() bool { return m.removeTop(HRoute) }

// SetMaxForwards sets Max-Forwards, a value 0..255, without allocating.
func (m *Message) SetMaxForwards(n int) {
	n = max(0, min(n, 255))
	m.SetHeader("Max-Forwards", smallInts[n])
}

// SetBody replaces the body and sets Content-Type (when not "") and
// Content-Length to match.
func (m *Message) SetBody(contentType string, body []byte) {
	m.body = body
	if contentType != "" {
		m.SetHeader("Content-Type", contentType)
	} else if len(body) == 0 {
		m.RemoveHeader("Content-Type")
	}
	m.SetHeader("Content-Length", strconv.Itoa(len(body)))
}

// AppendTo appends the message in wire form to b. Lines nobody changed are
// copied as received; an unedited message is its parsed bytes exactly.
func (m *Message) AppendTo(b []byte) []byte {
	if !m.edited {
		return append(b, m.raw...)
	}
	b = m.appendStartLine(b)
	hasLength := false
	for i := range m.fields {
		f := &m.fields[i]
		if f.id == HContentLength {
			hasLength = true
		}
		if f.raw != "" {
			b = append(b, f.raw...)
			continue
		}
		b = append(b, f.name...)
		b = append(b, ": "...)
		b = append(b, f.value...)
		b = append(b, "\r\n"...)
	}
	if !hasLength {
		// Stream transports need it (§18.3), and it costs nothing on UDP.
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(m.body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, m.body...)
}

func (m *Message) appendStartLine(b []byte) []byte {
	if m.isRequest {
		b = append(b, m.method...)
		b = append(b, ' ')
		b = append(b, m.uri...)
		return append(b, " SIP/2.0\r\n"...)
	}
	b = append(b, "SIP/2.0 "...)
	b = strconv.AppendInt(b, int64(m.status), 10)
	b = append(b, ' ')
	b = append(b, m.reason...)
	return append(b, "\r\n"...)
}

// SetTopVia replaces the topmost Via value, keeping any further values on
// the same line: how a server stamps received and rport (§18.2.1).
func (m *Message) SetTopVia(value string) {
	i := m.find(HVia, "")
	if i < 0 {
		m.PrependHeader("Via", value)
		return
	}
	_, rest := splitComma(m.fields[i].value)
	if rest = trimLWS(rest); rest != "" {
		value += ", " + rest
	}
	m.fields[i].value = value
	m.fields[i].raw = ""
	m.touch(HVia)
}
