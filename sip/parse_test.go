package sip

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

const minimal = "OPTIONS sip:a@b.example SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP c.example;branch=z9hG4bK1\r\n" +
	"From: <sip:c@c.example>;tag=1\r\n" +
	"To: <sip:a@b.example>\r\n" +
	"Call-ID: min@c.example\r\n" +
	"CSeq: 1 OPTIONS\r\n" +
	"Content-Length: 0\r\n\r\n"

func TestLimits(t *testing.T) {
	many := "OPTIONS sip:a@b SIP/2.0\r\n" + strings.Repeat("X-A: 1\r\n", 10) + "\r\n"
	long := "OPTIONS sip:a@b SIP/2.0\r\nX-A: " + strings.Repeat("a", 100) + "\r\n\r\n"
	folded := "OPTIONS sip:a@b SIP/2.0\r\nX-A: " + strings.Repeat("a\r\n ", 40) + "\r\n\r\n"
	tests := []struct {
		l    Limits
		msg  string
		err  error
		keep bool
	}{
		{Limits{MaxSize: 10}, minimal, ErrTooLarge, false},
		{Limits{MaxSize: len(minimal)}, minimal, nil, true},
		{Limits{MaxHeaders: 9}, many, ErrTooManyHeaders, true},
		{Limits{MaxHeaders: 10}, many, nil, true},
		{Limits{MaxLineLength: 50}, long, ErrLineTooLong, true},
		{Limits{MaxLineLength: 105}, long, nil, true},
		{Limits{MaxLineLength: 100}, folded, ErrLineTooLong, true},
		{Limits{}, "OPTIONS sip:a@b SIP/2.0\r\nX-A: " + strings.Repeat("a", 70000) + "\r\n\r\n", ErrLineTooLong, true},
		{DefaultLimits, strings.Repeat("a", 64<<10+1), ErrTooLarge, false},
	}
	for i, tc := range tests {
		m, err := tc.l.Parse([]byte(tc.msg))
		if !errors.Is(err, tc.err) {
			t.Errorf("%d: got %v, want %v", i, err, tc.err)
		}
		if (m != nil) != tc.keep {
			t.Errorf("%d: message kept: %v", i, m != nil)
		}
		if tc.err != nil {
			if e := new(Error); !errors.As(err, &e) || e.Code != 513 && e.Code != 400 {
				t.Errorf("%d: code %v", i, err)
			}
		}
	}
	eq(t, "513", ErrTooLarge.Code, 513)
	eq(t, "413", ErrBodyTooLarge.Code, 413)
	eq(t, "error text", ErrTooManyHeaders.Error(), "sip: 513 Too Many Headers")
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, msg string
		err       error
		keep      bool // a request that can be answered
	}{
		{"empty", "", ErrEmpty, false},
		{"only CRLF", "\r\n\r\n", ErrEmpty, false},
		{"no line end", "OPTIONS sip:a@b SIP/2.0", ErrNoBody, false},
		{"garbage", "hello\r\n\r\n", ErrStartLine, false},
		{"bad method", "OPT(IONS sip:a@b SIP/2.0\r\n\r\n", ErrStartLine, false},
		{"no version", "OPTIONS sip:a@b\r\n\r\n", ErrStartLine, true},
		{"bad version", "OPTIONS sip:a@b SIP/two\r\n\r\n", ErrStartLine, true},
		{"version 3", "OPTIONS sip:a@b SIP/3.0\r\n\r\n", ErrVersion, true},
		{"response version", "SIP/3.0 200 OK\r\n\r\n", ErrVersion, false},
		{"bad status", "SIP/2.0 20 OK\r\n\r\n", ErrStartLine, false},
		{"status 700", "SIP/2.0 700 X\r\n\r\n", ErrStartLine, false},
		{"status 099", "SIP/2.0 099 X\r\n\r\n", ErrStartLine, false},
		{"status text", "SIP/2.0 2x0 X\r\n\r\n", ErrStartLine, false},
		{"no status", "SIP/2.0\r\n\r\n", ErrStartLine, false},
		{"header line", strings.Replace(minimal, "Call-ID: min@c.example\r\n", "Call-ID min@c.example\r\nCall-ID: min@c.example\r\n", 1), ErrHeaderLine, true},
		{"bad header name", strings.Replace(minimal, "CSeq:", "C Seq:", 1), ErrHeaderLine, true},
		{"continuation first", "OPTIONS sip:a@b SIP/2.0\r\n more\r\nVia: x\r\n\r\n", ErrHeaderLine, true},
		{"unterminated", "OPTIONS sip:a@b SIP/2.0\r\nVia: x", ErrNoBody, true},
		{"unterminated fold", "OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n y", ErrNoBody, true},
		{"length word", strings.Replace(minimal, "Content-Length: 0", "Content-Length: five", 1), ErrContentLength, true},
		{"length huge", strings.Replace(minimal, "Content-Length: 0", "Content-Length: 99999999999999999999999", 1), ErrContentLength, true},
		{"length short", strings.Replace(minimal, "Content-Length: 0", "Content-Length: 1", 1), ErrBodyTruncated, true},
		{"response error dropped", "SIP/2.0 200 OK\r\nContent-Length: 9\r\n\r\n", ErrBodyTruncated, false},
	}
	for _, tc := range tests {
		m, err := Parse([]byte(tc.msg))
		if err != tc.err {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.err)
		}
		if (m != nil) != tc.keep {
			t.Errorf("%s: kept %v", tc.name, m != nil)
		}
		if m != nil {
			exerciseAll(m)
		}
		var pm Message
		if err := DefaultLimits.ParseInto(&pm, []byte(tc.msg)); err != tc.err {
			t.Errorf("%s: ParseInto: %v", tc.name, err)
		}
		if !tc.keep && (pm.HeaderCount() != 0 || pm.IsRequest()) {
			t.Errorf("%s: ParseInto left state behind", tc.name)
		}
	}
}

