package sip

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tortureCase is one message of RFC 4475 or RFC 5118 and what the sip
// package must make of it.
type tortureCase struct {
	name string
	// err is what Parse (atParse) or else Validate must return; nil means
	// the message is valid and both must succeed.
	err     *Error
	atParse bool
	// answerable is whether a server can answer the error: the message is
	// a request with a usable Via and From, To, Call-ID and CSeq lines.
	answerable bool
	// element notes behaviour that belongs to the element (proxy,
	// registrar, UA), beyond what parsing and Validate decide.
	element string
	check   func(t *testing.T, m *Message)
}

// The RFC 4475 messages are in testdata/rfc4475, one file per message
// named as in the RFC's archive, with the exact bytes (CRLF line ends,
// NUL, DEL, UTF-8 and the binary body of mpart01 included).
var rfc4475Cases = []tortureCase{
	// 3.1.1 Valid messages.
	{name: "wsinv", check: checkWsinv},
	{name: "intmeth", element: "proxy: 404 unless the URI is known; UA: 501 with Allow", check: checkIntmeth},
	{name: "esc01", check: checkEsc01},
	{name: "escnull", check: checkEscnull},
	{name: "esc02", element: "UA: 501 (RE%47IST%45R is not REGISTER)", check: checkEsc02},
	{name: "lwsdisp", check: func(t *testing.T, m *Message) {
		f := mustFrom(t, m)
		eq(t, "display", f.DisplayName(), "caller")
		eq(t, "tag", f.Tag(), "323")
	}},
	{name: "longreq", check: checkLongreq},
	{name: "dblreq", check: checkDblreq},
	{name: "semiuri", check: func(t *testing.T, m *Message) {
		u := mustRURI(t, m)
		eq(t, "user", u.User, "user;par=u%40example.net")
		eq(t, "unescaped user", Unescape(u.User), "user;par=u@example.net")
		eq(t, "host", u.Host, "example.com")
		eq(t, "uri params", string(u.Params), "")
		eq(t, "accept count", len(m.HeaderValues("Accept")), 6)
		eq(t, "accept[5]", m.HeaderValues("Accept")[5], "message/sipfrag")
	}},
	{name: "transports", check: func(t *testing.T, m *Message) {
		vias := mustVias(t, m)
		var got []string
		for _, v := range vias {
			got = append(got, v.Transport)
		}
		eq(t, "transports", strings.Join(got, ","), "UDP,SCTP,TLS,UNKNOWN,TCP")
		cid, _ := m.CallID()
		eq(t, "call-id", cid, "transports.kijh4akdnaqjkwendsasfdj")
	}},
	{name: "mpart01", check: func(t *testing.T, m *Message) {
		eq(t, "body length", len(m.Body()), 553)
		eq(t, "body has NUL", bytes.IndexByte(m.Body(), 0) >= 0, true)
		eq(t, "content type", m.ContentType(), "multipart/mixed")
		v := mustVias(t, m)[0]
		eq(t, "via port", v.Port, 5070)
		_, rport := v.RPort()
		eq(t, "rport", rport, true)
		eq(t, "identity", strings.HasPrefix(m.Header("y"), "r5mwreLuyDRYBi/"), true)
	}},
	{name: "unreason", check: func(t *testing.T, m *Message) {
		eq(t, "status", m.StatusCode(), 200)
		want, _ := os.ReadFile("testdata/rfc4475/unreason.sip")
		want = want[len("SIP/2.0 200 "):bytes.IndexByte(want, '\r')]
		eq(t, "reason", m.Reason(), string(want))
		eq(t, "reason starts", strings.HasPrefix(m.Reason(), "= 2**3 * 5**2 \xd0\xbd\xd0\xbe"), true)
	}},
	{name: "noreason", check: func(t *testing.T, m *Message) {
		eq(t, "status", m.StatusCode(), 100)
		eq(t, "reason", m.Reason(), "")
	}},

	// 3.1.2 Invalid messages.
	{name: "badinv01", err: ErrVia,
		element: "the Via is unusable: the 400 goes back to the source address and port, as RFC 3581 would send it",
		check: func(t *testing.T, m *Message) {
			eq(t, "answerable at the source", m.AnswerableAtSource(), true)
		}},
	{name: "clerr", err: ErrBodyTruncated, atParse: true, answerable: true,
		element: "over a stream the framer just waits for the 9999 octets"},
	{name: "ncl", err: ErrContentLength, atParse: true, answerable: true,
		element: "over a stream the framer fails and the connection is closed"},
	{name: "scalar02", err: ErrCSeq, answerable: true, check: func(t *testing.T, m *Message) {
		_, err := m.MaxForwards()
		eq(t, "max-forwards error", err, error(ErrMaxForwards))
		_, _, err = m.Expires()
		eq(t, "expires error", err, error(ErrExpires))
		c, err := m.Contacts()
		if err != nil {
			t.Fatal(err)
		}
		_, ok := c[0].Expires()
		eq(t, "contact expires valid", ok, false)
	}},
	{name: "scalarlg", err: ErrCSeq, element: "a response: discarded"},
	{name: "quotbal", element: "proxy: forwarded as written, the To is not read (leniency table); a UA answers 400",
		check: func(t *testing.T, m *Message) {
			_, err := m.To()
			eq(t, "to", err, error(ErrTo))
		}},
	{name: "ltgtruri", err: ErrURI, answerable: true},
	{name: "lwsruri", err: ErrURI, atParse: true, answerable: true},
	{name: "lwsstart", err: ErrStartLine, atParse: true, answerable: true},
	{name: "trws", err: ErrStartLine, atParse: true, answerable: true},
	{name: "escruri", err: ErrURI, answerable: true},
	{name: "baddate",
		element: "Date is not interpreted by Parley, so (as the RFC allows) the non-GMT zone is ignored",
		check: func(t *testing.T, m *Message) {
			eq(t, "date", m.Header("Date"), "Fri, 01 Jan 2010 16:00:00 EST")
		}},
	{name: "regbadct", element: "registrar: 400 Malformed Contact (the Contacts of a REGISTER are strict)",
		check: func(t *testing.T, m *Message) {
			_, err := m.Contacts()
			eq(t, "contact", err, error(ErrContact))
		}},
	{name: "badaspec", element: "proxy: forwarded as written, the To is not read (leniency table); a UA answers 400",
		check: func(t *testing.T, m *Message) {
			_, err := m.To()
			eq(t, "to", err, error(ErrTo))
		}},
	{name: "baddn", element: "proxy: forwarded as written unless auth must check the From (400); a UA answers 400",
		check: func(t *testing.T, m *Message) {
			_, err := m.From()
			eq(t, "from", err, error(ErrFrom))
		}},
	{name: "badvers", err: ErrVersion, atParse: true, answerable: true},
	{name: "mismatch01", err: ErrCSeqMethod, answerable: true},
	{name: "mismatch02", err: ErrCSeqMethod, answerable: true,
		element: "the RFC prefers 501 Not Implemented for the unknown method; 400 is also acceptable"},
	{name: "bigcode", err: ErrStartLine, atParse: true, element: "a response: dropped"},

	// 3.2 Transaction layer semantics.
	{name: "badbranch",
		element: "transaction layer: branch is just the magic cookie; fall back to RFC 2543 matching or 400",
		check: func(t *testing.T, m *Message) {
			eq(t, "branch", mustVias(t, m)[0].Branch(), "z9hG4bK")
		}},

	// 3.3 Application layer semantics.
	{name: "insuf", err: ErrMissingFrom,
		element: "no From, To or Call-ID to copy into a response (§8.2.6.2): dropped before any 100 Trying"},
	{name: "unkscm", err: ErrUnsupportedURI, answerable: true},
	{name: "novelsc", err: ErrUnsupportedURI, answerable: true},
	{name: "unksm2",
		element: "registrar: 400, the To of a REGISTER must be a SIP or SIPS AOR; proxy: route normally",
		check: func(t *testing.T, m *Message) {
			to, from := mustTo(t, m), mustFrom(t, m)
			eq(t, "to scheme", to.URI.Scheme, "isbn")
			eq(t, "to opaque", to.URI.Opaque, "2983792873")
			eq(t, "from scheme", from.URI.Scheme, "http")
			c, _ := m.Contacts()
			eq(t, "contact", c[0].URI.String(), "name:John_Smith")
		}},
	{name: "bext01",
		element: "proxy: 420 Bad Extension listing Proxy-Require's tokens; UA: 420 for Require's",
		check: func(t *testing.T, m *Message) {
			eq(t, "proxy-require", m.HasToken("Proxy-Require", "noproxiessupportthis"), true)
			eq(t, "require", m.Tokens("Require")[1], "nothingSupportsThisEither")
		}},
	{name: "invut", element: "UA: 415 Unsupported Media Type with Accept",
		check: func(t *testing.T, m *Message) {
			eq(t, "content type", m.ContentType(), "application/unknownformat")
			eq(t, "body", len(m.Body()), 40)
		}},
	{name: "regaut01", element: "registrar/auth: challenge with 401, the scheme is unknown",
		check: func(t *testing.T, m *Message) {
			eq(t, "authorization", m.Header("Authorization"), "NoOneKnowsThisScheme opaque-data=here")
		}},
	{name: "multi01", err: ErrMultipleFrom, answerable: true},
	{name: "mcl01", err: ErrContentLength, atParse: true, answerable: true},
	{name: "bcast", element: "proxy: the second Via is a broadcast address; do not send the response there",
		check: func(t *testing.T, m *Message) {
			eq(t, "via[1]", mustVias(t, m)[1].Host, "255.255.255.255")
		}},
	{name: "zeromf", element: "proxy: 483 Too Many Hops; an endpoint answers OPTIONS normally",
		check: func(t *testing.T, m *Message) {
			mf, err := m.MaxForwards()
			eq(t, "max-forwards", mf, 0)
			eq(t, "err", err, nil)
		}},
	{name: "cparam01", check: func(t *testing.T, m *Message) {
		c, _ := m.Contacts()
		eq(t, "contact param", c[0].Params.Has("unknownparam"), true)
		eq(t, "uri param", c[0].URI.Params.Has("unknownparam"), false)
		eq(t, "user", c[0].URI.User, "+19725552222")
	}},
	{name: "cparam02", check: func(t *testing.T, m *Message) {
		c, _ := m.Contacts()
		eq(t, "contact param", c[0].Params.Has("unknownparam"), false)
		eq(t, "uri param", c[0].URI.Params.Has("unknownparam"), true)
	}},
	{name: "regescrt", element: "registrar: store the Contact URI with its escaped header",
		check: func(t *testing.T, m *Message) {
			c, _ := m.Contacts()
			eq(t, "headers", c[0].URI.Headers, "Route=%3Csip:sip.example.com%3E")
			eq(t, "unescaped", Unescape(c[0].URI.Headers), "Route=<sip:sip.example.com>")
		}},
	{name: "sdp01", element: "UA: 406 Not Acceptable (or 400), Accept does not offer application/sdp",
		check: func(t *testing.T, m *Message) {
			eq(t, "accept", m.Header("Accept"), "text/nobodyKnowsThis")
		}},

	// 3.4 Backward compatibility.
	{name: "inv2543", element: "proxy/transaction layer: RFC 2543 matching, there is no branch",
		check: func(t *testing.T, m *Message) {
			mf, err := m.MaxForwards()
			eq(t, "max-forwards", mf, -1)
			eq(t, "err", err, nil)
			eq(t, "from tag", mustFrom(t, m).Tag(), "")
			eq(t, "branch", mustVias(t, m)[0].Branch(), "")
			eq(t, "body", len(m.Body()), 105)
			eq(t, "to user param", mustTo(t, m).Params.Has("user"), true)
			rr, _ := m.RecordRoutes()
			p, _ := rr[0].URI.Params.Get("maddr")
			eq(t, "maddr", p, "ss1.example.com")
		}},
}

