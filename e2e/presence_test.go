package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// presencePhone starts baresip with the presence and contact modules, an
// account publishing its state through parley, and one contact it
// watches (";presence=p2p" makes baresip 1.0 subscribe to it, through
// the account's outbound proxy: parley).
func presencePhone(t *testing.T, p *parley, name, watches string) *softphone {
	t.Helper()
	dir := t.TempDir()
	contacts := fmt.Sprintf("\"%s\" <sip:%s@example.com>;presence=p2p\n", watches, watches)
	if err := os.WriteFile(filepath.Join(dir, "contacts"), []byte(contacts), 0o644); err != nil {
		t.Fatal(err)
	}
	account := fmt.Sprintf(`<sip:%s@example.com>;outbound="sip:%s;transport=udp";regint=300;pubint=600`, name, p.Addr)
	return startSoftphoneIn(t, dir, name, account, "module_app contact.so", "module_app presence.so")
}

// reContactState is a line of baresip's /contacts listing: the
// contact's presence (colored) and its name and URI.
var reContactState = regexp.MustCompile(`(Online|Offline|Busy|Away|Unknown)\S*\s+(\w+) <sip:`)

// waitContact lists s's contacts every half second until the one named
// name shows state.
func (s *softphone) waitContact(name, state string, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s.command("/contacts")
		time.Sleep(500 * time.Millisecond)
		b, _ := os.ReadFile(s.logPath)
		last := ""
		for _, m := range reContactState.FindAllStringSubmatch(string(b), -1) {
			if m[2] == name {
				last = m[1]
			}
		}
		if last == state {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: contact %s shows %q, not %q, after %v", s.name, name, last, state, timeout)
		}
	}
}

// TestBaresipPresence: two baresip phones watch each other through
// parley. Each sees the other online once registered (a registration is
// open), bob's /presence_offline (a PUBLISH) shows as offline at alice's
// and /presence_online as online again, and bob quitting (un-PUBLISH,
// un-REGISTER) leaves him offline.
func TestBaresipPresence(t *testing.T) {
	requireTool(t, "baresip", baresipHint)
	p := startParley(t)
	alice := presencePhone(t, p, "alice", "bob")
	alice.waitLog(reRegistered, phoneWait)
	bob := presencePhone(t, p, "bob", "alice")
	bob.waitLog(reRegistered, phoneWait)

	alice.waitContact("bob", "Online", phoneWait)
	bob.waitContact("alice", "Online", phoneWait)
	bob.command("/presence_offline")
	alice.waitContact("bob", "Offline", phoneWait)
	bob.command("/presence_online")
	alice.waitContact("bob", "Online", phoneWait)
	bob.quit()
	alice.waitContact("bob", "Offline", phoneWait)
	alice.quit()
	if log, _ := os.ReadFile(p.logPath); bytes.Contains(log, []byte("level=ERROR")) {
		t.Errorf("parley logged errors:\n%s", tail(p.logPath, 4000))
	}
}

// sipUA is a bare UDP user agent: it subscribes and answers NOTIFYs.
type sipUA struct {
	t     *testing.T
	conn  *net.UDPConn
	local string
	srv   netip.AddrPort
}

func newSipUA(t *testing.T, server string) *sipUA {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &sipUA{t: t, conn: conn, local: conn.LocalAddr().String(), srv: netip.MustParseAddrPort(server)}
}

// subscribe sends a SUBSCRIBE for bob's presence: out of dialog when
// toTag is "", else in the dialog it names.
func (u *sipUA) subscribe(callID, toTag string, cseq, expires int) {
	to := "<sip:bob@example.com>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	msg := "SUBSCRIBE sip:bob@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + u.local + ";branch=z9hG4bK-" + callID + "-" + strconv.Itoa(cseq) + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=w-" + callID + "\r\nTo: " + to + "\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: " + strconv.Itoa(cseq) + " SUBSCRIBE\r\n" +
		"Contact: <sip:alice@" + u.local + ">\r\nEvent: presence\r\nAccept: application/pidf+xml\r\n" +
		"Expires: " + strconv.Itoa(expires) + "\r\nContent-Length: 0\r\n\r\n"
	if _, err := u.conn.WriteToUDPAddrPort([]byte(msg), u.srv); err != nil {
		u.t.Fatal(err)
	}
}

