package sip

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenCases are the golden messages in testdata/golden and the typed
// values each must give.
var goldenCases = []struct {
	name    string
	headers int
	check   func(t *testing.T, m *Message)
}{
	{"invite.sip", 12, func(t *testing.T, m *Message) {
		eq(t, "method", m.Method(), "INVITE")
		v, _ := m.TopVia()
		eq(t, "via", v.Host+" "+v.Branch(), "pc33.atlanta.com z9hG4bK776asdhds")
		eq(t, "via port", v.Port, 5060)
		eq(t, "allow", len(m.Tokens("Allow")), 10)
		eq(t, "supported", m.HasToken("Supported", "TIMER"), true)
		eq(t, "body", len(m.Body()), 286)
		eq(t, "content type", m.ContentType(), "application/sdp")
	}},
	{"register.sip", 13, func(t *testing.T, m *Message) {
		c, err := m.Contacts()
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "contacts", len(c), 2)
		e, ok := c[0].Expires()
		eq(t, "expires", e, uint32(3600))
		eq(t, "expires ok", ok, true)
		q, _ := c[0].Q()
		eq(t, "q", q, 700)
		inst, _ := c[0].Params.Get("+sip.instance")
		eq(t, "instance", inst, "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>")
		eq(t, "transport", mustParam(c[0].URI.Params, "transport"), "tls")
		q, _ = c[1].Q()
		eq(t, "q1", q, 100)
		eq(t, "port1", c[1].URI.Port, 5060)
		exp, ok, err := m.Expires()
		eq(t, "Expires", exp, uint32(7200))
		eq(t, "Expires ok", ok && err == nil, true)
		eq(t, "aor", mustTo(t, m).URI.AOR(), "sips:bob@biloxi.example.com")
		eq(t, "auth", strings.HasPrefix(m.Header("Authorization"), `Digest username="bob", realm=`), true)
		v, _ := m.TopVia()
		host, port := v.SentBy()
		eq(t, "sent-by host", host, "client.biloxi.example.com")
		eq(t, "sent-by port", port, 5061)
	}},
	{"ok200.sip", 11, func(t *testing.T, m *Message) {
		eq(t, "status", m.StatusCode(), 200)
		eq(t, "reason", m.Reason(), "OK")
		v := mustVias(t, m)
		eq(t, "vias", len(v), 3)
		eq(t, "via0", v[0].Host, "server10.biloxi.example.com")
		eq(t, "via1", v[1].Host, "bigbox3.site3.atlanta.example.com")
		eq(t, "via1 received", v[1].Received(), "192.0.2.2")
		eq(t, "via2", v[2].Host, "pc33.atlanta.example.com")
		rr, _ := m.RecordRoutes()
		eq(t, "record-routes", len(rr), 2)
		eq(t, "rr0", rr[0].URI.Host, "server10.biloxi.example.com")
		eq(t, "rr1 lr", rr[1].URI.Params.Has("lr"), true)
		eq(t, "to tag", mustTo(t, m).Tag(), "a6c85cf")
		cs, _ := m.CSeq()
		eq(t, "cseq", cs, CSeq{314159, "INVITE"})
	}},
	{"compact.sip", 22, func(t *testing.T, m *Message) {
		for _, c := range []struct{ long, value string }{
			{"Via", "SIP/2.0/TCP ws1.example.com:5060;branch=z9hG4bKcomp1"},
			{"Call-ID", "compact-4a7b9c@ws1.example.com"},
			{"Supported", "eventlist, timer"},
			{"Event", "presence"},
			{"Allow-Events", "presence, dialog"},
			{"Session-Expires", "1800;refresher=uac"},
			{"Subject", "compact forms"},
			{"Referred-By", "<sip:referrer@example.com>"},
			{"Refer-To", "<sip:target@example.com>"},
			{"Accept-Contact", "*;audio"},
			{"Reject-Contact", "*;video"},
			{"Request-Disposition", "proxy"},
			{"Content-Encoding", "identity"},
			{"Content-Type", "application/pidf+xml"},
			{"Content-Length", "0"},
		} {
			eq(t, c.long, m.Header(c.long), c.value)
		}
		eq(t, "identity", strings.HasPrefix(m.Header("Identity"), "eyJ"), true)
		eq(t, "from", mustFrom(t, m).DisplayName(), "Watcher")
		eq(t, "to", mustTo(t, m).URI.User, "presence")
		c, _ := m.Contacts()
		eq(t, "contact", c[0].URI.Host, "ws1.example.com")
		eq(t, "supported", m.HasToken("k", "timer"), true)
	}},
	{"folded.sip", 11, func(t *testing.T, m *Message) {
		v := mustVias(t, m)
		eq(t, "via", v[0].Host+" "+v[0].Branch(), "pc33.atlanta.example.com z9hG4bKfold1")
		eq(t, "via port", v[0].Port, 5060)
		mf, err := m.MaxForwards()
		eq(t, "max-forwards", mf, 70)
		eq(t, "err", err, nil)
		f := mustFrom(t, m)
		eq(t, "from display", f.DisplayName(), "Alice\r\n Liddell")
		eq(t, "from tag", f.Tag(), "1928301774")
		cs, _ := m.CSeq()
		eq(t, "cseq", cs, CSeq{63104, "OPTIONS"})
		c, _ := m.Contacts()
		eq(t, "contacts", len(c), 2)
		q, _ := c[1].Q()
		eq(t, "q", q, 500)
		eq(t, "subject", m.Header("Subject"), "a subject\r\n   that goes on\r\n\tand on")
		eq(t, "custom", m.Header("x-custom"), "first part\r\n second part")
	}},
	{"multivalue.sip", 17, func(t *testing.T, m *Message) {
		v := mustVias(t, m)
		eq(t, "vias", len(v), 3)
		eq(t, "via order", v[0].Branch()+v[1].Branch()+v[2].Branch(), "z9hG4bKmv2z9hG4bKmv1z9hG4bKmv0")
		r, _ := m.Routes()
		eq(t, "routes", len(r), 4)
		eq(t, "route3", r[3].URI.Host, "p4.example.com")
		rr, _ := m.RecordRoutes()
		eq(t, "record-routes", len(rr), 2)
		eq(t, "rr display", rr[1].DisplayName(), "Proxy, One")
		c, _ := m.Contacts()
		eq(t, "contacts", len(c), 2)
		eq(t, "allow", strings.Join(m.Tokens("Allow"), ","), "INVITE,ACK,CANCEL,BYE,OPTIONS")
		eq(t, "supported", m.HasToken("Supported", "timer"), true)
		eq(t, "not supported", m.HasToken("Supported", "path"), false)
	}},
	{"ipv6.sip", 11, func(t *testing.T, m *Message) {
		u := mustRURI(t, m)
		eq(t, "ruri host", u.Host, "[2001:db8::10]")
		eq(t, "ruri port", u.Port, 5070)
		eq(t, "ruri transport", mustParam(u.Params, "transport"), "udp")
		v := mustVias(t, m)
		eq(t, "via0", v[0].Host, "[2001:db8::20]")
		eq(t, "via1 received", v[1].Received(), "2001:db8::31")
		r, _ := m.Routes()
		eq(t, "route", r[0].URI.Host, "[2001:db8::1]")
		from := mustFrom(t, m)
		want, _ := ParseURI("sip:alice@[2001:db8::20]")
		eq(t, "from equal by address", from.URI.Equal(want), true)
		eq(t, "aor", from.URI.AOR(), "sip:alice@[2001:db8:0:0::20]")
	}},
}

