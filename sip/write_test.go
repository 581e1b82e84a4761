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
