package e2e

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestB2BUAPickup: alice calls bob through parley in mode b2bua and bob's
// phone rings (uas_ring_forever.xml); carol's phone picks the call up
// with an INVITE whose Replaces names the ringing call as bob's busy lamp
// shows it (the caller's leg, read from /api/b2bua/calls: its Call-ID,
// Parley's tag as to-tag, alice's as from-tag). Carol and alice both get
// 200, bob's phone is cancelled (it answers 487 and gets the ACK), carol
// hangs up after a second and alice gets the BYE; nothing of one phone's
// leg reaches the other, and the call's record names carol as the phone
// that answered it.
func TestB2BUAPickup(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	cfg, base := adminConfig(t)
	p := startParley(t, "--config", cfg, "--mode", "b2bua")
	bob := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_ring_forever.xml"),
		"-s", "bob", "-set", "calls", "1", p.Addr)
	bob.WaitLog("registered", phoneWait)
	alice := startSipp(t, "-sf", scenario("uac_wait_bye.xml"), "-s", "bob", p.Addr)
	replaces := replacesOf(t, base, ringingCallerLeg) + ";early-only"
	carol := startSipp(t, "-sf", scenario("uac_replaces.xml"), "-s", "bob", "-set", "replaces", replaces, p.Addr)
	carol.ExpectSuccess()
	alice.ExpectSuccess()
	bob.ExpectSuccess()
	// Carol's own Replaces names alice's leg, so only carol's secrets are
	// checked on alice's side; the unit test checks what reaches carol.
	leakCheck(t, carol, alice, "carol", "alice")
	var recs []b2buaCDR
	for deadline := time.Now().Add(10 * time.Second); len(recs) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		recs = b2buaCDRs(t, base)
	}
	time.Sleep(300 * time.Millisecond) // a second record, from the call tracker, would show by now
	recs = b2buaCDRs(t, base)
	if len(recs) != 1 || recs[0].AnsweredBy != "sip:carol@example.com" || recs[0].Callee != "sip:bob@example.com" ||
		recs[0].Disposition != "answered" || recs[0].HungUpBy != "callee" {
		t.Fatalf("records %+v, want one answered call to bob, answered by carol, hung up on the callee's side", recs)
	}
}

// ringingCallerLeg is the caller's leg of a ringing call, as bob's busy
// lamp shows it.
func ringingCallerLeg(c b2buaCallInfo) *b2buaLeg {
	if c.State == "ringing" && c.A.State == "early" {
		return &c.A
	}
	return nil
}

// TestB2BUAPickupNeedsPassword: with auth.enabled, an INVITE with
// Replaces naming a ringing call is challenged like any new call: the
// call's Call-ID and tags, which a busy lamp shows to every watcher, are
// no proof of who sends it. Alice and bob are on a trusted address
// (127.0.0.1, trusted_skip_auth) so that the call rings without
// passwords; carol sends her pickup from 127.0.0.2 without credentials
// and gets 407, and the call is still ringing at bob.
func TestB2BUAPickupNeedsPassword(t *testing.T) {
	p, base, bob := startTrustedB2BUA(t, "  methods: [INVITE]\n  algorithms: [MD5]\n", "uas_ring_forever.xml")
	alice := startSipp(t, "-sf", scenario("uac_wait_bye.xml"), "-s", "bob", p.Addr)
	replaces := replacesOf(t, base, ringingCallerLeg)
	defer func() { // the call rings for ever: its phones are stopped here
		for _, s := range []*sippProc{alice, bob} {
			s.cancel()
			s.Wait()
		}
	}()
	if got := sendReplaces(t, p.Addr, "carol@example.com", replaces+";early-only"); !strings.HasPrefix(got, "407 ") {
		t.Fatalf("carol's pickup without credentials was answered %q, want 407", got)
	}
	time.Sleep(300 * time.Millisecond)
	if calls := b2buaCalls(t, base); len(calls) != 1 || calls[0].State != "ringing" {
		t.Fatalf("calls after the refused pickup: %+v, want alice's call still ringing", calls)
	}
}