func mustParam(p Params, name string) string {
	v, _ := p.Get(name)
	return v
}

func loadGolden(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata/golden", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			data := loadGolden(t, tc.name)
			m, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			eq(t, "headers", m.HeaderCount(), tc.headers)
			if !bytes.Equal(m.AppendTo(nil), data) || !bytes.Equal(m.Bytes(), data) {
				t.Fatal("an unedited message must write back byte for byte")
			}
			// A pooled Message gives the same.
			var pm Message
			pm.AddHeader("X-Dirty", "state from an earlier message")
			if err := DefaultLimits.ParseInto(&pm, data); err != nil {
				t.Fatal(err)
			}
			eq(t, "pooled headers", pm.HeaderCount(), tc.headers)
			tc.check(t, m)
			tc.check(t, &pm)
			exerciseAll(m)
		})
	}
}

// edit is one change a proxy or server makes, what it touches, and how to
// see it in the re-parsed message.
type edit struct {
	name    string
	touches []string // header names whose lines may change
	line    bool     // the start line changes
	apply   func(m *Message)
	check   func(t *testing.T, m *Message)
}

var edits = []edit{
	{"prepend Via", []string{"Via"}, false,
		func(m *Message) { m.PrependHeader("Via", "SIP/2.0/UDP proxy.example.net;branch=z9hG4bKedit") },
		func(t *testing.T, m *Message) {
			v, _ := m.TopVia()
			eq(t, "top branch", v.Branch(), "z9hG4bKedit")
		}},
	{"pop Via", []string{"Via"}, false,
		func(m *Message) { m.PopVia() },
		nil},
	{"set top Via", []string{"Via"}, false,
		func(m *Message) {
			v, _ := m.TopVia()
			s, _ := v.WithReceived("198.51.100.7", 7060)
			m.SetTopVia(s)
		},
		func(t *testing.T, m *Message) {
			v, _ := m.TopVia()
			eq(t, "received", v.Received(), "198.51.100.7")
		}},
	{"Request-URI", nil, true,
		func(m *Message) {
			if m.IsRequest() {
				m.SetRequestURI("sip:bob@192.0.2.99:5070;transport=tcp")
			} else {
				m.SetStatus(500, "Server Internal Error")
			}
		},
		func(t *testing.T, m *Message) {
			if m.IsRequest() {
				eq(t, "ruri", m.RequestURI(), "sip:bob@192.0.2.99:5070;transport=tcp")
			} else {
				eq(t, "status", m.StatusCode(), 500)
			}
		}},
	{"Max-Forwards", []string{"Max-Forwards"}, false,
		func(m *Message) { m.SetMaxForwards(9) },
		func(t *testing.T, m *Message) {
			mf, _ := m.MaxForwards()
			eq(t, "max-forwards", mf, 9)
		}},
	{"Record-Route", []string{"Record-Route"}, false,
		func(m *Message) { m.PrependHeader("Record-Route", "<sip:proxy.example.net;lr>") },
		func(t *testing.T, m *Message) {
			rr, _ := m.RecordRoutes()
			eq(t, "top rr", rr[0].URI.Host, "proxy.example.net")
		}},
	{"pop Route", []string{"Route"}, false,
		func(m *Message) { m.PopRoute() },
		nil},
	{"set unknown header", []string{"X-Parley"}, false,
		func(m *Message) { m.SetHeader("X-Parley", "one"); m.SetHeader("x-parley", "two") },
		func(t *testing.T, m *Message) {
			eq(t, "x-parley", strings.Join(m.HeaderValues("X-Parley"), "|"), "two")
		}},
	{"add header", []string{"Warning"}, false,
		func(m *Message) { m.AddHeader("Warning", `399 parley "edited"`) },
		func(t *testing.T, m *Message) {
			eq(t, "warning", m.Header("warning"), `399 parley "edited"`)
		}},
	{"remove header", []string{"Supported", "k"}, false,
		func(m *Message) { m.RemoveHeader("k") },
		func(t *testing.T, m *Message) {
			eq(t, "supported", m.HasHeader("Supported"), false)
		}},
	{"body", []string{"Content-Type", "Content-Length"}, false,
		func(m *Message) { m.SetBody("text/plain", []byte("hello\r\n")) },
		func(t *testing.T, m *Message) {
			eq(t, "body", string(m.Body()), "hello\r\n")
			eq(t, "type", m.ContentType(), "text/plain")
		}},
}

