package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// b2buaReasons reads the records' reason column, which the shared
// apiCDR leaves out.
func b2buaReasons(t *testing.T, base string) []struct {
	Disposition string `json:"disposition"`
	HungUpBy    string `json:"hung_up_by"`
	Reason      string `json:"reason"`
	Status      int    `json:"status"`
} {
	t.Helper()
	code, body := httpGet(t, base+"/api/cdrs")
	var v struct {
		CDRs []struct {
			Disposition string `json:"disposition"`
			HungUpBy    string `json:"hung_up_by"`
			Reason      string `json:"reason"`
			Status      int    `json:"status"`
		}
	}
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
		t.Fatalf("/api/cdrs: %d %v: %s", code, err, body)
	}
	return v.CDRs
}

// TestB2BUASessionTimerExpiry: alice asks for a 90 s session timer that
// she refreshes herself (refresher=uac) and then vanishes. Parley's 2xx
// confirms her interval and role; when no refresh has come 60 s later
// (90 s less a third, RFC 4028 §10) Parley sends BYE to both legs, and
// the call's record says it expired: the system ended it because the
// caller stopped refreshing. It takes a minute: 90 s is the smallest interval RFC 4028
// allows.
func TestB2BUASessionTimerExpiry(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	cfg, base := adminConfig(t)
	p := startParley(t, "--config", cfg, "--mode", "b2bua")
	// uas_register.xml gives a call 15 s; this one lasts a minute, so bob
	// registers first and then answers with uas_answer.xml on that port.
	users := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(users, []byte("SEQUENTIAL\nbob;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(freePort(t, false))
	startSipp(t, "-sf", scenario("register_only.xml"), "-inf", users, "-p", port, p.Addr).ExpectSuccess()
	callee := startSipp(t, "-sf", scenario("uas_answer.xml"), "-s", "bob", "-p", port, "-timeout", "90s", p.Addr)
	alice := startSipp(t, "-sf", scenario("uac_timer_vanish.xml"), "-s", "bob", "-timeout", "90s", p.Addr)
	alice.WaitLog("answered", phoneWait)
	answered := time.Now()
	alice.WaitLog("expired", 75*time.Second)
	if waited := time.Since(answered); waited < 55*time.Second {
		t.Errorf("BYE %v after the answer; RFC 4028 §10 puts it at 60 s for a 90 s interval", waited)
	}
	alice.ExpectSuccess()
	callee.ExpectSuccess()
	var recs []struct {
		Disposition string `json:"disposition"`
		HungUpBy    string `json:"hung_up_by"`
		Reason      string `json:"reason"`
		Status      int    `json:"status"`
	}
	for deadline := time.Now().Add(10 * time.Second); len(recs) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		recs = b2buaReasons(t, base)
	}
	if len(recs) != 1 || recs[0].HungUpBy != "system" || recs[0].Disposition != "expired" ||
		!strings.Contains(recs[0].Reason, "session timer expired: the caller stopped refreshing") {
		t.Fatalf("records %+v, want one answered call ended by the system for the caller's lapsed session timer", recs)
	}
}

// TestB2BUASessionTimer422: alice asks for 60 s, below the default Min-SE
// of 90 s: she gets 422 Session Interval Too Small with Min-SE: 90, asks
// again with 90 s as RFC 4028 §7.4 says, and that call goes through.
func TestB2BUASessionTimer422(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	p := startParley(t, "--mode", "b2bua")
	callee, alice := b2buaCall(t, p, "uas_answer.xml", "uac_timer_422.xml")
	// The callee's leg has Parley's own timer offer, not alice's.
	bob := callee.messages(t)
	if se := headerValues(bob, "Session-Expires"); len(se) == 0 || se[0] != "1800" {
		t.Errorf("bob's INVITE Session-Expires %q, want Parley's 1800", se)
	}
	leakCheck(t, alice, callee, "alice", "bob")
}

// TestB2BUABlindTransferBaresip: three baresip phones. alice calls bob
// through parley in mode b2bua; bob transfers her to carol (/transfer,
// a REFER). Parley places the call to carol itself, reconnects alice to
// her with a re-INVITE and hangs bob up; audio then flows between alice
// and carol, and alice's hang-up ends carol's call.
func TestB2BUABlindTransferBaresip(t *testing.T) {
	requireTool(t, "baresip", baresipHint)
	p := startParley(t, "--mode", "b2bua")
	outbound := fmt.Sprintf(`;outbound="sip:%s;transport=udp";regint=300`, p.Addr)
	bob := startSoftphone(t, "bob", "<sip:bob@example.com>"+outbound+";answermode=auto")
	carol := startSoftphone(t, "carol", "<sip:carol@example.com>"+outbound+";answermode=auto")
	alice := startSoftphone(t, "alice", "<sip:alice@example.com>"+outbound)
	for _, s := range []*softphone{bob, carol, alice} {
		s.waitLog(reRegistered, phoneWait)
	}
	alice.command("/dial bob")
	alice.waitLog(reEstablished, phoneWait)
	bob.waitLog(reEstablished, phoneWait)
	time.Sleep(time.Second)
	bob.command("/transfer sip:carol@example.com")
	carol.waitLog(reEstablished, phoneWait)
	bob.waitLog(reTerminated, phoneWait)
	time.Sleep(3 * time.Second)
	alice.command("/hangup")
	carol.waitLog(reTerminated, phoneWait)
	alice.waitLog(reTerminated, phoneWait)
	expectRTP(t, carol)
	for _, s := range []*softphone{alice, bob, carol} {
		s.quit()
	}
}

// TestB2BUACallLimit: with limits.calls.per_user at 1, alice's second
// call while her first is up is refused 486 Caller Call Limit Reached
// without ringing anyone; hanging up the first frees her place.
func TestB2BUACallLimit(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
	cfg := writeConfig(t, "admin:\n  listen: "+admin+"\ncdr:\n  enabled: true\nlimits:\n  calls:\n    per_user: 1\n")
	base := "http://" + admin
	p := startParley(t, "--config", cfg, "--mode", "b2bua")
	callee := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_answer.xml"),
		"-s", "bob", "-set", "calls", "1", p.Addr)
	callee.WaitLog("registered", phoneWait)
	first := startSipp(t, "-sf", scenario("uac_wait_bye.xml"), "-s", "bob", p.Addr)
	var id string
	for deadline := time.Now().Add(10 * time.Second); id == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, c := range b2buaCalls(t, base) {
			if c.State == "answered" {
				id = c.ID
			}
		}
	}
	if id == "" {
		t.Fatal("alice's first call was not answered")
	}
	second := startSipp(t, "-sf", scenario("uac_busy.xml"), "-s", "bob", p.Addr)
	second.ExpectSuccess()
	if got := second.messages(t); !strings.Contains(got, "SIP/2.0 486 Caller Call Limit Reached") {
		t.Errorf("alice's second call was not refused for her limit:\n%s", got)
	}
	req, _ := http.NewRequest(http.MethodDelete, base+"/api/b2bua/calls/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	first.ExpectSuccess()
	callee.ExpectSuccess()
	// Her place is free again: a third call gets through to a callee.
	b2buaCall(t, p, "uas_answer.xml", "uac_call.xml")
}

