package sip

import (
	"strconv"
	"strings"
)

// Edits keep the parsed bytes and record changes beside them: a line an
// edit adds or rewrites is written, whole, into the message's edit buffer
// (extra) and its field points there; every other line is copied through
// as received. The edit buffer only grows, so strings handed out before an
// edit stay valid, and Reset keeps its memory, so edits on a pooled
// Message do not allocate.

// smallInts holds the decimal text of 0..255 so that setting
// Max-Forwards never allocates.
var smallInts = func() (t [256]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func (m *Message) touch(id HeaderID) {
	m.live()
	m.edited = true
	if m.cache != nil {
		m.cache.clearID(id)
	}
}

// SetRequestURI replaces the Request-URI.
func (m *Message) SetRequestURI(uri string) {
	m.live()
	m.uri = uri
	m.lineEdit = true
	m.edited = true
}

// SetStatus replaces a response's status code and reason phrase, as a
// proxy does when it turns a 503 into a 500 (§16.7 step 6).
func (m *Message) SetStatus(code int, reason string) {
	m.live()
	m.status = int16(code)
	m.reason = reason
	m.lineEdit = true
	m.edited = true
}

func (m *Message) insert(i int, f field) {
	m.fields = append(m.fields, field{})
	copy(m.fields[i+1:], m.fields[i:])
	m.fields[i] = f
}

// addLine writes "Name: value\r\n" into the edit buffer and returns its
// field. Known headers take their canonical name. A CR or LF in value
// becomes a space, so that no value can end the line early and smuggle in
// a header of its own. A line is cut to the longest a field describes.
func (m *Message) addLine(id HeaderID, name, value string) field {
	if id != HUnknown {
		name = canonicalNames[id]
	}
	value = trimLWS(value)
	if len(name) > maxLine/2 {
		name = name[:maxLine/2]
	}
	if len(name)+len(value) > maxLine-4 {
		value = value[:maxLine-4-len(name)]
	}
	if cap(m.extra) == 0 {
		// One allocation for a proxy's usual edits rather than several
		// as append grows the buffer.
		m.extra = make([]byte, 0, 256)
	}
	start := len(m.extra)
	m.extra = append(m.extra, name...)
	nameEnd := len(m.extra)
	m.extra = append(m.extra, ':', ' ')
	valStart := len(m.extra)
	if strings.IndexByte(value, '\r') < 0 && strings.IndexByte(value, '\n') < 0 {
		m.extra = append(m.extra, value...)
	} else {
		for i := 0; i < len(value); i++ {
			c := value[i]
			if c == '\r' || c == '\n' {
				c = ' '
			}
			m.extra = append(m.extra, c)
		}
	}
	valEnd := len(m.extra)
	m.extra = append(m.extra, '\r', '\n')
	return newField(start, nameEnd, valStart, valEnd, len(m.extra), id, true)
}

// PrependHeader adds a header line above every other line of the same
// name, or at the top when there is none: how Via and Record-Route grow.
func (m *Message) PrependHeader(name, value string) {
	id := HeaderIDOf(name)
	i := m.find(id, name)
	if i < 0 {
		i = 0
	}
	m.insert(i, m.addLine(id, name, value))
	m.touch(id)
}

// AddHeader adds a header line below all others.
func (m *Message) AddHeader(name, value string) {
	id := HeaderIDOf(name)
	m.fields = append(m.fields, m.addLine(id, name, value))
	m.touch(id)
}

// SetHeader makes value the only value of the header called name: the
// first such line is rewritten in place and any others removed.
func (m *Message) SetHeader(name, value string) {
	id := HeaderIDOf(name)
	f := m.addLine(id, name, value)
	i := m.find(id, name)
	if i < 0 {
		m.fields = append(m.fields, f)
	} else {
		m.fields[i] = f
		m.removeFrom(i+1, id, name)
	}
	m.touch(id)
}

// RemoveHeader removes every line of the header called name.
func (m *Message) RemoveHeader(name string) {
	id := HeaderIDOf(name)
	m.removeFrom(0, id, name)
	m.touch(id)
}

func (m *Message) removeFrom(start int, id HeaderID, name string) {
	matches := func(f *field) bool {
		return f.id == id && (id != HUnknown || EqualFold(m.fieldName(f), name))
	}
	i := start
	for i < len(m.fields) && !matches(&m.fields[i]) {
		i++
	}
	out := m.fields[:i] // nothing to move before the first match
	for ; i < len(m.fields); i++ {
		if f := &m.fields[i]; !matches(f) {
			out = append(out, *f)
		}
	}
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
	f := &m.fields[i]
	_, rest := splitComma(m.fieldValue(f))
	if rest = trimLWS(rest); rest == "" {
		m.fields = append(m.fields[:i], m.fields[i+1:]...)
	} else {
		m.fields[i] = m.addLine(id, m.fieldName(f), rest)
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
// Content-Length to match. An empty contentType with an empty body removes
// Content-Type.
func (m *Message) SetBody(contentType string, body []byte) {
	m.body = body
	if contentType != "" {
		m.SetHeader("Content-Type", contentType)
	} else if len(body) == 0 {
		m.RemoveHeader("Content-Type")
	}
	var n [20]byte
	m.SetHeader("Content-Length", string(strconv.AppendInt(n[:0], int64(len(body)), 10)))
}

// SetTopVia replaces the topmost Via value, keeping any further values on
// the same line: how a server stamps received and rport (§18.2.1).
func (m *Message) SetTopVia(value string) {
	i := m.find(HVia, "")
	if i < 0 {
		m.PrependHeader("Via", value)
		return
	}
	f := &m.fields[i]
	_, rest := splitComma(m.fieldValue(f))
	if rest = trimLWS(rest); rest == "" {
		m.fields[i] = m.addLine(HVia, "", value)
	} else {
		// "value, rest", written without building the string first: add
		// the line for value, then extend it over its line ending.
		nf := m.addLine(HVia, "", value)
		if int(nf.valOff)+int(nf.valLen)+2+len(rest)+2 <= maxLine {
			m.extra = m.extra[:len(m.extra)-2]
			m.extra = append(m.extra, ',', ' ')
			m.extra = append(m.extra, rest...)
			nf.valLen = uint16(len(m.extra) - int(nf.start) - int(nf.valOff))
			m.extra = append(m.extra, '\r', '\n')
			nf.end = uint32(len(m.extra))
			m.fields[i] = nf
		} else {
			// Too long for one line: the other values go on a line of
			// their own, which means the same (§7.3.1).
			m.fields[i] = nf
			m.insert(i+1, m.addLine(HVia, "", rest))
		}
	}
	m.touch(HVia)
}

// AppendTo appends the message in wire form to b. Lines nobody changed are
// copied as received; an unedited message is its parsed bytes exactly.
// With a reused b (b[:0]) writing does not allocate.
func (m *Message) AppendTo(b []byte) []byte {
	m.live()
	if !m.edited {
		return append(b, m.raw...)
	}
	if m.lineEdit || m.startEnd == 0 || int(m.startEnd) > len(m.raw) {
		b = m.appendStartLine(b)
	} else {
		b = append(b, m.raw[:m.startEnd]...)
	}
	hasLength := false
	for i := range m.fields {
		f := &m.fields[i]
		if f.id == HContentLength {
			hasLength = true
		}
		b = append(b, m.fieldLine(f)...)
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

// Len is the length of the message in wire form: what AppendTo would
// write, counted without writing it, so that a sender can apply the
// 1300-byte rule (§18.1.1) to the message as edited (credentials
// stripped, say) rather than as received.
func (m *Message) Len() int {
	m.live()
	if !m.edited {
		return len(m.raw)
	}
	var n int
	if m.lineEdit || m.startEnd == 0 || int(m.startEnd) > len(m.raw) {
		n = m.startLineLen()
	} else {
		n = int(m.startEnd)
	}
	hasLength := false
	for i := range m.fields {
		f := &m.fields[i]
		if f.id == HContentLength {
			hasLength = true
		}
		n += int(f.end - f.start)
	}
	if !hasLength {
		n += len("Content-Length: ") + decimalLen(len(m.body)) + len("\r\n")
	}
	return n + len("\r\n") + len(m.body)
}

func (m *Message) startLineLen() int {
	if m.isRequest {
		return len(m.method) + 1 + len(m.uri) + len(" SIP/2.0\r\n")
	}
	return len("SIP/2.0 ") + decimalLen(int(m.status)) + 1 + len(m.reason) + len("\r\n")
}

// decimalLen is the number of digits strconv writes for n.
func decimalLen(n int) int {
	d := 1
	if n < 0 {
		d, n = 2, -n
	}
	for ; n >= 10; n /= 10 {
		d++
	}
	return d
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