// TestEditRoundTrip applies each edit to each golden message, writes it,
// parses the result, and checks the edit is there and every line it does
// not touch is byte for byte what was received, in the same order.
func TestEditRoundTrip(t *testing.T) {
	for _, g := range goldenCases {
		data := loadGolden(t, g.name)
		orig, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range edits {
			t.Run(g.name+"/"+e.name, func(t *testing.T) {
				m := orig.Clone()
				e.apply(m)
				out := m.AppendTo(nil)
				m2, err := Parse(out)
				if err != nil {
					t.Fatalf("re-parse: %v\n%s", err, out)
				}
				if err := m2.Validate(); err != nil && !(e.name == "pop Via" && err == ErrMissingVia) {
					t.Fatalf("validate: %v\n%s", err, out)
				}
				if e.check != nil {
					e.check(t, m2)
				}
				keep := func(mm *Message) []string {
					var lines []string
					for i := range mm.fields {
						f := &mm.fields[i]
						touched := false
						for _, n := range e.touches {
							if id := HeaderIDOf(n); (id != HUnknown && id == f.id) || EqualFold(n, mm.fieldName(f)) {
								touched = true
							}
						}
						if !touched {
							lines = append(lines, string(mm.fieldLine(f)))
						}
					}
					return lines
				}
				a, b := keep(orig), keep(m2)
				if strings.Join(a, "") != strings.Join(b, "") {
					t.Errorf("untouched lines changed:\n%q\n%q", a, b)
				}
				if !e.line {
					eq(t, "start line", string(m2.raw[:m2.startEnd]), string(orig.raw[:orig.startEnd]))
				}
				if !bytes.Equal(m2.Body(), orig.Body()) && e.name != "body" {
					t.Errorf("body changed")
				}
				// The original is untouched by the clone's edit.
				if !bytes.Equal(orig.AppendTo(nil), data) {
					t.Errorf("editing a clone changed the original")
				}
			})
		}
	}
}

