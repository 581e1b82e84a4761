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
	MaxLineLength int
}

// DefaultLimits are generous for any real phone and small enough for a
// server: 64 KiB per message, 256 headers, 8 KiB per header line.
var DefaultLimits = Limits{MaxSize: 64 << 10, MaxHeaders: 256, MaxLineLength: 8 << 10}

// Parse parses one SIP message from a datagram or a frame cut by a Framer.
// The message takes ownership of data, which must not be modified after.
func Parse(data []byte) (*Message, error) { return DefaultLimits.Parse(data) }

// Parse parses one message under the limits l. See the package function.
func (l Limits) Parse(data []byte) (*Message, error) {
	m := new(Message)
	if err := l.parseInto(m, data); err != nil {
		return nil, err
	}
	return m, nil
}

func (l Limits) parseInto(m *Message, data []byte) error {
	if l.MaxSize > 0 && len(data) > l.MaxSize {
		return ErrTooLarge
	}
	// §7.5: CRLFs before the start line are ignored.
	i := 0
	for i < len(data) && (data[i] == '\r' || data[i] == '\n') {
		i++
	}
	if i == len(data) {
		return ErrEmpty
	}
	m.raw = data
	end, next, ok := lineEnd(data, i)
	if !ok {
		return ErrNoBody
	}
	if err := m.parseStartLine(data[i:end]); err != nil {
		return err
	}
	m.fields = m.inline[:0]
	bodyStart, err := l.parseHeaders(m, data, next)
	if err != nil {
		return err
	}
	return m.cutBody(data[bodyStart:])
}

// parseHeaders records every header line from data[i:] up to the empty
// line and returns where the body starts.
func (l Limits) parseHeaders(m *Message, data []byte, i int) (int, error) {
	for {
		if i >= len(data) {
			return 0, ErrNoBody
		}
		start := i
		end, next, ok := lineEnd(data, i)
		if !ok {
			return 0, ErrNoBody
		}
		if end == start {
			return next, nil // the empty line
		}
		if isWS(data[start]) {
			return 0, ErrHeaderLine // a continuation with nothing to continue
		}
		// Folded lines (§7.3.1) continue while the next line starts with
		// white space; the value keeps them and trimLWS copes.
		for next < len(data) && isWS(data[next]) {
			var ok bool
			end, next, ok = lineEnd(data, next)
			if !ok {
				return 0, ErrNoBody
			}
		}
		if l.MaxLineLength > 0 && end-start > l.MaxLineLength {
			return 0, ErrLineTooLong
		}
		if l.MaxHeaders > 0 && len(m.fields) >= l.MaxHeaders {
			return 0, ErrTooManyHeaders
		}
		f, err := parseHeaderLine(data[start:end])
		if err != nil {
			return 0, err
		}
		f.raw = view(data[start:next])
		m.fields = append(m.fields, f)
		i = next
	}
}

// parseHeaderLine splits "Name : value" (§7.3.1: white space may stand
// before and after the colon).
func parseHeaderLine(line []byte) (field, error) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return field{}, ErrHeaderLine
	}
	name := line[:colon]
	for len(name) > 0 && isWS(name[len(name)-1]) {
		name = name[:len(name)-1]
	}
	for _, c := range name {
		if !isTokenChar(c) {
			return field{}, ErrHeaderLine
		}
	}
	if len(name) == 0 {
		return field{}, ErrHeaderLine
	}
	return field{
		id:    lookupHeader(name),
		name:  view(name),
		value: view(trimLWSBytes(line[colon+1:])),
	}, nil
}

// cutBody applies Content-Length (§18.3): bytes past it in a datagram are
// dropped, and a datagram shorter than it is an error.
func (m *Message) cutBody(rest []byte) error {
	i := m.find(HContentLength, "")
	if i < 0 {
		m.body = rest
		return nil
	}
	if m.count(HContentLength) > 1 {
		return ErrContentLength
	}
	n, ok := parseUint(m.fields[i].value, uint64(len(m.raw)))
	if !ok {
		if _, ok := parseUint(m.fields[i].value, 1<<62); ok {
			return ErrBodyTruncated
		}
		return ErrContentLength
	}
	if int(n) > len(rest) {
		return ErrBodyTruncated
	}
	m.body = rest[:n]
	if int(n) < len(rest) {
		// Keep raw in step with what the message is, so an unedited
		// message forwards without the trailing bytes.
		m.raw = m.raw[:len(m.raw)-(len(rest)-int(n))]
	}
	return nil
}

// parseStartLine parses a Request-Line or a Status-Line (§7.1, §7.2).
func (m *Message) parseStartLine(line []byte) error {
	if len(line) >= 4 && equalFold(line[:4], "SIP/") {
		return m.parseStatusLine(line)
	}
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1 {
		return ErrStartLine
	}
	method, uri, version := line[:sp1], line[sp1+1:sp2], line[sp2+1:]
	for _, c := range method {
		if !isTokenChar(c) {
			return ErrStartLine
		}
	}
	if err := checkVersion(version); err != nil {
		return err
	}
	if len(uri) == 0 || bytes.IndexByte(uri, ' ') >= 0 || bytes.IndexByte(uri, '\t') >= 0 {
		return ErrURI
	}
	m.isRequest = true
	m.method = view(method)
	m.uri = view(uri)
	m.version = view(version)
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
	if len(rest) < 3 || (len(rest) > 3 && rest[3] != ' ') {
		return ErrStartLine
	}
	code, ok := parseUint(view(rest[:3]), 699)
	if !ok || code < 100 {
		return ErrStartLine
	}
	m.status = int(code)
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