func TestParseLeniency(t *testing.T) {
	// CRLFs before the start line (§7.5), bare LF, LWS around the colon,
	// a datagram without the final empty line.
	for _, msg := range []string{
		"\r\n\r\n" + minimal,
		strings.ReplaceAll(minimal, "\r\n", "\n"),
		strings.Replace(minimal, "CSeq: 1", "CSeq   :   1", 1),
		strings.TrimSuffix(minimal, "\r\n"),
		"SIP/2.0 200\r\nVia: SIP/2.0/UDP c.example;branch=z9hG4bK1\r\nFrom: <sip:c@c.example>;tag=1\r\nTo: <sip:a@b.example>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n",
		strings.Replace(minimal, "OPTIONS sip:a@b.example SIP/2.0", "OPTIONS sip:a@b.example sip/2.0", 1),
	} {
		m, err := Parse([]byte(msg))
		if err != nil {
			t.Errorf("%q: %v", msg, err)
			continue
		}
		if err := m.Validate(); err != nil {
			t.Errorf("%q: %v", msg, err)
		}
	}
	m, _ := Parse([]byte("\r\n" + minimal))
	eq(t, "raw drops leading CRLF", string(m.Raw()), minimal)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name, from, to string
		err            error
	}{
		{"ok", "", "", nil},
		{"missing via", "Via: SIP/2.0/UDP c.example;branch=z9hG4bK1\r\n", "", ErrMissingVia},
		{"missing to", "To: <sip:a@b.example>\r\n", "", ErrMissingTo},
		{"missing call-id", "Call-ID: min@c.example\r\n", "", ErrMissingCallID},
		{"missing cseq", "CSeq: 1 OPTIONS\r\n", "", ErrMissingCSeq},
		{"two to", "To: <sip:a@b.example>\r\n", "To: <sip:a@b.example>\r\nTo: <sip:x@b.example>\r\n", ErrMultipleTo},
		{"two call-id", "Call-ID: min@c.example\r\n", "Call-ID: a\r\ni: b\r\n", ErrMultipleCallID},
		{"two cseq", "CSeq: 1 OPTIONS\r\n", "CSeq: 1 OPTIONS\r\nCSeq: 2 OPTIONS\r\n", ErrMultipleCSeq},
		{"call-id space", "Call-ID: min@c.example\r\n", "Call-ID: a b\r\n", ErrCallID},
		{"cseq big", "CSeq: 1 OPTIONS\r\n", "CSeq: 2147483648 OPTIONS\r\n", ErrCSeq},
		{"cseq no method", "CSeq: 1 OPTIONS\r\n", "CSeq: 1\r\n", ErrCSeq},
		{"cseq no space", "CSeq: 1 OPTIONS\r\n", "CSeq: 1OPTIONS\r\n", ErrCSeq},
		{"max-forwards", "CSeq: 1 OPTIONS\r\n", "CSeq: 1 OPTIONS\r\nMax-Forwards: 256\r\n", ErrMaxForwards},
		{"two max-forwards", "CSeq: 1 OPTIONS\r\n", "CSeq: 1 OPTIONS\r\nMax-Forwards: 1\r\nMax-Forwards: 2\r\n", ErrMultipleMaxFwd},
		{"star route", "CSeq: 1 OPTIONS\r\n", "CSeq: 1 OPTIONS\r\nRoute: *\r\n", ErrRoute},
		{"via version", "Via: SIP/2.0/UDP c.example;branch=z9hG4bK1\r\n", "Via: SIP/3.0/UDP c.example\r\n", ErrVia},
		{"top via params", "Via: SIP/2.0/UDP c.example;branch=z9hG4bK1\r\n", "Via: SIP/2.0/UDP c.example;;,;,,\r\n", ErrVia},
		{"two from", "From: <sip:c@c.example>;tag=1\r\n", "From: <sip:c@c.example>;tag=1\r\nf: <sip:d@c.example>\r\n", ErrMultipleFrom},
		{"missing from", "From: <sip:c@c.example>;tag=1\r\n", "", ErrMissingFrom},

		// The leniency table: what Parley only forwards never fails.
		{"expires", "CSeq: 1 OPTIONS\r\n", "CSeq: 1 OPTIONS\r\nExpires: -1\r\n", nil},
		{"star contact", "CSeq: 1 OPTIONS\r\n", "CSeq: 1 OPTIONS\r\nContact: *, <sip:a@b>\r\n", nil},
		{"star from", "From: <sip:c@c.example>;tag=1\r\n", "From: *\r\n", nil},
		{"to with a space in the host", "To: <sip:a@b.example>\r\n", "To: <sip:a@b .example>\r\n", nil},
		{"to with duplicate uri params", "To: <sip:a@b.example>\r\n", "To: <sip:a@b.example;transport=udp;transport=udp>\r\n", nil},
		{"lower via params", "Via: SIP/2.0/UDP c.example;branch=z9hG4bK1\r\n", "Via: SIP/2.0/UDP c.example;branch=z9hG4bK1, SIP/2.0/UDP d.example;;,\r\n", nil},
		{"lower via version", "Via: SIP/2.0/UDP c.example;branch=z9hG4bK1\r\n", "Via: SIP/2.0/UDP c.example;branch=z9hG4bK1\r\nVia: SIP/3.0/UDP d.example\r\n", nil},
		{"record-route", "CSeq: 1 OPTIONS\r\n", "CSeq: 1 OPTIONS\r\nRecord-Route: <sip:p.example;lr\r\n", nil},
		{"content-type", "CSeq: 1 OPTIONS\r\n", "CSeq: 1 OPTIONS\r\nContent-Type: application\r\n", nil},
		{"tel uri", "OPTIONS sip:a@b.example", "OPTIONS tel:+123", nil},
		{"unknown scheme", "OPTIONS sip:a@b.example", "OPTIONS xmpp:a@b.example", ErrUnsupportedURI},
		{"bad scheme", "OPTIONS sip:a@b.example", "OPTIONS sip:a@", ErrURI},
	}
	for _, tc := range tests {
		msg := minimal
		if tc.from != "" {
			msg = strings.Replace(msg, tc.from, tc.to, 1)
		}
		m, err := Parse([]byte(msg))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := m.Validate(); err != tc.err {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.err)
		}
	}
}

