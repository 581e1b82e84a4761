package sip

import "bytes"

// Limits bound what the parser accepts, so that one message cannot make
// the server spend unbounded memory or time.
type Limits struct {
	// MaxSize is the largest message, headers and body, in bytes.
	MaxSize int
	// MaxHeaders is the most header lines a message may have.
	MaxHeaders int
	// MaxLineLength is the longest header line (after folding) in bytes.
	// Lines longer than 65535 bytes are always refused.
	MaxLineLength int
}

// DefaultLimits are generous for any real phone and small enough for a
// server: 64 KiB per message, 256 headers, 8 KiB per header line.
var DefaultLimits = Limits{MaxSize: 64 << 10, MaxHeaders: 256, MaxLineLength: 8 << 10}

// Parse parses one SIP message from a datagram or a frame cut by a Framer.
// The message takes ownership of data, which must not be modified after.
//
// On error the message is nil, except for a request whose start line and
// headers could be read: then Parse returns it with the error, so that the
// server can answer with the error's code (400, 505, …) if m.Answerable(),
// as RFC 3261 asks, instead of dropping it. A response with an error is
// always dropped (§16.7 and §18.1.2 never answer a response).
func Parse(data []byte) (*Message, error) { return DefaultLimits.Parse(data) }

// Parse parses one message under the limits l. See the package function.
func (l Limits) Parse(data []byte) (*Message, error) {
	m := new(Message)
	keep, err := l.parse(m, data)
	if err != nil && !keep {
		return nil, err
	}
	return m, err
}

// ParseInto parses one message into m, reusing the memory m kept from
// earlier messages: with Messages from a sync.Pool a server parses without
// allocating. m takes ownership of data as with Parse. On error m holds
// what could be read when that is enough to answer (see Parse) and is
// empty otherwise.
func (l Limits) ParseInto(m *Message, data []byte) error {
	m.Reset()
	keep, err := l.parse(m, data)
	if err != nil && !keep {
		m.Reset()
	}
	return err
}

// parse fills the empty message m. keep reports, with an error, whether m
// is a request worth answering: its start line and header block were read.
func (l Limits) parse(m *Message, data []byte) (keep bool, err error) {
	if uint64(len(data)) > maxOffset || (l.MaxSize > 0 && len(data) > l.MaxSize) {
		return false, ErrTooLarge
	}
	// §7.5: CRLFs before the start line are ignored.
	i := 0
	for i < len(data) && (data[i] == '\r' || data[i] == '\n') {
		i++
	}
	if i == len(data) {
		return false, ErrEmpty
	}
	data = data[i:]
	m.raw = data
	if m.fields == nil {
		m.fields = m.inline[:0]
	}
	end, next, ok := lineEnd(data, 0)
	if !ok {
		return false, ErrNoBody
	}
	m.startEnd = uint32(next)
	err = m.parseStartLine(data[:end])
	if err != nil && !m.isRequest {
		return false, err
	}
	bodyStart, herr := l.parseHeaders(m, data, next)
	if err == nil {
		err = herr
	}
	if herr == nil || herr == ErrHeaderLine {
		if berr := m.cutBody(data[bodyStart:]); err == nil {
			err = berr
		}
	}
	return m.isRequest, err
}

// parseHeaders records every header line from data[i:] up to the empty
// line and returns where the body starts. A malformed line is skipped and
// reported (ErrHeaderLine) once the rest are read, so that a request with
// one bad line can still be answered; a limit stops the reading.
func (l Limits) parseHeaders(m *Message, data []byte, i int) (bodyStart int, err error) {
	for {
		if i >= len(data) {
			// The datagram ends after a complete header line without the
			// empty line. Nothing is missing but the terminator, so take
			// it as read; RFC 5118's archive has messages like that.
			return i, err
		}
		start := i
		end, next, ok := lineEnd(data, i)
		if !ok {
			return len(data), ErrNoBody
		}
		if end == start {
			return next, err // the empty line
		}
		// Folded lines (§7.3.1) continue while the next line starts with
		// white space; the value keeps them and trimLWS copes.
		for next < len(data) && isWS(data[next]) {
			if end, next, ok = lineEnd(data, next); !ok {
				return len(data), ErrNoBody
			}
		}
		if (l.MaxLineLength > 0 && end-start > l.MaxLineLength) || next-start > maxLine {
			return len(data), ErrLineTooLong
		}
		if l.MaxHeaders > 0 && len(m.fields) >= l.MaxHeaders {
			return len(data), ErrTooManyHeaders
		}
		// Fill the next field in place: it saves copying the struct.
		n := len(m.fields)
		if n == cap(m.fields) {
			m.fields = append(m.fields, field{})
		} else {
			m.fields = m.fields[:n+1]
		}
		if !parseHeaderLine(&m.fields[n], data, start, end) {
			m.fields = m.fields[:n]
			if err == nil {
				err = ErrHeaderLine
			}
			i = next
			continue
		}
		m.fields[n].end = uint32(next)
		i = next
	}
}

