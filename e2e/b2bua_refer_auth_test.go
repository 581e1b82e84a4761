package e2e

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestB2BUAReferNeedsPassword: with auth.enabled, a caller of another
// domain reaches our users without a password
// (auth.allow_unauthenticated_to_local). Once bob answers, such a caller
// must not have Parley place a call for it with REFER (through the dial
// plan's trunks, that would be free calls anywhere): mallory@evil.example
// calls bob from 127.0.0.2, bob's phone answers, mallory's REFER to a
// number gets 403 and the call stays up.
func TestB2BUAReferNeedsPassword(t *testing.T) {
	p, base, bob := startTrustedB2BUA(t, "", "uas_answer.xml")
	defer func() {
		bob.cancel()
		bob.Wait()
	}()
	m := dialRaw(t, p.Addr, "mallory@evil.example", "bob@example.com")
	ok := m.final("INVITE")
	if !strings.HasPrefix(ok, "SIP/2.0 200") {
		t.Fatalf("mallory's call to bob was answered %q, want 200", firstLine(ok))
	}
	toHdr := headerOf(ok, "To")
	m.send("ACK", 1, toHdr, "")
	m.send("REFER", 2, toHdr, "Refer-To: <sip:00190012345@example.com>\r\n")
	if got := firstLine(m.final("REFER")); !strings.HasPrefix(got, "SIP/2.0 403 ") {
		t.Fatalf("mallory's REFER was answered %q, want 403", got)
	}
	if calls := b2buaCalls(t, base); len(calls) != 1 || calls[0].State != "answered" {
		t.Fatalf("calls after the refused REFER: %+v, want mallory's call with bob up", calls)
	}
}

// rawCall is a caller's dialog driven by hand over UDP from 127.0.0.2.
type rawCall struct {
	t                    *testing.T
	conn                 net.PacketConn
	dst                  *net.UDPAddr
	local, from, to, cid string
}

// dialRaw sends an INVITE with an offer from from to to, without
// credentials.
func dialRaw(t *testing.T, server, from, to string) *rawCall {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	dst, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(time.Now().UnixNano(), 36)
	c := &rawCall{t: t, conn: conn, dst: dst, local: conn.LocalAddr().String(), from: from, to: to, cid: "raw-" + id}
	sdp := "v=0\r\no=m 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"
	c.send("INVITE", 1, "<sip:"+to+">", "Content-Type: application/sdp\r\nContent-Length: "+strconv.Itoa(len(sdp))+"\r\n\r\n"+sdp)
	return c
}

// send sends method to the server with CSeq seq and To toHdr; extra
// ends in the blank line and body when it holds a Content-Length.
func (c *rawCall) send(method string, seq int, toHdr, extra string) {
	c.t.Helper()
	req := method + " sip:" + c.to + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + c.local + ";branch=z9hG4bK-" + method + strconv.Itoa(seq) + c.cid + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:" + c.from + ">;tag=m" + c.cid + "\r\nTo: " + toHdr + "\r\n" +
		"Call-ID: " + c.cid + "\r\nCSeq: " + strconv.Itoa(seq) + " " + method + "\r\nContact: <sip:m@" + c.local + ">\r\n" + extra
	if !strings.Contains(extra, "Content-Length") {
		req += "Content-Length: 0\r\n\r\n"
	}
	if _, err := c.conn.WriteTo([]byte(req), c.dst); err != nil {
		c.t.Fatal(err)
	}
}

// final returns the first final response to method within 5 s, answering
// Parley's requests (NOTIFYs) with 200 meanwhile; "" when none comes.
func (c *rawCall) final(method string) string {
	buf := make([]byte, 65535)
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			return ""
		}
		msg := string(buf[:n])
		line, _, _ := strings.Cut(msg, "\r\n")
		if !strings.HasPrefix(line, "SIP/2.0 ") {
			c.answer(msg)
			continue
		}
		if !strings.HasPrefix(line, "SIP/2.0 1") && strings.HasSuffix(headerOf(msg, "CSeq"), " "+method) {
			return msg
		}
	}
}

// answer answers a request of Parley's with 200.
func (c *rawCall) answer(req string) {
	var b bytes.Buffer
	b.WriteString("SIP/2.0 200 OK\r\n")
	for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		b.WriteString(h + ": " + headerOf(req, h) + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	c.conn.WriteTo(b.Bytes(), c.dst)
}
