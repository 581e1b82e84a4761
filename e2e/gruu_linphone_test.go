package e2e

import (
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Two linphone-daemons registered as one user each send their own
// +sip.instance (Linphone does by default) and get GRUUs: a call to one
// phone's public GRUU rings that phone and not the other.
func TestLinphoneGRUU(t *testing.T) {
	requireTool(t, "linphone-daemon", linphoneHint)
	p := startParleyServing(t, nil, "--trace")
	phones := []*linphone{startLinphone(t, "linda1"), startLinphone(t, "linda2")}
	for _, l := range phones {
		l.register("sip:linda@"+p.Addr, "sip:"+p.Addr+";transport=udp", "")
	}
	for i, callee := range phones {
		other := phones[1-i]
		gruu := linphoneGRUU(t, p, callee)
		status, tag := inviteOnce(t, p.Addr, gruu, func() {
			callee.waitFor("call-status", "LinphoneCallIncomingReceived", phoneWait)
			if resp := other.command("call-status"); !strings.Contains(resp, "No current call") {
				t.Errorf("%s rang for %s's GRUU: %s", other.name, callee.name, resp)
			}
			callee.command("terminate")
		})
		if status < 400 || tag == "" {
			t.Fatalf("call to %s's GRUU ended %d", callee.name, status)
		}
		callee.waitFor("call-status", "No current call", phoneWait)
	}
}

// reInstance finds the instance of a REGISTER in parley's trace.
var reInstance = regexp.MustCompile(`msg=recv proto=udp from=127\.0\.0\.1:(\d+) msg="\\nREGISTER .*?\+sip\.instance=\\"<(urn:uuid:[0-9a-f-]+)>\\"`)

// linphoneGRUU returns the public GRUU of a registered linphone, from the
// instance its REGISTER carried.
func linphoneGRUU(t *testing.T, p *parley, l *linphone) string {
	t.Helper()
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range reInstance.FindAllStringSubmatch(string(b), -1) {
		if m[1] == strconv.Itoa(l.port) {
			return "sip:linda@127.0.0.1;gr=" + m[2]
		}
	}
	t.Fatalf("%s: no REGISTER with +sip.instance from port %d in parley's log", l.name, l.port)
	return ""
}

// inviteOnce sends an INVITE with an audio offer over UDP, runs ringing
// once the callee's 180 is in, and returns the final status and To tag,
// after ACKing a failure as a UAC must (§17.1.1.3).
func inviteOnce(t *testing.T, server, ruri string, ringing func()) (int, string) {
	t.Helper()
	conn, err := net.Dial("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	host, _, _ := net.SplitHostPort(local)
	branch, callID := "z9hG4bK"+randomToken(), "gruu-"+randomToken()
	sdp := "v=0\r\no=- 1 1 IN IP4 " + host + "\r\ns=-\r\nc=IN IP4 " + host + "\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	head := "Via: SIP/2.0/UDP " + local + ";branch=" + branch + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=c1\r\n"
	invite := "INVITE " + ruri + " SIP/2.0\r\n" + head + "To: <" + ruri + ">\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@" + local + ">\r\n" +
		"Content-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp
	if _, err := conn.Write([]byte(invite)); err != nil {
		t.Fatal(err)
	}
	rang := false
	buf := make([]byte, 65535)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := conn.Read(buf)
		if err != nil {
			if !rang {
				conn.Write([]byte(invite)) // a lost datagram: send again as Timer A would
			}
			continue
		}
		msg := string(buf[:n])
		code, _ := strconv.Atoi(strings.Fields(msg)[1])
		switch {
		case code == 180 && !rang:
			rang = true
			ringing()
		case code >= 200:
			to := headerLine(msg, "To")
			if code >= 300 {
				ack := "ACK " + ruri + " SIP/2.0\r\n" + head + "To: " + to + "\r\nCall-ID: " + callID +
					"\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
				conn.Write([]byte(ack))
			}
			_, tag, _ := strings.Cut(to, "tag=")
			return code, tag
		}
	}
	t.Fatalf("no final answer to the INVITE of %s", ruri)
	return 0, ""
}

func headerLine(msg, name string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		if v, ok := strings.CutPrefix(l, name+": "); ok {
			return v
		}
	}
	return ""
}