// TestLenientTags: the From and To tags are read even when the rest of
// the value does not parse, since a proxy needs nothing else of them.
func TestLenientTags(t *testing.T) {
	tests := []struct{ value, tag string }{
		{"<sip:a@b.example>;tag=t1", "t1"},
		{"\"A\" <sip:a@b .example;transport=udp;transport=udp> ; tag = t2 ;x", "t2"},
		{"sip:a@b .example;tag=t3", "t3"},
		{"<sip:a@b .example;tag=uri-param>", ""},
		{"<sip:a@b .example>", ""},
		{"*;tag=t4", "t4"},
	}
	for _, tc := range tests {
		m, err := Parse([]byte(strings.Replace(strings.Replace(minimal, "<sip:a@b.example>", tc.value, 1),
			"<sip:c@c.example>;tag=1", tc.value, 1)))
		if err != nil {
			t.Fatalf("%s: %v", tc.value, err)
		}
		if got := m.ToTag(); got != tc.tag {
			t.Errorf("To: %s: tag %q, want %q", tc.value, got, tc.tag)
		}
		if got := m.FromTag(); got != tc.tag {
			t.Errorf("From: %s: tag %q, want %q", tc.value, got, tc.tag)
		}
	}
}

func TestAccessors(t *testing.T) {
	m, _ := Parse([]byte(minimal))
	eq(t, "method", m.Method(), "OPTIONS")
	eq(t, "ruri", m.RequestURI(), "sip:a@b.example")
	eq(t, "status", m.StatusCode(), 0)
	eq(t, "is request", m.IsRequest(), true)
	eq(t, "edited", m.Edited(), false)
	eq(t, "header", m.Header("call-id"), "min@c.example")
	eq(t, "missing header", m.Header("X-Nope"), "")
	eq(t, "has", m.HasHeader("i"), true)
	eq(t, "string", m.String(), minimal)
	eq(t, "bytes", string(m.Bytes()), minimal)
	n := 0
	m.EachHeader(func(name, value string) bool { n++; return name != "From" })
	eq(t, "each stops", n, 2)
	e, ok, err := m.MinExpires()
	eq(t, "min-expires", e == 0 && !ok && err == nil, true)
	m.SetMaxForwards(300)
	mf, _ := m.MaxForwards()
	eq(t, "max-forwards clamps", mf, 255)
	eq(t, "edited", m.Edited(), true)
	m.SetBody("", nil)
	eq(t, "no body", bytes.Contains(m.Bytes(), []byte("Content-Type")), false)
	m.SetHeader("Min-Expires", "60")
	e, ok, err = m.MinExpires()
	eq(t, "min-expires set", e == 60 && ok && err == nil, true)
	eq(t, "pop route none", m.PopRoute(), false)
	m.SetTopVia("SIP/2.0/TCP new.example;branch=z9hG4bK2")
	v, _ := m.TopVia()
	eq(t, "top via", v.Host, "new.example")
	m.RemoveHeader("Via")
	m.SetTopVia("SIP/2.0/TCP only.example;branch=z9hG4bK3")
	v, _ = m.TopVia()
	eq(t, "only via", v.Host, "only.example")

	r, _ := Parse([]byte("SIP/2.0 503 Service Unavailable\r\nVia: SIP/2.0/UDP a.example;branch=z9hG4bKx, SIP/2.0/UDP b.example;branch=z9hG4bKy\r\nContent-Length: 0\r\n\r\n"))
	r.SetStatus(500, "Server Internal Error")
	r.PopVia()
	out, err := Parse(r.AppendTo(nil))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "status line", out.StatusCode(), 500)
	eq(t, "via left", mustVias(t, out)[0].Host, "b.example")
	eq(t, "via line", out.Header("Via"), "SIP/2.0/UDP b.example;branch=z9hG4bKy")
	r.SetTopVia("SIP/2.0/UDP c.example;branch=z9hG4bKz")
	eq(t, "set top via keeps rest", len(mustVias(t, r)), 1)

	// A zero Message can be written without panicking.
	var z Message
	z.AddHeader("X-A", "b")
	_ = z.String()
	z.Reset()
	eq(t, "reset", z.HeaderCount(), 0)
}