// The RFC 5118 messages are in testdata/rfc5118, named as in its archive.
// The archive's files end lines with bare LF and the three with SDP
// declare a Content-Length that fits neither LF nor CRLF bodies; the files
// here are the wire form (CRLF) with the length of the body they carry.
// TestRFC5118ArchiveForm covers the published form.
var rfc5118Cases = []tortureCase{
	{name: "ipv6-good", check: func(t *testing.T, m *Message) {
		eq(t, "ruri host", mustRURI(t, m).Host, "[2001:db8::10]")
		eq(t, "via host", mustVias(t, m)[0].Host, "[2001:db8::9:1]")
		c, _ := m.Contacts()
		eq(t, "contact host", c[0].URI.Host, "[2001:db8::1]")
		eq(t, "contact display", c[0].DisplayName(), "Caller")
	}},
	{name: "ipv6-bad", err: ErrURI, answerable: true},
	{name: "port-ambiguous", check: func(t *testing.T, m *Message) {
		u := mustRURI(t, m)
		eq(t, "host", u.Host, "[2001:db8::10:5070]")
		eq(t, "port", u.Port, 0)
	}},
	{name: "port-unambiguous", check: func(t *testing.T, m *Message) {
		u := mustRURI(t, m)
		eq(t, "host", u.Host, "[2001:db8::10]")
		eq(t, "port", u.Port, 5070)
	}},
	{name: "via-received-param-with-delim", check: func(t *testing.T, m *Message) {
		v := mustVias(t, m)[0]
		eq(t, "received", v.Received(), "[2001:db8::9:255]")
		eq(t, "branch", v.Branch(), "z9hG4bKas3-111")
	}},
	{name: "via-received-param-no-delim", check: func(t *testing.T, m *Message) {
		eq(t, "received", mustVias(t, m)[0].Received(), "2001:db8::9:255")
	}},
	{name: "ipv6-in-sdp", check: func(t *testing.T, m *Message) {
		eq(t, "sdp", bytes.Contains(m.Body(), []byte("c=IN IP6 2001:db8::20\r\n")), true)
		eq(t, "to host", mustTo(t, m).URI.Host, "[2001:db8::10]")
	}},
	{name: "mult-ip-in-header", check: func(t *testing.T, m *Message) {
		v := mustVias(t, m)
		eq(t, "vias", len(v), 3)
		eq(t, "via0", v[0].Host, "[2001:db8::9:1]")
		eq(t, "via0 port", v[0].Port, 6050)
		eq(t, "via1", v[1].Host, "192.0.2.1")
		eq(t, "via2", v[2].Transport+" "+v[2].Host+" "+v[2].Received(), "TCP [2001:db8::9:255] 192.0.2.200")
	}},
	{name: "mult-ip-in-sdp", check: func(t *testing.T, m *Message) {
		eq(t, "sdp", bytes.Contains(m.Body(), []byte("c=IN IP6 2001:db8::1\r\n")), true)
	}},
	{name: "ipv4-mapped-ipv6", check: func(t *testing.T, m *Message) {
		v := mustVias(t, m)
		eq(t, "via0", v[0].Host, "[::ffff:192.0.2.10]")
		eq(t, "via0 port", v[0].Port, 19823)
		eq(t, "via1", v[1].Host, "[::ffff:192.0.2.2]")
		c, _ := m.Contacts()
		eq(t, "contact", c[0].URI.Host, "[::ffff:192.0.2.2]")
	}},
	{name: "ipv6-bug-abnf-3-colons", element: "tolerated as RFC 5118 §4.10 requires",
		check: func(t *testing.T, m *Message) {
			eq(t, "host", mustRURI(t, m).Host, "[2001:db8:::192.0.2.1]")
		}},
	{name: "ipv6-correct-abnf-2-colons", check: func(t *testing.T, m *Message) {
		eq(t, "host", mustRURI(t, m).Host, "[2001:db8::192.0.2.1]")
	}},
}