// TestB2BUATakeoverNeedsPassword: with auth.enabled and the default
// auth.allow_unauthenticated_to_local, a caller of another domain
// reaches our users without a password; an INVITE with Replaces naming
// an answered call's leg must not let such a caller take that call over
// (the Call-ID and tags are no secret). Alice and bob talk on a trusted
// address; mallory@evil.example sends the takeover from 127.0.0.2 and
// gets 403, and the call goes on between alice and bob.
func TestB2BUATakeoverNeedsPassword(t *testing.T) {
	p, base, bob := startTrustedB2BUA(t, "", "uas_answer.xml")
	alice := startSipp(t, "-sf", scenario("uac_wait_bye.xml"), "-s", "bob", p.Addr)
	defer func() {
		for _, s := range []*sippProc{alice, bob} {
			s.cancel()
			s.Wait()
		}
	}()
	answeredCallerLeg := func(c b2buaCallInfo) *b2buaLeg {
		if c.State == "answered" && c.A.State == "confirmed" {
			return &c.A
		}
		return nil
	}
	replaces := replacesOf(t, base, answeredCallerLeg)
	if got := sendReplaces(t, p.Addr, "mallory@evil.example", replaces); !strings.HasPrefix(got, "403 ") {
		t.Fatalf("mallory's takeover without credentials was answered %q, want 403", got)
	}
	time.Sleep(300 * time.Millisecond)
	calls := b2buaCalls(t, base)
	if len(calls) != 1 || calls[0].State != "answered" || replacesOf(t, base, answeredCallerLeg) != replaces {
		t.Fatalf("calls after the refused takeover: %+v, want alice's call with bob as it was", calls)
	}
}

// startTrustedB2BUA starts parley in mode b2bua with auth.enabled (more
// auth keys in authKeys, indented under it) and 127.0.0.1 trusted
// without passwords, and bob's sipp phone there, registered and
// answering calls with the scenario bobCalls. It returns parley, its
// admin URL and bob.
func startTrustedB2BUA(t *testing.T, authKeys, bobCalls string) (*parley, string, *sippProc) {
	t.Helper()
	requireTool(t, "sipp", sippHint)
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
	cfg := writeConfig(t, "admin:\n  listen: "+admin+"\nauth:\n  enabled: true\n"+authKeys+
		"security:\n  trusted: [127.0.0.1/32]\n  trusted_skip_auth: true\n")
	p := startParley(t, "--config", cfg, "--mode", "b2bua")
	bob := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario(bobCalls),
		"-s", "bob", "-set", "calls", "1", p.Addr)
	bob.WaitLog("registered", phoneWait)
	return p, "http://" + admin, bob
}

// sendReplaces sends an INVITE with Replaces from 127.0.0.2, From
// the address from, without credentials, and returns the first final
// response's status line after "SIP/2.0 " ("" when none comes within 3 s).
func sendReplaces(t *testing.T, server, from, replaces string) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dst, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	local := conn.LocalAddr().String()
	id := strconv.FormatInt(time.Now().UnixNano(), 36)
	sdp := "v=0\r\no=carol 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"
	req := "INVITE sip:bob@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-pickup-" + id + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:" + from + ">;tag=c" + id + "\r\nTo: <sip:bob@example.com>\r\n" +
		"Call-ID: pickup-" + id + "\r\nCSeq: 1 INVITE\r\nContact: <sip:carol@" + local + ">\r\n" +
		"Replaces: " + replaces + "\r\nContent-Type: application/sdp\r\n" +
		"Content-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp
	if _, err := conn.WriteTo([]byte(req), dst); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return ""
		}
		if line, _, _ := bytes.Cut(buf[:n], []byte("\r\n")); !bytes.HasPrefix(line, []byte("SIP/2.0 1")) {
			return strings.TrimPrefix(string(line), "SIP/2.0 ")
		}
	}
}