// parseHeaderLine parses data[start:end], "Name : value" (§7.3.1: white
// space may stand before and after the colon), into f. One loop both finds
// the end of the name and checks it is a token, which on short names beats
// searching for the colon first.
func parseHeaderLine(f *field, data []byte, start, end int) bool {
	line := data[start:end]
	n := 0
	for n < len(line) && tokenChars[line[n]] {
		n++
	}
	if n == 0 {
		return false
	}
	colon := n
	for colon < len(line) && isWS(line[colon]) {
		colon++
	}
	if colon == len(line) || line[colon] != ':' {
		return false
	}
	vs, ve := colon+1, len(line)
	for vs < ve && isLWS(line[vs]) {
		vs++
	}
	for ve > vs && isLWS(line[ve-1]) {
		ve--
	}
	*f = newField(start, start+n, start+vs, start+ve, start, lookupHeaderAt(data, start, n), false)
	return true
}

// cutBody applies Content-Length (§18.3): bytes past it in a datagram are
// dropped, and a datagram shorter than it is an error. Without the header
// the body is the rest of the datagram.
func (m *Message) cutBody(rest []byte) error {
	idx, n := -1, 0
	for i := range m.fields {
		if m.fields[i].id == HContentLength {
			if idx < 0 {
				idx = i
			}
			n++
		}
	}
	if idx < 0 {
		m.body = rest
		return nil
	}
	if n > 1 {
		return ErrContentLength
	}
	length, ok := parseUint(m.fieldValue(&m.fields[idx]), 1<<62)
	if !ok {
		return ErrContentLength
	}
	if length > uint64(len(rest)) {
		return ErrBodyTruncated
	}
	m.body = rest[:length]
	if extra := len(rest) - int(length); extra > 0 {
		// Keep raw in step with what the message is, so an unedited
		// message forwards without the trailing bytes.
		m.raw = m.raw[:len(m.raw)-extra]
	}
	return nil
}

// parseStartLine parses a Request-Line or a Status-Line (§7.1, §7.2).
// Once the method is read the message is a request even if the rest of the
// line is wrong, so that the error can be answered.
func (m *Message) parseStartLine(line []byte) error {
	if len(line) >= 4 && equalFold(line[:4], "SIP/") {
		return m.parseStatusLine(line)
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return ErrStartLine
	}
	method := line[:sp1]
	for _, c := range method {
		if !tokenChars[c] {
			return ErrStartLine
		}
	}
	m.isRequest = true
	m.method = view(method)
	rest := line[sp1+1:]
	sp2 := bytes.LastIndexByte(rest, ' ')
	if sp2 < 0 {
		m.uri = view(rest)
		return ErrStartLine
	}
	uri, version := rest[:sp2], rest[sp2+1:]
	m.uri = view(uri)
	m.version = view(version)
	// Exactly one SP between the elements (RFC 4475 lwsstart, trws).
	if len(uri) == 0 || uri[0] == ' ' || uri[len(uri)-1] == ' ' || len(version) == 0 {
		return ErrStartLine
	}
	if err := checkVersion(version); err != nil {
		return err
	}
	if bytes.IndexByte(uri, ' ') >= 0 || bytes.IndexByte(uri, '\t') >= 0 {
		return ErrURI // RFC 4475 lwsruri
	}
	return nil
}

func (m *Message) parseStatusLine(line []byte) error {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return ErrStartLine
	}
	if err := checkVersion(line[:sp]); err != nil {
		return err
	}
	rest := line[sp+1:]
	// A liberal reading of RFC 4475 noreason: "SIP/2.0 100" without the
	// SP before an empty reason phrase is accepted too.
	if len(rest) < 3 || (len(rest) > 3 && rest[3] != ' ') {
		return ErrStartLine
	}
	code, ok := parseUint(view(rest[:3]), 699)
	if !ok || code < 100 {
		return ErrStartLine
	}
	m.status = int16(code)
	m.version = view(line[:sp])
	if len(rest) > 4 {
		m.reason = view(rest[4:])
	}
	return nil
}

// checkVersion accepts SIP/2.0 and tells a well-formed other version (505)
// from garbage (400).
func checkVersion(v []byte) error {
	if equalFold(v, "SIP/2.0") {
		return nil
	}
	if len(v) < 7 || !equalFold(v[:4], "SIP/") {
		return ErrStartLine
	}
	dot := bytes.IndexByte(v[4:], '.')
	if dot <= 0 || 4+dot+1 >= len(v) {
		return ErrStartLine
	}
	if _, ok := parseUint(view(v[4:4+dot]), 1<<20); !ok {
		return ErrStartLine
	}
	if _, ok := parseUint(view(v[4+dot+1:]), 1<<20); !ok {
		return ErrStartLine
	}
	return ErrVersion
}