// next returns the next request or final response as text.
func (u *sipUA) next(within time.Duration) string {
	u.t.Helper()
	buf := make([]byte, 65536)
	u.conn.SetReadDeadline(time.Now().Add(within))
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			u.t.Fatalf("nothing received within %v: %v", within, err)
		}
		msg := string(buf[:n])
		if strings.HasPrefix(msg, "SIP/2.0 1") {
			continue
		}
		if strings.HasPrefix(msg, "NOTIFY ") {
			u.conn.WriteToUDPAddrPort([]byte(okFor(msg)), from)
		}
		return msg
	}
}

// expect reads the next message and checks it has every header line in
// want ("Name: value"), returning it.
func (u *sipUA) expect(what string, start string, want ...string) string {
	u.t.Helper()
	msg := u.next(5 * time.Second)
	if !strings.HasPrefix(msg, start) {
		u.t.Fatalf("%s: got\n%s\nwant it to start %q", what, msg, start)
	}
	for _, w := range want {
		if !strings.Contains(msg, "\r\n"+w+"\r\n") {
			u.t.Errorf("%s: no %q in\n%s", what, w, msg)
		}
	}
	return msg
}

// okFor is a 200 to a request given as text: its Via, From, To, Call-ID
// and CSeq lines.
func okFor(req string) string {
	out := "SIP/2.0 200 OK\r\n"
	for _, line := range strings.Split(req, "\r\n") {
		name, _, _ := strings.Cut(line, ":")
		switch strings.ToLower(name) {
		case "via", "from", "to", "call-id", "cseq":
			out += line + "\r\n"
		}
	}
	return out + "Content-Length: 0\r\n\r\n"
}