func TestRFC4475(t *testing.T) { runTorture(t, "testdata/rfc4475", rfc4475Cases) }
func TestRFC5118(t *testing.T) { runTorture(t, "testdata/rfc5118", rfc5118Cases) }

// TestTortureCorpusComplete makes sure every file has a case and back.
func TestTortureCorpusComplete(t *testing.T) {
	for dir, cases := range map[string][]tortureCase{"testdata/rfc4475": rfc4475Cases, "testdata/rfc5118": rfc5118Cases} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.sip"))
		if len(files) != len(cases) {
			t.Errorf("%s: %d files, %d cases", dir, len(files), len(cases))
		}
		names := map[string]bool{}
		for _, c := range cases {
			names[c.name+".sip"] = true
		}
		for _, f := range files {
			if !names[filepath.Base(f)] {
				t.Errorf("%s has no case", f)
			}
		}
	}
	if len(rfc4475Cases) != 49 || len(rfc5118Cases) != 12 {
		t.Errorf("RFC 4475 has 49 messages and RFC 5118 has 12; have %d and %d", len(rfc4475Cases), len(rfc5118Cases))
	}
}

func runTorture(t *testing.T, dir string, cases []tortureCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, tc.name+".sip"))
			if err != nil {
				t.Fatal(err)
			}
			m, perr := Parse(data)
			var verr error
			if perr == nil {
				verr = m.Validate()
			}
			switch {
			case tc.err == nil:
				if perr != nil || verr != nil {
					t.Fatalf("valid message: Parse: %v, Validate: %v", perr, verr)
				}
			case tc.atParse:
				if !errors.Is(perr, tc.err) {
					t.Fatalf("Parse: got %v, want %v", perr, tc.err)
				}
			default:
				if perr != nil {
					t.Fatalf("Parse: %v (want the error from Validate)", perr)
				}
				if !errors.Is(verr, tc.err) {
					t.Fatalf("Validate: got %v, want %v", verr, tc.err)
				}
			}
			if tc.err != nil {
				if got := m != nil && m.Answerable(); got != tc.answerable {
					t.Errorf("answerable: got %v, want %v", got, tc.answerable)
				}
				if m != nil && m.Answerable() {
					r := NewResponse(m, tc.err.Code, tc.err.Reason, "t1")
					if r.StatusCode() != tc.err.Code || r.Reason() != tc.err.Reason {
						t.Errorf("response: %d %s", r.StatusCode(), r.Reason())
					}
					if r.count(HVia) != m.count(HVia) || r.count(HCallID) != 1 {
						t.Errorf("response lost headers:\n%s", r.Bytes())
					}
				}
			}
			if m == nil {
				return
			}
			if perr == nil {
				checkRoundTrip(t, m)
			}
			exerciseAll(m)
			if tc.check != nil {
				tc.check(t, m)
			}
		})
	}
}