// TestEditSequence makes the proxy's whole forward edit on a pooled
// message and checks it against the expected bytes.
func TestEditSequence(t *testing.T) {
	data := loadGolden(t, "invite.sip")
	var m Message
	if err := DefaultLimits.ParseInto(&m, data); err != nil {
		t.Fatal(err)
	}
	forward(&m)
	want := strings.Replace(string(data), "INVITE sip:bob@example.com SIP/2.0\r\n",
		"INVITE sip:bob@192.0.2.4:5070 SIP/2.0\r\n"+
			"Record-Route: <sip:10.0.0.1;lr>\r\n"+
			"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKnew\r\n", 1)
	want = strings.Replace(want, "Max-Forwards: 70\r\n", "Max-Forwards: 69\r\n", 1)
	if got := string(m.AppendTo(nil)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Values read before an edit survive it.
	v, _ := m.Vias()
	m.PopVia()
	eq(t, "old slice", v[0].Branch(), "z9hG4bKnew")
	v2, _ := m.Vias()
	eq(t, "new top", v2[0].Branch(), "z9hG4bK776asdhds")
	eq(t, "old slice still", v[0].Branch(), "z9hG4bKnew")
}

// forward is the edit a proxy makes to an INVITE it relays (§16.6).
func forward(m *Message) {
	m.PrependHeader("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKnew")
	m.SetRequestURI("sip:bob@192.0.2.4:5070")
	mf, _ := m.MaxForwards()
	m.SetMaxForwards(mf - 1)
	m.PrependHeader("Record-Route", "<sip:10.0.0.1;lr>")
}

// TestEditInjection checks that no value can end a line early.
func TestEditInjection(t *testing.T) {
	m, _ := Parse(loadGolden(t, "invite.sip"))
	m.SetHeader("Subject", "hi\r\nVia: SIP/2.0/UDP evil.example.com\r\n")
	m.PrependHeader("X-A", "a\nb")
	m2, err := Parse(m.AppendTo(nil))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "vias", len(mustVias(t, m2)), 1)
	eq(t, "subject", m2.Header("Subject"), "hi  Via: SIP/2.0/UDP evil.example.com")
	eq(t, "x-a", m2.Header("X-A"), "a b")
}

// TestCloneIndependence edits a clone and its original in turn.
func TestCloneIndependence(t *testing.T) {
	data := loadGolden(t, "multivalue.sip")
	a, _ := Parse(data)
	a.PrependHeader("Via", "SIP/2.0/UDP a.example.com;branch=z9hG4bKa")
	b := a.Clone()
	b.PrependHeader("Via", "SIP/2.0/UDP b.example.com;branch=z9hG4bKb")
	a.PrependHeader("Via", "SIP/2.0/UDP c.example.com;branch=z9hG4bKc")
	va, _ := a.Vias()
	vb, _ := b.Vias()
	eq(t, "a", va[0].Host+" "+va[1].Host, "c.example.com a.example.com")
	eq(t, "b", vb[0].Host+" "+vb[1].Host, "b.example.com a.example.com")
	var pooled Message
	a.CloneInto(&pooled)
	a.Reset()
	eq(t, "pooled clone", string(pooled.AppendTo(nil)) != "", true)
	vp, err := pooled.Vias()
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "pooled", vp[0].Host, "c.example.com")
}

// TestMessageWithoutContentLength is written with one, as streams need.
func TestMessageWithoutContentLength(t *testing.T) {
	data, _ := os.ReadFile("testdata/rfc4475/inv2543.sip")
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	m.SetMaxForwards(70)
	out := m.AppendTo(nil)
	if !bytes.Contains(out, []byte("\r\nContent-Length: 105\r\n\r\n")) {
		t.Errorf("no Content-Length:\n%s", out)
	}
	if _, err := Parse(out); err != nil {
		t.Fatal(err)
	}
}