// headerOf returns a header's value from a message as text.
func headerOf(msg, name string) string {
	for _, line := range strings.Split(msg, "\r\n") {
		if n, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(n, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func toTagOf(msg string) string {
	_, tag, _ := strings.Cut(headerOf(msg, "To"), ";tag=")
	tag, _, _ = strings.Cut(tag, ";")
	return tag
}

// answered reads a SUBSCRIBE's response and its NOTIFY, which may
// overtake it (RFC 6665 §4.1.2.4), and checks each has its header lines.
func (u *sipUA) answered(what string, resp, notify []string) (string, string) {
	u.t.Helper()
	var r, n string
	for r == "" || n == "" {
		msg := u.next(5 * time.Second)
		switch {
		case strings.HasPrefix(msg, "SIP/2.0 200") && r == "":
			r = msg
		case strings.HasPrefix(msg, "NOTIFY ") && n == "":
			n = msg
		default:
			u.t.Fatalf("%s: unexpected\n%s", what, msg)
		}
	}
	for _, c := range []struct {
		msg  string
		want []string
	}{{r, resp}, {n, notify}} {
		for _, w := range c.want {
			if !strings.Contains(c.msg, "\r\n"+w+"\r\n") {
				u.t.Errorf("%s: no %q in\n%s", what, w, c.msg)
			}
		}
	}
	return r, n
}

// TestPresenceSubscription: a SUBSCRIBE through the parley binary is
// refreshed, a fetch gets one NOTIFY and ends, a short one expires, and
// one survives a kill -9 of parley: the restarted process notifies it
// and answers its refresh, in its dialog.
func TestPresenceSubscription(t *testing.T) {
	data := t.TempDir()
	cfg := writeConfig(t, "presence:\n  min_expires: 1s\n  notify_throttle: 0s\n")
	p := startParley(t, "--config", cfg, "--data-dir", data)
	u := newSipUA(t, p.Addr)

	u.subscribe("keep", "", 1, 600)
	ok, n := u.answered("SUBSCRIBE", []string{"Expires: 600"},
		[]string{"Subscription-State: active;expires=600", "Event: presence", "Content-Type: application/pidf+xml"})
	tag := toTagOf(ok)
	if !strings.Contains(n, "<basic>closed</basic>") {
		t.Errorf("bob is not registered, yet:\n%s", n)
	}
	u.subscribe("keep", tag, 2, 300)
	u.answered("refresh", []string{"Expires: 300"}, []string{"Subscription-State: active;expires=300"})

	u.subscribe("fetch", "", 1, 0)
	if _, n := u.answered("fetch", []string{"Expires: 0"}, []string{"Subscription-State: terminated;reason=timeout"}); !strings.Contains(n, "<presence") {
		t.Errorf("the fetch's NOTIFY has no state:\n%s", n)
	}

	u.subscribe("short", "", 1, 2)
	u.answered("short", []string{"Expires: 2"}, []string{"Subscription-State: active;expires=2"})
	if n := u.next(4 * time.Second); !strings.Contains(n, "Subscription-State: terminated;reason=timeout") || headerOf(n, "Call-ID") != "short" {
		t.Errorf("at expiry:\n%s", n)
	}

	p.kill(t)
	p2 := startParley(t, "--config", cfg, "--data-dir", data)
	if n := u.expect("NOTIFY after the restart", "NOTIFY ", "Call-ID: keep"); !strings.Contains(headerOf(n, "Subscription-State"), "active;expires=") {
		t.Errorf("after the restart:\n%s", n)
	}
	u.srv = netip.MustParseAddrPort(p2.Addr)
	u.subscribe("keep", tag, 3, 0)
	u.answered("unsubscribe after the restart", []string{"Expires: 0"}, []string{"Subscription-State: terminated;reason=timeout"})
}

// waitFileCount waits until the file at path matches re at least n times.
func waitFileCount(t *testing.T, path string, re *regexp.Regexp, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		if len(re.FindAll(b, -1)) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s matches %q fewer than %d times within %v", path, re, n, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLinphonePresence: linphone-daemon, with an account that publishes
// its presence and a friend it subscribes to, and a baresip phone that
// watches it, see each other through parley: Linphone hears bob closed,
// then open once bob registers, then closed after bob's
// /presence_offline; bob sees Linphone online from its PUBLISH.
func TestLinphonePresence(t *testing.T) {
	requireTool(t, "baresip", baresipHint)
	p := startParley(t)
	rc := fmt.Sprintf("[proxy_0]\nreg_proxy=<sip:%s;transport=udp>\nreg_identity=sip:linda@example.com\n"+
		"reg_route=<sip:%s;transport=udp;lr>\nreg_expires=600\nreg_sendregister=1\npublish=1\n"+
		"[friend_0]\nurl=\"Bob\" <sip:bob@example.com>\npol=accept\nsubscribe=1\n", p.Addr, p.Addr)
	linda := startLinphoneRC(t, "linda", rc)
	closed := regexp.MustCompile(`We are notified that \["Bob" <sip:bob@example.com>\] has presence \[closed\]`)
	open := regexp.MustCompile(`We are notified that \["Bob" <sip:bob@example.com>\] has presence \[open\]`)
	waitFileCount(t, linda.logPath, closed, 1, 10*time.Second)

	bob := presencePhone(t, p, "bob", "linda")
	bob.waitLog(reRegistered, phoneWait)
	waitFileCount(t, linda.logPath, open, 1, 10*time.Second)
	bob.waitContact("linda", "Online", phoneWait)
	bob.command("/presence_offline")
	waitFileCount(t, linda.logPath, closed, 2, 10*time.Second)
	bob.quit()
}

// notifyWith reads NOTIFYs (answering each) until one's body holds
// text, or does not when absent is set.
func (u *sipUA) notifyWith(what, text string, absent bool, within time.Duration) string {
	u.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		msg := u.next(time.Until(deadline))
		if strings.HasPrefix(msg, "NOTIFY ") && strings.Contains(msg, text) != absent {
			return msg
		}
	}
	u.t.Fatalf("%s: no NOTIFY within %v", what, within)
	return ""
}

// TestPresenceOnThePhone: a watcher of bob sees him on-the-phone (RPID)
// while a call between two baresip phones through parley is answered,
// and no longer once it is hung up: the call tracker feeds presence.
func TestPresenceOnThePhone(t *testing.T) {
	requireTool(t, "baresip", baresipHint)
	p := startParley(t)
	outbound := fmt.Sprintf(`;outbound="sip:%s;transport=udp";regint=300`, p.Addr)
	bob := startSoftphone(t, "bob", "<sip:bob@example.com>"+outbound+";answermode=auto")
	alice := startSoftphone(t, "alice", "<sip:alice@example.com>"+outbound)
	bob.waitLog(reRegistered, phoneWait)
	alice.waitLog(reRegistered, phoneWait)

	u := newSipUA(t, p.Addr)
	u.subscribe("otp", "", 1, 600)
	u.notifyWith("bob registered", "<basic>open</basic>", false, 5*time.Second)
	alice.command("/dial bob")
	alice.waitLog(reEstablished, phoneWait)
	u.notifyWith("in the call", "on-the-phone", false, 5*time.Second)
	alice.command("/hangup")
	alice.waitLog(reTerminated, phoneWait)
	u.notifyWith("after the call", "on-the-phone", true, 5*time.Second)
	alice.quit()
	bob.quit()
}