// checkRoundTrip asserts that an unedited message writes back byte for
// byte and that an edit touches only what it edits.
func checkRoundTrip(t *testing.T, m *Message) {
	t.Helper()
	if out := m.AppendTo(nil); !bytes.Equal(out, m.Raw()) {
		t.Fatalf("round trip changed the message:\n%q\n%q", out, m.Raw())
	}
	c := m.Clone()
	c.PrependHeader("Via", "SIP/2.0/UDP proxy.example.net;branch=z9hG4bKround")
	out := c.AppendTo(nil)
	m2, err := Parse(out)
	if err != nil {
		t.Fatalf("re-parse after an edit: %v\n%s", err, out)
	}
	if m2.HeaderCount() != m.HeaderCount()+1 && m.count(HContentLength) > 0 {
		t.Errorf("header count %d, want %d", m2.HeaderCount(), m.HeaderCount()+1)
	}
	if !bytes.Equal(m2.Body(), m.Body()) {
		t.Errorf("body changed")
	}
	// Every original line is in the output unchanged.
	for i := range m.fields {
		if line := m.fieldLine(&m.fields[i]); !bytes.Contains(out, line) {
			t.Errorf("line %q not forwarded byte for byte", line)
		}
	}
}

// exerciseAll calls every accessor, which must not panic on any message.
func exerciseAll(m *Message) {
	m.Validate()
	m.Answerable()
	m.AnswerableAtSource()
	m.FromTag()
	m.ToTag()
	m.Unsupported("Require", []string{"path"})
	LocalToTag(m, "salt")
	m.Vias()
	m.TopVia()
	m.From()
	m.To()
	m.CallID()
	m.CSeq()
	m.MaxForwards()
	m.Contacts()
	m.Routes()
	m.RecordRoutes()
	m.Paths()
	m.Expires()
	m.MinExpires()
	m.ContentType()
	m.RequestURIParsed()
	m.HasToken("Supported", "timer")
	m.HeaderValues("Accept")
	m.EachHeader(func(string, string) bool { return true })
	if vias, err := m.Vias(); err == nil {
		for i := range vias {
			vias[i].SentBy()
			vias[i].RPort()
			vias[i].WithReceived("192.0.2.1", 5060)
		}
	}
	if c, err := m.Contacts(); err == nil {
		for i := range c {
			c[i].Q()
			c[i].Expires()
			c[i].URI.AOR()
			c[i].DisplayName()
			_ = c[i].String()
		}
	}
	NewResponse(m, 400, "", "x")
	_ = m.Clone().String()
}

