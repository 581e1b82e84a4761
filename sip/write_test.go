package sip

import "testing"

// TestLen: Len counts what AppendTo writes, for a message as parsed and
// after each kind of edit, so the 1300-byte rule sees the message that
// leaves (credentials stripped, a Via added), not the one that came.
func TestLen(t *testing.T) {
	const invite = "INVITE sip:bob@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:alice@example.com>;tag=a\r\n" +
		"To: <sip:bob@example.com>\r\n" +
		"Call-ID: c1\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Proxy-Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", uri=\"sip:bob@example.com\", response=\"0123456789abcdef0123456789abcdef\"\r\n" +
		"Content-Length: 4\r\n\r\nv=0\n"
	tests := []struct {
		name string
		edit func(m *Message)
	}{
		{"as parsed", func(*Message) {}},
		{"credentials removed", func(m *Message) { m.RemoveHeader("Proxy-Authorization") }},
		{"Via prepended", func(m *Message) { m.PrependHeader("Via", "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK2") }},
		{"Request-URI rewritten", func(m *Message) { m.SetRequestURI("sip:bob@198.51.100.7:5062;transport=udp") }},
		{"Max-Forwards lowered", func(m *Message) { m.SetMaxForwards(9) }},
		{"Content-Length removed", func(m *Message) { m.RemoveHeader("Content-Length") }},
		{"body replaced", func(m *Message) { m.SetBody("application/sdp", []byte("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n")) }},
		{"response status", func(m *Message) {
			*m = *mustParse(t, "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n")
			m.SetStatus(1234, "Odd")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, invite)
			tt.edit(m)
			if got, want := m.Len(), len(m.AppendTo(nil)); got != want {
				t.Errorf("Len = %d, AppendTo wrote %d", got, want)
			}
		})
	}
}

func mustParse(t *testing.T, s string) *Message {
	t.Helper()
	m, err := Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestReceivedRequestURI: the Request-URI as it arrived outlives a
// rewrite (a DID mapped to its user), on the message and on its clone; a
// built message's is the one it was built with; a response has none.
func TestReceivedRequestURI(t *testing.T) {
	const invite = "INVITE sip:+4930123456@192.0.2.10:5060 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:+44207@provider.example>;tag=a\r\n" +
		"To: <sip:+4930123456@provider.example>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	parsed := func(t *testing.T) *Message {
		m, err := Parse([]byte(invite))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tests := []struct {
		name     string
		msg      func(t *testing.T) *Message
		received string
		current  string
	}{
		{"as parsed", parsed, "sip:+4930123456@192.0.2.10:5060", "sip:+4930123456@192.0.2.10:5060"},
		{"rewritten", func(t *testing.T) *Message {
			m := parsed(t)
			m.SetRequestURI("sip:201@office.example")
			return m
		}, "sip:+4930123456@192.0.2.10:5060", "sip:201@office.example"},
		{"rewritten twice, cloned", func(t *testing.T) *Message {
			m := parsed(t)
			m.SetRequestURI("sip:201@office.example")
			m.SetRequestURI("sip:201@192.0.2.77:5062")
			return m.Clone()
		}, "sip:+4930123456@192.0.2.10:5060", "sip:201@192.0.2.77:5062"},
		{"built", func(t *testing.T) *Message {
			m, err := NewRequestBuilder("INVITE", "sip:bob@example.com").Header("Call-ID", "c2").Message("", nil)
			if err != nil {
				t.Fatal(err)
			}
			m.SetRequestURI("sip:bob@192.0.2.8")
			return m
		}, "sip:bob@example.com", "sip:bob@192.0.2.8"},
		{"response", func(t *testing.T) *Message {
			r := NewResponse(parsed(t), 200, "OK", "b")
			r.SetStatus(202, "Accepted")
			return r
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.msg(t)
			if got := m.ReceivedRequestURI(); got != tt.received {
				t.Errorf("ReceivedRequestURI %q, want %q", got, tt.received)
			}
			if got := m.RequestURI(); got != tt.current {
				t.Errorf("RequestURI %q, want %q", got, tt.current)
			}
		})
	}
}
