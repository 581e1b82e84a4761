package e2e

import (
	"encoding/json"
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
	var replaces string
	for deadline := time.Now().Add(10 * time.Second); replaces == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		code, body := httpGet(t, base+"/api/b2bua/calls")
		var v struct {
			Calls []struct {
				State string
				A     struct {
					CallID    string `json:"call_id"`
					LocalTag  string `json:"local_tag"`
					RemoteTag string `json:"remote_tag"`
					State     string
				}
			}
		}
		if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
			t.Fatalf("/api/b2bua/calls: %d %v", code, err)
		}
		for _, c := range v.Calls {
			if c.State == "ringing" && c.A.State == "early" {
				replaces = c.A.CallID + ";to-tag=" + c.A.LocalTag + ";from-tag=" + c.A.RemoteTag + ";early-only"
			}
		}
	}
	if replaces == "" {
		t.Fatal("no ringing call to pick up")
	}
	carol := startSipp(t, "-sf", scenario("uac_replaces.xml"), "-s", "bob", "-set", "replaces", replaces, p.Addr)
	carol.ExpectSuccess()
	alice.ExpectSuccess()
	bob.ExpectSuccess()
	// Carol's own Replaces names alice's leg, so only carol's secrets are
	// checked on alice's side; the unit test checks what reaches carol.
	leakCheck(t, carol, alice, "carol", "alice")
	var recs []struct {
		b2buaCDR
		AnsweredBy string `json:"answered_by"`
	}
	for deadline := time.Now().Add(10 * time.Second); len(recs) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		code, body := httpGet(t, base+"/api/cdrs")
		var v struct {
			CDRs []struct {
				b2buaCDR
				AnsweredBy string `json:"answered_by"`
			}
		}
		if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
			t.Fatalf("/api/cdrs: %d %v: %s", code, err, body)
		}
		recs = v.CDRs
	}
	if len(recs) != 1 || recs[0].AnsweredBy != "sip:carol@example.com" || recs[0].Callee != "sip:bob@example.com" ||
		recs[0].Disposition != "answered" || recs[0].HungUpBy != "callee" {
		t.Fatalf("records %+v, want one answered call to bob, answered by carol, hung up on the callee's side", recs)
	}
}
