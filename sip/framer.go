package sip

import "bytes"

// Framer cuts a byte stream (TCP, TLS) into messages by Content-Length
// (§18.3). CRLFs between messages are skipped; a double CRLF is a
// keep-alive ping (RFC 5626 §3.5.1) that the caller answers with one CRLF.
type Framer struct {
	// Limits bound one message; MaxSize also bounds what the framer buffers.
	Limits Limits
	buf    []byte
}

// Frame is one unit cut from the stream.
type Frame struct {
	// Message holds one whole message's bytes, owned by the caller.
	Message []byte
	// Ping is set for a "\r\n\r\n" keep-alive.
	Ping bool
}

// Write appends received bytes to the framer's buffer.
func (f *Framer) Write(p []byte) {
	f.buf = append(f.buf, p...)
}

// Buffered returns how many bytes wait for the rest of their message.
func (f *Framer) Buffered() int { return len(f.buf) }

// Next returns the next complete frame, ok=false when more bytes are
// needed, or an error when the stream can never become a valid message
// (the connection should then be closed after answering, if possible).
func (f *Framer) Next() (fr Frame, ok bool, err error) {
	// Skip CRLFs before a start line; "\r\n\r\n" is a ping.
	i := 0
	for i < len(f.buf) && (f.buf[i] == '\r' || f.buf[i] == '\n') {
		i++
	}
	if i > 0 {
		if bytes.HasPrefix(f.buf, []byte("\r\n\r\n")) {
			f.consume(4)
			return Frame{Ping: true}, true, nil
		}
		if i == len(f.buf) && len(f.buf) < 4 && bytes.HasPrefix([]byte("\r\n\r\n"), f.buf) {
			return Frame{}, false, nil // maybe the start of a ping
		}
		f.consume(i)
	}
	max := f.Limits.MaxSize
	if max <= 0 {
		max = DefaultLimits.MaxSize
	}
	end := bytes.Index(f.buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(f.buf) > max {
			return Frame{}, false, ErrTooLarge
		}
		return Frame{}, false, nil
	}
	headerLen := end + 4
	n, err := contentLength(f.buf[:headerLen])
	if err != nil {
		return Frame{}, false, err
	}
	if headerLen+n > max {
		return Frame{}, false, ErrTooLarge
	}
	if len(f.buf) < headerLen+n {
		return Frame{}, false, nil
	}
	msg := make([]byte, headerLen+n)
	copy(msg, f.buf)
	f.consume(headerLen + n)
	return Frame{Message: msg}, true, nil
}

func (f *Framer) consume(n int) {
	rest := copy(f.buf, f.buf[n:])
	f.buf = f.buf[:rest]
	if rest == 0 && cap(f.buf) > 64<<10 {
		f.buf = nil // give a burst's memory back
	}
}

// contentLength finds the Content-Length (or "l") header in a header
// block. It is mandatory on streams: without it the frame has no end.
func contentLength(head []byte) (int, error) {
	for i := 0; i < len(head); {
		end, next, ok := lineEnd(head, i)
		if !ok {
			break
		}
		line := head[i:end]
		i = next
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		name := bytes.TrimRight(line[:colon], " \t")
		if lookupHeader(name) != HContentLength {
			continue
		}
		n, ok := parseUint(view(trimLWSBytes(line[colon+1:])), 1<<30)
		if !ok {
			return 0, ErrContentLength
		}
		return int(n), nil
	}
	return 0, ErrMissingLength
}