// TestB2BUAInviteReplaces: alice talks to bob through parley in mode
// b2bua; carol's phone sends an INVITE with Replaces naming Parley's
// dialog with bob (read from /api/b2bua/calls, as a phone would have it
// from the transferor). Alice is re-INVITEd with carol's session, bob is
// hung up, and when carol hangs up alice gets the BYE. Nothing of
// alice's leg reaches carol.
func TestB2BUAInviteReplaces(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	cfg, base := adminConfig(t)
	p := startParley(t, "--config", cfg, "--mode", "b2bua")
	callee := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_answer.xml"),
		"-s", "bob", "-set", "calls", "1", p.Addr)
	callee.WaitLog("registered", phoneWait)
	alice := startSipp(t, "-sf", scenario("uac_reinvited.xml"), "-s", "bob", p.Addr)
	alice.WaitLog("answered", phoneWait)
	replaces := replacesOf(t, base, func(c b2buaCallInfo) *b2buaLeg {
		if c.B.State == "confirmed" {
			return &c.B
		}
		return nil
	})
	carol := startSipp(t, "-sf", scenario("uac_replaces.xml"), "-s", "bob", "-set", "replaces", replaces, p.Addr)
	carol.ExpectSuccess()
	alice.ExpectSuccess()
	callee.ExpectSuccess()
	leakCheck(t, alice, carol, "alice", "carol")
	leakCheck(t, carol, alice, "carol", "alice")
}