func TestNewResponse(t *testing.T) {
	req, _ := Parse(loadGolden(t, "invite.sip"))
	r := NewResponse(req, 180, "", "8a7b6c", "Contact", "<sip:bob@192.0.2.4>")
	if err := r.Validate(); err != nil {
		t.Fatalf("%v\n%s", err, r.Bytes())
	}
	eq(t, "status", r.StatusCode(), 180)
	eq(t, "reason", r.Reason(), "Ringing")
	eq(t, "via", r.Header("Via"), req.Header("Via"))
	eq(t, "to tag", mustTo(t, r).Tag(), "8a7b6c")
	eq(t, "to uri", mustTo(t, r).URI.String(), "sip:bob@example.com")
	eq(t, "from", r.Header("From"), req.Header("From"))
	eq(t, "call-id", r.Header("Call-ID"), req.Header("Call-ID"))
	eq(t, "cseq", r.Header("CSeq"), "314159 INVITE")
	eq(t, "contact", r.Header("Contact"), "<sip:bob@192.0.2.4>")
	eq(t, "length", r.Header("Content-Length"), "0")
	eq(t, "no allow", r.HasHeader("Allow"), false)

	// 100 Trying: no tag, Timestamp echoed (§8.2.6.1).
	req2, _ := Parse([]byte(strings.Replace(minimal, "Content-Length: 0", "Timestamp: 54\r\nContent-Length: 0", 1)))
	r = NewResponse(req2, 100, "", "")
	eq(t, "trying tag", mustTo(t, r).Tag(), "")
	eq(t, "timestamp", r.Header("Timestamp"), "54")

	// A To that already has a tag keeps it.
	req3, _ := Parse([]byte(strings.Replace(minimal, "To: <sip:a@b.example>", "To: <sip:a@b.example>;tag=old", 1)))
	eq(t, "existing tag", mustTo(t, NewResponse(req3, 200, "", "new")).Tag(), "old")

	// Every Via line in order, one line of each single header (multi01).
	data, _ := readTorture("rfc4475", "multi01")
	req4, _ := Parse(data)
	r = NewResponse(req4, 400, "Multiple From Headers", "x")
	eq(t, "one from", r.count(HFrom), 1)
	eq(t, "one to", r.count(HTo), 1)
	eq(t, "one cseq", r.count(HCSeq), 1)
	eq(t, "reason", r.Reason(), "Multiple From Headers")

	// Odd arguments still give a message that parses.
	r = NewResponse(req, 42, "bad\r\nX-Evil: 1", "t")
	eq(t, "clamped", r.StatusCode(), 500)
	r = NewResponse(req, 404, "Not\r\nFound", "t\r\nX: y", "X-A", "a\r\nb")
	eq(t, "clean reason", r.Reason(), "Not  Found")
	eq(t, "clean extra", r.Header("X-A"), "a  b")
	eq(t, "no smuggled header", r.HasHeader("X"), false)
	r = NewResponse(&Message{}, 400, "", "t")
	eq(t, "empty request", r.StatusCode(), 400)

	b := NewRequestBuilder("OPTIONS", "sip:a@b.example").
		Header("Via", "SIP/2.0/UDP c.example;branch=z9hG4bK1").
		Header("From", "<sip:c@c.example>;tag=1").Header("To", "<sip:a@b.example>").
		Header("Call-ID", "x@y").Header("CSeq", "1 OPTIONS")
	m, err := b.Message("text/plain", []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	eq(t, "built body", string(m.Body()), "hi")
	eq(t, "reason phrase", ReasonPhrase(299), "OK")
	eq(t, "reason phrase 6xx", ReasonPhrase(699), "Global Failure")
	eq(t, "reason phrase 482", ReasonPhrase(482), "Loop Detected")
}

func readTorture(dir, name string) ([]byte, error) {
	return os.ReadFile("testdata/" + dir + "/" + name + ".sip")
}
