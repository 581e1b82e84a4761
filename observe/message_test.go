package observe

import (
	"strings"
	"testing"
)

func TestScan(t *testing.T) {
	tests := []struct {
		name string
		text string
		want Summary
	}{
		{"request", msg{method: "INVITE", callID: "c1@x", branch: "z9hG4bK-1"}.text(),
			Summary{Method: "INVITE", CSeqMethod: "INVITE", CallID: "c1@x", Branch: "z9hG4bK-1",
				From: `"Alice" <sip:alice@example.com>`, FromTag: "from1", To: "<sip:bob@example.com>",
				CSeq: 1, Contact: "sip:alice@192.0.2.10:5060"}},
		{"response with To tag", msg{status: 180, cseq: "INVITE", callID: "c1@x", branch: "z9hG4bK-1", toTag: "t9"}.text(),
			Summary{Status: 180, CSeqMethod: "INVITE", CallID: "c1@x", Branch: "z9hG4bK-1",
				From: `"Alice" <sip:alice@example.com>`, FromTag: "from1", To: "<sip:bob@example.com>", ToTag: true,
				ToTagValue: "t9", CSeq: 1, Contact: "sip:bob-t9@192.0.2.20:5060"}},
		{"compact forms, LF only, odd case", "BYE sip:a@b SIP/2.0\n" +
			"v: SIP/2.0/TCP h;BRANCH=z9hG4bK-c\nf: sip:a@b;tag=1\nt: sip:c@d ; tag = 2\ni: compact@h\ncseq:  7   BYE\n\n",
			Summary{Method: "BYE", CSeqMethod: "BYE", CallID: "compact@h", Branch: "z9hG4bK-c",
				From: "sip:a@b", FromTag: "1", To: "sip:c@d", ToTag: true, ToTagValue: "2", CSeq: 7}},
		{"Contact forms: compact, no brackets, the first of several", "INVITE sip:x SIP/2.0\r\nm: sip:a@h:5070;expires=30, <sip:b@h>\r\n" +
			"Contact: <sip:c@h>\r\n\r\n", Summary{Method: "INVITE", Contact: "sip:a@h:5070"}},
		{"Contact with a name and URI parameters", "SIP/2.0 200 OK\r\nContact: \"Bob\" <sip:b@h;transport=tcp>;+sip.instance=x\r\n\r\n",
			Summary{Status: 200, Contact: "sip:b@h;transport=tcp"}},
		{"Contact star", "REGISTER sip:x SIP/2.0\r\nContact: *\r\n\r\n", Summary{Method: "REGISTER"}},
		{"CSeq not a number", "BYE sip:x SIP/2.0\r\nCSeq: x BYE\r\n\r\n", Summary{Method: "BYE", CSeqMethod: "BYE"}},
		{"only the top Via counts", "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP a\r\nVia: SIP/2.0/UDP b;branch=z9hG4bK-2\r\n\r\n",
			Summary{Method: "OPTIONS"}},
		{"body not scanned", "MESSAGE sip:x SIP/2.0\r\nCall-ID: a\r\n\r\nCall-ID: b\r\n",
			Summary{Method: "MESSAGE", CallID: "a"}},
		{"folded line skipped", "INFO sip:x SIP/2.0\r\nSubject: a\r\n b\r\nCall-ID: f\r\n\r\n",
			Summary{Method: "INFO", CallID: "f"}},
		{"bad status", "SIP/2.0 2x0 OK\r\n\r\n", Summary{}},
		{"status too small", "SIP/2.0 099 Odd\r\n\r\n", Summary{}},
		{"status without reason", "SIP/2.0 200\r\n\r\n", Summary{Status: 200}},
		{"garbage", "\x00\x01:", Summary{}},
		{"empty", "", Summary{}},
		{"To with params but no tag", "ACK sip:x SIP/2.0\r\nTo: <sip:b;tag=in-uri>;foo=bar\r\n\r\n",
			Summary{Method: "ACK", To: "<sip:b;tag=in-uri>"}},
		{"From tag after a URI parameter named tag", "BYE sip:x SIP/2.0\r\nFrom: <sip:a;tag=in-uri>;x=1;Tag = f7\r\n\r\n",
			Summary{Method: "BYE", From: "<sip:a;tag=in-uri>", FromTag: "f7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			want.Line, _ = cutLine(tt.text)
			if got := Scan(tt.text); got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestScanAllocates(t *testing.T) {
	text := msg{method: "INVITE", callID: "c1@x", branch: "z9hG4bK-1"}.text()
	if n := testing.AllocsPerRun(100, func() { Scan(text) }); n != 0 {
		t.Errorf("Scan allocates %v times per message, want 0", n)
	}
}

func TestMessageAddresses(t *testing.T) {
	in := Message{Dir: Received, Local: parley, Peer: alice, Text: "OPTIONS sip:x SIP/2.0\r\n\r\n"}
	out := Message{Dir: Sent, Local: parley, Peer: bob}
	if in.Src() != alice || in.Dst() != parley || out.Src() != parley || out.Dst() != bob {
		t.Errorf("received %v→%v, sent %v→%v", in.Src(), in.Dst(), out.Src(), out.Dst())
	}
	if in.FirstLine() != "OPTIONS sip:x SIP/2.0" {
		t.Errorf("first line %q", in.FirstLine())
	}
	if Received.String() != "received" || Sent.String() != "sent" {
		t.Error("direction names")
	}
}

// FuzzScan feeds Scan anything: it must not panic, and whatever it finds
// is a piece of the text, never something it made up.
func FuzzScan(f *testing.F) {
	f.Add(msg{method: "INVITE", callID: "c1@x", branch: "z9hG4bK-1"}.text())
	f.Add("SIP/2.0 180 Ringing\nv: SIP/2.0/UDP h;branch=z\ni: x\nt: <sip:a>;tag=1\n\n")
	f.Fuzz(func(t *testing.T, text string) {
		s := Scan(text)
		for _, part := range []string{s.Method, s.CSeqMethod, s.CallID, s.Branch, s.From, s.FromTag, s.To} {
			if !strings.Contains(text, part) {
				t.Fatalf("%q is not in the text", part)
			}
		}
	})
}