// TestB2BUASessionTimerParleyRefreshes: with b2bua.session_expires 90s,
// neither phone does session timers, so Parley refreshes both legs at
// half the interval: an UPDATE to alice (she allows it) and a re-INVITE
// with the session he has to bob (he does not); both answer, and the call
// goes on until alice hangs up. Takes 45 s.
func TestB2BUASessionTimerParleyRefreshes(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	cfg := writeConfig(t, "b2bua:\n  session_expires: 90s\n")
	p := startParley(t, "--config", cfg, "--mode", "b2bua")
	users := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(users, []byte("SEQUENTIAL\nbob;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(freePort(t, false))
	startSipp(t, "-sf", scenario("register_only.xml"), "-inf", users, "-p", port, p.Addr).ExpectSuccess()
	bob := startSipp(t, "-sf", scenario("uas_timer_refresh.xml"), "-s", "bob", "-p", port, "-timeout", "80s", p.Addr)
	alice := startSipp(t, "-sf", scenario("uac_timer_refreshed.xml"), "-s", "bob", "-timeout", "80s", p.Addr)
	alice.WaitLog("refreshed", 60*time.Second)
	bob.WaitLog("refreshed", phoneWait)
	alice.ExpectSuccess()
	bob.ExpectSuccess()
	leakCheck(t, alice, bob, "alice", "bob")
	leakCheck(t, bob, alice, "bob", "alice")
}

// TestB2BUABlindTransferSipp: the blind transfer on the wire. Bob
// answers alice and REFERs her to carol (uas_refer.xml); he checks the
// 202, the NOTIFYs (Event: refer, message/sipfrag 100 Trying, then the
// final 200 OK with Subscription-State terminated) and gets a BYE.
// Alice is re-INVITEd to carol (uac_reinvited.xml), carol answers and
// hangs up (uas_answer_bye.xml), and nothing of one party's leg reaches
// another's. While alice and carol talk, /api/b2bua/calls lists the
// call as theirs (transferred by bob, carol's leg as the B leg). The
// call has two records with alice's Call-ID: alice with bob until the
// transfer, then alice with carol, transferred by bob.
func TestB2BUABlindTransferSipp(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	cfg, base := adminConfig(t)
	p := startParley(t, "--config", cfg, "--mode", "b2bua")
	carol := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_answer_bye.xml"),
		"-s", "carol", "-set", "calls", "1", p.Addr)
	carol.WaitLog("registered", phoneWait)
	bob := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_refer.xml"),
		"-s", "bob", "-set", "calls", "1", p.Addr)
	bob.WaitLog("registered", phoneWait)
	alice := startSipp(t, "-sf", scenario("uac_reinvited.xml"), "-s", "bob", p.Addr)
	listed := transferredCall(t, base)
	alice.ExpectSuccess()
	carol.ExpectSuccess()
	bob.ExpectSuccess()
	bob.ExpectChecksPassed()
	for _, pair := range [][2]*sippProc{{alice, carol}, {carol, alice}, {bob, carol}, {carol, bob}} {
		leakCheck(t, pair[0], pair[1], pair[0].name, pair[1].name)
	}
	second := checkTransferRecords(t, base)
	if listed.Caller != second.Caller || listed.Callee != second.Callee || listed.Dialled != second.Dialled ||
		listed.B.CallID != second.BCallID || listed.A.CallID != second.CallID {
		t.Errorf("listed after the transfer %+v, but the record of that part of the call is %+v", listed, second)
	}
}

// transferredCall waits (carol talks to alice for a second) until
// /api/b2bua/calls lists a call transferred by bob, and checks that it
// names the parties talking now, alice and carol, on their legs.
func transferredCall(t *testing.T, base string) b2buaCallInfo {
	t.Helper()
	var calls []b2buaCallInfo
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		calls = b2buaCalls(t, base)
		if len(calls) == 1 && calls[0].TransferredBy != "" {
			c := calls[0]
			if c.Caller != "sip:alice@example.com" || c.Callee != "sip:carol@example.com" || c.Dialled != "carol" ||
				c.TransferredBy != "sip:bob@example.com" || c.Route != "local" || c.State != "answered" ||
				c.A.Party != "sip:alice@example.com" || c.B.Party != "sip:carol@example.com" {
				t.Errorf("call listed after the transfer %+v, want alice talking to carol, transferred by bob", c)
			}
			return c
		}
	}
	t.Fatalf("no transferred call listed within 15 s: %+v", calls)
	return b2buaCallInfo{}
}

// checkTransferRecords waits for the two records of a call bob
// transferred blind from alice to carol, checks what they say and
// returns the second.
func checkTransferRecords(t *testing.T, base string) b2buaCDR {
	t.Helper()
	recs := waitB2BUACDRs(t, base, 2, "the call's two segments")
	second, first := recs[0], recs[1] // newest first
	if first.CallID != second.CallID || first.Callee != "sip:bob@example.com" || first.HungUpBy != "callee" ||
		first.Reason != "transferred (blind) to sip:carol@example.com" || first.TransferredBy != "" {
		t.Errorf("first record %+v", first)
	}
	if second.Caller != "sip:alice@example.com" || second.Callee != "sip:carol@example.com" || second.TransferredBy != "sip:bob@example.com" ||
		second.Disposition != "answered" || second.BCallID == "" || second.BCallID == first.BCallID {
		t.Errorf("second record %+v", second)
	}
	if first.Route != "local" || second.Route != "local" || second.HungUpBy != "callee" || second.Reason != "hung up" {
		t.Errorf("routes %q and %q, want both local (calls to registered phones); second hung up by %q, %q; want callee, hung up",
			first.Route, second.Route, second.HungUpBy, second.Reason)
	}
	return second
}
