package mailbox_test

import (
	"bytes"
	"context"
	"net/netip"
	"strconv"
	"testing"

	"github.com/parley-sip/parley/presence/mwi"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// FuzzStageNotify sends the stage a voicemail NOTIFY with any body: it
// must answer (200, 400 or 415, never a crash), and a summary it keeps
// must be one Parse reads back to the same body, so that every phone is
// sent a body of RFC 3842's form.
func FuzzStageNotify(f *testing.F) {
	for _, seed := range []string{
		"Messages-Waiting: yes\r\nMessage-Account: sip:*97@198.51.100.7\r\nVoice-Message: 2/8 (1/2)\r\n",
		"messages-waiting: no\n",
		"Messages-Waiting: yes\r\nVoice-Message: 4294967296/1\r\n",
		"Messages-Waiting: yes\r\nFax-Message: 1/2 (3/4\r\n",
		"Messages-Waiting: maybe\r\n",
		"Messages-Waiting: yes\rMessage-Account: a\rb\r\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rg := newRig(t)
		head := "NOTIFY sip:alice@example.com SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-fuzz\r\n" +
			"Max-Forwards: 70\r\nFrom: <sip:vm@198.51.100.7>;tag=1\r\nTo: <sip:alice@example.com>\r\n" +
			"Call-ID: fuzz@198.51.100.7\r\nCSeq: 1 NOTIFY\r\nEvent: message-summary\r\n" +
			"Content-Type: application/simple-message-summary\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
		m, err := sip.Parse(append([]byte(head), body...))
		if err != nil {
			return
		}
		stx := &serverTx{}
		rg.p.ServeRequest(stx, &transport.Incoming{Msg: m, Proto: transport.UDP, Source: netip.MustParseAddrPort(vm + ":5060"),
			Local: listener.Bound, Listener: listener})
		if len(stx.resp) != 1 {
			t.Fatalf("%d responses", len(stx.resp))
		}
		code := stx.resp[0].StatusCode()
		if code != 200 && code != 400 && code != 415 {
			t.Fatalf("answered %d", code)
		}
		s, err := rg.store.Get(context.Background(), "alice@example.com")
		if (err == nil) != (code == 200) {
			t.Fatalf("answered %d, stored: %v", code, err)
		}
		if code != 200 {
			return
		}
		parsed, err := mwi.Parse(s.Body)
		if err != nil {
			t.Fatalf("stored %q, which Parse refuses: %v", s.Body, err)
		}
		again, err := parsed.Marshal()
		if err != nil || !bytes.Equal(again, s.Body) {
			t.Fatalf("stored %q reads back as %q (%v)", s.Body, again, err)
		}
	})
}
