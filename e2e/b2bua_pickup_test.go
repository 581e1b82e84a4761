package e2e

import (
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
	bob.WaitLog("registered", 10*time.Second)
	alice := startSipp(t, "-sf", scenario("uac_wait_bye.xml"), "-s", "bob", p.Addr)
	replaces := replacesOf(t, base, func(c b2buaCallInfo) *b2buaLeg {
		if c.State == "ringing" && c.A.State == "early" {
			return &c.A
		}
		return nil
	}) + ";early-only"
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