func checkWsinv(t *testing.T, m *Message) {
	u := mustRURI(t, m)
	eq(t, "ruri user", u.User, "vivekg")
	eq(t, "ruri host", u.Host, "chair-dnrc.example.com")
	eq(t, "ruri param", u.Params.Has("unknownparam"), true)
	to := mustTo(t, m)
	eq(t, "to uri", to.URI.String(), "sip:vivekg@chair-dnrc.example.com")
	eq(t, "to tag", to.Tag(), "1918181833n")
	from := mustFrom(t, m)
	eq(t, "from display", from.DisplayName(), `J Rosenberg \"`)
	eq(t, "from tag", from.Tag(), "98asjd8")
	eq(t, "from uri", from.URI.String(), "sip:jdrosen@example.com")
	mf, _ := m.MaxForwards()
	eq(t, "max-forwards", mf, 68)
	cid, _ := m.CallID()
	eq(t, "call-id", cid, "wsinv.ndaksdj@192.0.2.1")
	cs, _ := m.CSeq()
	eq(t, "cseq", cs, CSeq{Seq: 9, Method: "INVITE"})
	v := mustVias(t, m)
	eq(t, "vias", len(v), 3)
	eq(t, "via0", v[0].Transport+" "+v[0].Host+" "+v[0].Branch(), "UDP 192.0.2.2 390skdjuw")
	eq(t, "via1", v[1].Transport+" "+v[1].Host+" "+v[1].Branch(), "TCP spindle.example.com z9hG4bK9ikj8")
	eq(t, "via2", v[2].Transport+" "+v[2].Host+" "+v[2].Branch(), "UDP 192.168.255.111 z9hG4bK30239")
	eq(t, "subject present", m.HasHeader("Subject"), true)
	eq(t, "subject", m.Header("Subject"), "")
	eq(t, "newfangled", m.Header("newfangledheader"), "newfangled value\r\n continued newfangled value")
	eq(t, "unusual", m.Header("UnknownHeaderWithUnusualValue"), ";;,,;;,;")
	r, _ := m.Routes()
	eq(t, "route", r[0].URI.Host, "services.example.com")
	eq(t, "route lr", r[0].URI.Params.Has("lr"), true)
	p, _ := r[0].URI.Params.Get("unknownwith")
	eq(t, "route param", p, "value")
	c, _ := m.Contacts()
	eq(t, "contacts", len(c), 1)
	eq(t, "contact display", c[0].DisplayName(), `Quoted string ""`)
	np, _ := c[0].Params.Get("newparam")
	eq(t, "newparam", np, "newvalue")
	eq(t, "secondparam", c[0].Params.Has("secondparam"), true)
	q, ok := c[0].Q()
	eq(t, "q", q, 330)
	eq(t, "q ok", ok, true)
	eq(t, "content type", m.ContentType(), "application/sdp")
	eq(t, "body", len(m.Body()), 150)
}

