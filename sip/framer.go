package sip

import "bytes"

// Framer cuts a byte stream (TCP, TLS) into messages by Content-Length
// (§18.3). CRLFs between messages are skipped; a double CRLF is a
// keep-alive ping (RFC 5626 §3.5.1) that the caller answers with one CRLF.
//
// The zero Framer is ready to use with DefaultLimits' size.
type Framer struct {
	// Limits bound one message; MaxSize also bounds what the framer buffers.
	Limits Limits
	buf    []byte
	scan   int   // the header block's end is not before buf[scan]
	err    error // sticky: once the stream is broken it stays broken
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

var ping = []byte("\r\n\r\n")

// Next returns the next complete frame, ok=false when more bytes are
// needed, or an error when the stream can never become a valid message:
// the connection should then be closed (after answering, if the error's
// code and what was read allow). Once Next has returned an error it
// returns it again.
func (f *Framer) Next() (fr Frame, ok bool, err error) {
	if f.err != nil {
		return Frame{}, false, f.err
	}
	// Skip CRLFs before a start line; "\r\n\r\n" is a ping. The run is
	// read a byte at a time, so that a ping is found wherever it starts in
	// it ("\r\r\n\r\n" holds one) however the bytes were split across
	// writes: the fuzzer found the frames depended on that otherwise.
	i := 0
	for i < len(f.buf) && (f.buf[i] == '\r' || f.buf[i] == '\n') {
		rest := f.buf[i:]
		if bytes.HasPrefix(rest, ping) {
			f.consume(i + len(ping))
			return Frame{Ping: true}, true, nil
		}
		if len(rest) < len(ping) && bytes.HasPrefix(ping, rest) {
			f.consume(i)
			return Frame{}, false, nil // maybe the start of a ping
		}
		i++
	}
	if i > 0 {
		f.consume(i)
	}
	limit := f.Limits.MaxSize
	if limit <= 0 {
		limit = DefaultLimits.MaxSize
	}
	end := f.headerEnd()
	if end < 0 {
		if len(f.buf) > limit {
			return f.fail(ErrTooLarge)
		}
		return Frame{}, false, nil
	}
	if end > limit {
		return f.fail(ErrTooLarge)
	}
	n, err := contentLength(f.buf[:end])
	if err != nil {
		return f.fail(err)
	}
	if n > limit-end {
		return f.fail(ErrBodyTooLarge)
	}
	if len(f.buf) < end+n {
		return Frame{}, false, nil
	}
	msg := make([]byte, end+n)
	copy(msg, f.buf)
	f.consume(end + n)
	return Frame{Message: msg}, true, nil
}

func (f *Framer) fail(err error) (Frame, bool, error) {
	f.err = err
	f.buf = nil
	return Frame{}, false, err
}

// headerEnd returns the index just past the empty line that ends the
// header block at the start of buf (CRLF CRLF, or bare LFs as Parse
// accepts them), or -1. It resumes where the last call stopped, so a
// message trickling in a byte at a time is scanned once, not once per byte.
func (f *Framer) headerEnd() int {
	for {
		j := bytes.IndexByte(f.buf[f.scan:], '\n')
		if j < 0 {
			f.scan = len(f.buf)
			return -1
		}
		p := f.scan + j
		switch {
		case p+1 < len(f.buf) && f.buf[p+1] == '\n':
			return p + 2
		case p+2 < len(f.buf) && f.buf[p+1] == '\r' && f.buf[p+2] == '\n':
			return p + 3
		case p+1 == len(f.buf) || (p+2 == len(f.buf) && f.buf[p+1] == '\r'):
			f.scan = p // wait to see what follows this line
			return -1
		}
		f.scan = p + 1
	}
}

func (f *Framer) consume(n int) {
	rest := copy(f.buf, f.buf[n:])
	f.buf = f.buf[:rest]
	f.scan = 0
	if rest == 0 && cap(f.buf) > 64<<10 {
		f.buf = nil // give a burst's memory back
	}
}

// contentLength finds the Content-Length (or "l") header in a header
// block. It is mandatory on streams: without it the frame has no end, and
// two of them make the end ambiguous.
func contentLength(head []byte) (int, error) {
	n, found := 0, false
	for i := 0; i < len(head); {
		start := i
		end, next, ok := lineEnd(head, i)
		if !ok {
			break
		}
		line := head[start:end]
		i = next
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || isWS(line[0]) {
			continue
		}
		if lookupHeader(bytes.TrimRight(line[:colon], " \t")) != HContentLength {
			continue
		}
		// The value may be folded onto the following lines.
		for i < len(head) && isWS(head[i]) {
			if end, i, ok = lineEnd(head, i); !ok {
				break
			}
		}
		if found {
			return 0, ErrContentLength
		}
		v, ok := parseUint(view(trimLWSBytes(head[start+colon+1:end])), 1<<30)
		if !ok {
			return 0, ErrContentLength
		}
		n, found = int(v), true
	}
	if !found {
		return 0, ErrMissingLength
	}
	return n, nil
}
