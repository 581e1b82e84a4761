package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestB2BUAAttendedTransferLinphone: three real phones through parley in
// mode b2bua. alice (baresip) calls bob (linphone-daemon, whose Contact
// is the GRUU parley's registrar gave it), bob calls carol (baresip,
// answering at once; linphone holds alice meanwhile), then transfers
// alice to carol attended: the daemon's "call-transfer 1 2" sends REFER
// on his call with alice, Refer-To carol?Replaces=<his dialog with
// carol>. Parley joins alice and carol: bob's phone has no call left,
// /api/b2bua/calls lists one call, alice with carol, transferred by bob,
// audio reaches carol, and once alice hangs up the records say the same:
// bob's call with carol handed over, alice's call with bob transferred
// (attended), then alice with carol, transferred by bob.
func TestB2BUAAttendedTransferLinphone(t *testing.T) {
	requireTool(t, "baresip", baresipHint)
	requireTool(t, "linphone-daemon", linphoneHint)
	cfg, base := adminConfig(t)
	p := startParley(t, "--config", cfg, "--mode", "b2bua")
	outbound := fmt.Sprintf(`;outbound="sip:%s;transport=udp";regint=300`, p.Addr)
	carol := startSoftphone(t, "carol", "<sip:carol@example.com>"+outbound+";answermode=auto")
	alice := startSoftphone(t, "alice", "<sip:alice@example.com>"+outbound)
	// The account in linphonerc, not the daemon's register command: only
	// a default account's route takes bob's own calls to parley.
	rc := fmt.Sprintf("[proxy_0]\nreg_proxy=<sip:%s;transport=udp>\nreg_identity=sip:bob@example.com\n"+
		"reg_route=<sip:%s;transport=udp;lr>\nreg_expires=600\nreg_sendregister=1\n", p.Addr, p.Addr)
	bob := startLinphoneRC(t, "bob", rc)
	bob.waitFor("register-status ALL", "LinphoneRegistrationOk", phoneWait)
	for _, s := range []*softphone{carol, alice} {
		s.waitLog(reRegistered, phoneWait)
	}
	alice.command("/dial bob")
	bob.waitFor("call-status", "LinphoneCallIncomingReceived", phoneWait)
	bob.command("answer")
	alice.waitLog(reEstablished, phoneWait)
	bob.waitFor("call-status", "LinphoneCallStreamsRunning", phoneWait)
	second := field(bob.command("call sip:carol@example.com"), "Id")
	carol.waitLog(reEstablished, phoneWait)
	bob.waitFor("call-status "+second, "LinphoneCallStreamsRunning", phoneWait)
	// The daemon numbers calls as it sees them: alice's was the first.
	if st := bob.command("call-status 1"); !strings.Contains(st, "From: sip:alice@example.com") {
		t.Fatalf("bob's call 1 is not alice's: %s", st)
	}
	if resp := bob.command("call-transfer 1 " + second); !strings.Contains(resp, "Status: Ok") {
		t.Fatalf("call-transfer: %s", resp)
	}
	bob.waitFor("call-status", "No current call", phoneWait)
	c := joinedCall(t, base)
	if c.Caller != "sip:alice@example.com" || c.Callee != "sip:carol@example.com" || c.Route != "local" ||
		c.A.Party != "sip:alice@example.com" || c.B.Party != "sip:carol@example.com" || c.State != "answered" {
		t.Errorf("call listed after the transfer %+v, want alice talking to carol", c)
	}
	time.Sleep(3 * time.Second)
	alice.command("/hangup")
	alice.waitLog(reTerminated, phoneWait)
	carol.waitLog(reTerminated, phoneWait)
	expectRTP(t, carol)
	checkAttendedRecords(t, base, c)
	alice.quit()
	carol.quit()
}

// joinedCall waits until /api/b2bua/calls lists one call, transferred by
// bob, and returns it.
func joinedCall(t *testing.T, base string) b2buaCallInfo {
	t.Helper()
	var calls []b2buaCallInfo
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		calls = b2buaCalls(t, base)
		if len(calls) == 1 && calls[0].TransferredBy == "sip:bob@example.com" {
			return calls[0]
		}
	}
	t.Fatalf("calls %+v, want the one call bob transferred", calls)
	return b2buaCallInfo{}
}

// checkAttendedRecords checks the three records of an attended transfer
// of alice from bob to carol, whose joined call was listed as c.
func checkAttendedRecords(t *testing.T, base string, c b2buaCallInfo) {
	t.Helper()
	recs := waitB2BUACDRs(t, base, 3, "bob's two calls and the joined one")
	byReason := map[string]b2buaCDR{}
	for _, r := range recs {
		byReason[r.Reason] = r
	}
	handed, first, joined := byReason["transferred (attended)"], byReason["transferred (attended) to sip:carol@example.com"], byReason["hung up"]
	if handed.Caller != "sip:bob@example.com" || handed.Callee != "sip:carol@example.com" {
		t.Errorf("bob's call with carol: %+v", handed)
	}
	if first.Caller != "sip:alice@example.com" || first.Callee != "sip:bob@example.com" || first.HungUpBy != "callee" {
		t.Errorf("alice's call with bob: %+v", first)
	}
	if joined.CallID != first.CallID || joined.Caller != "sip:alice@example.com" || joined.Callee != "sip:carol@example.com" ||
		joined.TransferredBy != "sip:bob@example.com" || joined.BCallID != c.B.CallID || joined.HungUpBy != "caller" || joined.Route != "local" {
		t.Errorf("alice's call with carol: %+v (listed as %+v)", joined, c)
	}
}