func checkIntmeth(t *testing.T, m *Message) {
	const method = "!interesting-Method0123456789_*+`.%indeed'~"
	eq(t, "method", m.Method(), method)
	u := mustRURI(t, m)
	eq(t, "user", u.User, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
	eq(t, "password", u.Password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
	eq(t, "host", u.Host, "example.com")
	eq(t, "to display", mustTo(t, m).DisplayName(), "BEL:\x07 NUL:\x00 DEL:\x7f")
	eq(t, "to user", mustTo(t, m).URI.User, u.User)
	from := mustFrom(t, m)
	eq(t, "from display", from.DisplayName(), "token1~` token2'+_ token3*%!.-")
	eq(t, "from tag", from.Tag(), "_token~1'+`*%!-.")
	fp, _ := from.Params.Get("fromParam''~+*_!.-%")
	eq(t, "from param", fp, "\xd1\x80\xd0\xb0\xd0\xb1\xd0\xbe\xd1\x82\xd0\xb0\xd1\x8e\xd1\x89\xd0\xb8\xd0\xb9")
	cid, _ := m.CallID()
	eq(t, "call-id", cid, `intmeth.word%ZK-!.*_+'@word`+"`"+`~)(><:\/"][?}{`)
	cs, _ := m.CSeq()
	eq(t, "cseq", cs, CSeq{Seq: 139122385, Method: method})
	mf, _ := m.MaxForwards()
	eq(t, "max-forwards", mf, 255)
	eq(t, "extension", m.Header("extensionHeader-!.%*+_`'~"), "\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb")
	eq(t, "branch", mustVias(t, m)[0].Branch(), "z9hG4bK-.!%66*_+`'~")
}

func checkEsc01(t *testing.T, m *Message) {
	u := mustRURI(t, m)
	eq(t, "ruri user", Unescape(u.User), "sips:user@example.com")
	eq(t, "ruri host", u.Host, "example.net")
	to := mustTo(t, m)
	eq(t, "to user", Unescape(to.URI.User), "user")
	eq(t, "to aor", to.URI.AOR(), "sip:user@example.com")
	eq(t, "from user", Unescape(mustFrom(t, m).URI.User), "I have spaces")
	cid, _ := m.CallID()
	eq(t, "call-id", cid, "esc01.239409asdfakjkn23onasd0-3234")
	eq(t, "content type", m.ContentType(), "application/sdp")
	c, _ := m.Contacts()
	eq(t, "contact user", Unescape(c[0].URI.User), "caller")
	eq(t, "contact lr", c[0].URI.Params.Has("lr"), true)
	name, _ := c[0].URI.Params.Get("name")
	// "value%41", not "valueA": unescaping is never recursive.
	eq(t, "contact name", Unescape(name), "value%41")
	want, _ := ParseURI("sip:caller@host5.example.net;lr;name=value%2541")
	eq(t, "contact equal", c[0].URI.Equal(want), true)
}

func checkEscnull(t *testing.T, m *Message) {
	to := mustTo(t, m)
	eq(t, "to user", Unescape(to.URI.User), "null-\x00-null")
	eq(t, "aor", to.URI.AOR(), "sip:null-\x00-null@example.com")
	c, _ := m.Contacts()
	eq(t, "contacts", len(c), 2)
	eq(t, "contact0", Unescape(c[0].URI.User), "\x00")
	eq(t, "contact1", Unescape(c[1].URI.User), "\x00\x00")
	eq(t, "distinct", c[0].URI.Equal(c[1].URI), false)
	eq(t, "distinct aor", c[0].URI.AOR() == c[1].URI.AOR(), false)
}

func checkEsc02(t *testing.T, m *Message) {
	eq(t, "method", m.Method(), "RE%47IST%45R")
	eq(t, "to display", mustTo(t, m).DisplayName(), "%Z%45")
	eq(t, "from display", mustFrom(t, m).DisplayName(), "%Z%45")
	c, _ := m.Contacts()
	eq(t, "contacts", len(c), 2)
	eq(t, "contact1", c[1].URI.User, "alias3")
	eq(t, "fake contact", m.Header("C%6Fntact"), "<sip:alias2@host2.example.com>")
	eq(t, "branch", mustVias(t, m)[0].Branch(), "z9hG4bK209%fzsnel234")
	cs, _ := m.CSeq()
	eq(t, "cseq method", cs.Method, "RE%47IST%45R")
}

func checkLongreq(t *testing.T, m *Message) {
	v := mustVias(t, m)
	eq(t, "vias", len(v), 34)
	for i := 0; i < 33; i++ {
		eq(t, "via host", v[i].Host, "sip"+itoa(33-i)+".example.com")
	}
	eq(t, "last via", v[33].Host, "host.example.com")
	eq(t, "received", v[33].Received(), "192.0.2.5")
	eq(t, "branch", v[33].Branch(), "very"+strings.Repeat("long", 50)+"branchvalue")
	to := mustTo(t, m)
	eq(t, "to display", to.DisplayName(), "I have a user name of "+strings.Repeat("extreme", 10)+" proportion")
	eq(t, "to port", to.URI.Port, 6000)
	p, _ := to.URI.Params.Get("longparam" + strings.Repeat("name", 25))
	eq(t, "to param", p, "shortvalue")
	from := mustFrom(t, m)
	eq(t, "from tag", from.Tag(), "12"+strings.Repeat("982", 50)+"424")
	eq(t, "from user", from.URI.User, strings.Repeat("amazinglylongcallername", 5))
	cid, _ := m.CallID()
	eq(t, "call-id", cid, "longreq.one"+strings.Repeat("really", 20)+"longcallid")
	name := "Unknown-" + strings.Repeat("Long", 20) + "-Name"
	eq(t, "unknown", strings.HasPrefix(m.Header(name), "unknown-long"), true)
}

func checkDblreq(t *testing.T, m *Message) {
	eq(t, "method", m.Method(), "REGISTER")
	eq(t, "body", len(m.Body()), 0)
	eq(t, "raw ends", bytes.HasSuffix(m.Raw(), []byte("Content-Length: 0\r\n\r\n")), true)
	eq(t, "no invite", bytes.Contains(m.AppendTo(nil), []byte("INVITE")), false)
	cid, _ := m.CallID()
	eq(t, "call-id", cid, "dblreq.0ha0isndaksdj99sdfafnl3lk233412")
	c, _ := m.Contacts()
	eq(t, "contact", c[0].URI.String(), "sip:j.user@host.example.com")
}

// TestRFC5118ArchiveForm feeds the RFC 5118 messages in the form the RFC's
// archive publishes them: bare LF line ends, the 4.10 pair without the
// empty line that ends the headers, and the declared Content-Lengths.
// Parse accepts bare LFs and a datagram that ends after its last header
// line. The declared lengths of ipv6-in-sdp (268 for a 242-octet body) and
// mult-ip-in-sdp (181 for 180 octets) claim more than the datagram holds,
// which §18.3 makes a 400; ipv4-mapped-ipv6's 236 is right for LF.
func TestRFC5118ArchiveForm(t *testing.T) {
	declared := map[string]string{"ipv6-in-sdp": "268", "mult-ip-in-sdp": "181", "ipv4-mapped-ipv6": "236"}
	for _, tc := range rfc5118Cases {
		data, err := os.ReadFile(filepath.Join("testdata/rfc5118", tc.name+".sip"))
		if err != nil {
			t.Fatal(err)
		}
		lf := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
		if strings.HasPrefix(tc.name, "ipv6-") && strings.Contains(tc.name, "abnf") {
			lf = bytes.TrimSuffix(lf, []byte("\n")) // no empty line
		}
		if n, ok := declared[tc.name]; ok {
			head, body, _ := bytes.Cut(lf, []byte("\n\n"))
			i := bytes.Index(head, []byte("Content-Length: "))
			head = append(head[:i:i], "Content-Length: "+n...)
			lf = append(append(head, "\n\n"...), body...)
		}
		m, err := Parse(lf)
		if err == nil {
			err = m.Validate()
		}
		switch {
		case tc.name == "ipv6-in-sdp" || tc.name == "mult-ip-in-sdp":
			if err != ErrBodyTruncated {
				t.Errorf("%s: got %v, want %v", tc.name, err, ErrBodyTruncated)
			}
		case tc.err != nil:
			if err != tc.err {
				t.Errorf("%s: got %v, want %v", tc.name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		default:
			if !bytes.Equal(m.AppendTo(nil), lf) {
				t.Errorf("%s: round trip changed the bytes", tc.name)
			}
			if tc.check != nil {
				tc.check(t, m)
			}
		}
	}
}

func mustRURI(t *testing.T, m *Message) URI {
	t.Helper()
	u, err := m.RequestURIParsed()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mustVias(t *testing.T, m *Message) []Via {
	t.Helper()
	v, err := m.Vias()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustFrom(t *testing.T, m *Message) *NameAddr {
	t.Helper()
	n, err := m.From()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustTo(t *testing.T, m *Message) *NameAddr {
	t.Helper()
	n, err := m.To()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %#v, want %#v", what, got, want)
	}
}

func itoa(n int) string { return smallInts[n] }
