package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/subscriber"
)

// trunkCDR is a record as /api/cdrs shows it, with its trunk.
type trunkCDR struct {
	CallID      string `json:"call_id"`
	BCallID     string `json:"b_call_id"`
	Dialled     string `json:"dialled"`
	Trunk       string `json:"trunk"`
	Route       string `json:"route"`
	Disposition string `json:"disposition"`
	Status      int    `json:"status"`
	HungUpBy    string `json:"hung_up_by"`
	Reason      string `json:"reason"`
	Callee      string `json:"callee"`
	Caller      string `json:"caller"`
	// TransferredBy is set on the second record of a transferred call.
	TransferredBy string `json:"transferred_by"`
}

// trunkCDRs waits until /api/cdrs has n records and returns them.
func trunkCDRs(t *testing.T, base string, n int) []trunkCDR {
	t.Helper()
	var v struct{ CDRs []trunkCDR }
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		code, body := httpGet(t, base+"/api/cdrs")
		if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
			t.Fatalf("/api/cdrs: %d %v: %s", code, err, body)
		}
		if len(v.CDRs) >= n {
			break
		}
	}
	if len(v.CDRs) != n {
		t.Fatalf("%d records, want %d: %+v", len(v.CDRs), n, v.CDRs)
	}
	return v.CDRs
}

// TestTrunkB2BUAChallenge: in mode stateful, alice dials 0301234567; the
// national route (b2bua: true) sends it through the B2BUA to a provider
// that challenges the INVITE (401, its answer checked by sipp's
// verifyauth; 407, whose Proxy-Authorization sipp cannot check, so the
// test checks it here). Parley answers with the trunk's credentials, the
// call connects and ends, the provider sees the account in From and
// nothing of alice's leg (Via, Contact, Call-ID, tags), the identity
// header the gateway's identity_header asks for (the caller's number, or
// the account's fixed one), and the record names the trunk.
func TestTrunkB2BUAChallenge(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	for _, tc := range []struct{ name, scenario, header, identity, idHeader, idValue string }{
		{"401", "gateway_challenge.xml", "Authorization", "identity_header: pai", "P-Asserted-Identity", "<sip:alice@provider.example>"},
		{"407", "gateway_challenge_407.xml", "Proxy-Authorization", "identity_header: ppi\n    identity_user: '4930123400'",
			"P-Preferred-Identity", "<sip:4930123400@provider.example>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw, cfg, base := challengingProvider(t, tc.scenario, tc.identity)
			p := startParley(t, "--config", cfg)
			alice := startSipp(t, "-sf", scenario("uac_call.xml"), "-s", "0301234567", p.Addr)
			alice.ExpectSuccess()
			gw.ExpectSuccess()
			gw.WaitLog("gateway got sip:+49301234567@127.0.0.3", time.Second)
			gw.WaitLog("gateway from <sip:4930123456@provider.example>", time.Second)
			checkTrunkAnswer(t, gw.messages(t), tc.header)
			if ids := headerValues(gw.messages(t), tc.idHeader); len(ids) != 2 || ids[0] != tc.idValue || ids[1] != tc.idValue {
				t.Errorf("the provider got %s %q, want %q on both INVITEs", tc.idHeader, ids, tc.idValue)
			}
			leakCheck(t, alice, gw, "alice", "the provider")
			leakCheck(t, gw, alice, "the provider", "alice")
			r := trunkCDRs(t, base, 1)[0]
			if r.Trunk != "provider" || r.Route != "national" || r.Dialled != "0301234567" || r.Disposition != "answered" || r.BCallID == "" || r.BCallID == r.CallID {
				t.Errorf("record %+v, want an answered call on trunk provider, route national, with its own B Call-ID", r)
			}
		})
	}
}

// challengingProvider starts a provider (sipp playing scenario, a
// challenge at 127.0.0.3) and writes the config of its trunk: account
// 4930123456 with password trunk-pw and from_host provider.example, the
// identity lines given, and a national route (0…, country code 49)
// through the B2BUA to it; records and the admin API on. It returns the
// provider, the config and the admin API's base URL.
func challengingProvider(t *testing.T, scenarioFile, identity string) (gw *sippProc, cfg, base string) {
	t.Helper()
	gw = startSipp(t, "-sf", scenario(scenarioFile), "-i", "127.0.0.3")
	gw.WaitListening()
	admin, base := adminAddr(t)
	cfg = writeConfig(t, `gateways:
  - name: provider
    address: "127.0.0.3:`+strconv.Itoa(gw.Port)+`"
    username: "4930123456"
    password: trunk-pw
    from_user: "4930123456"
    from_host: provider.example
    `+identity+`
routes:
  - {name: national, prefix: "0", country_code: "49", gateways: [provider], b2bua: true}
cdr:
  enabled: true
admin:
  listen: `+admin+"\n"+officeLAN)
	return gw, cfg, base
}

// TestTrunkB2BUATransferChallenge: in mode b2bua alice calls bob, and
// bob transfers her blind to 0301234567 (uas_refer.xml), a number the
// national route sends out through the provider, which challenges the
// new leg's INVITE (401 checked by sipp's verifyauth, 407 checked here).
// Parley answers with the trunk's credentials as for any call to it, the
// provider answers, bob's final NOTIFY says 200 OK (uas_refer.xml fails
// otherwise) and he is hung up; alice, re-INVITEd to the provider's
// session, hangs up and the provider gets the BYE. The provider sees the
// account in From and nothing of alice's or bob's legs, and the call's
// second record names the trunk, the route and the number, transferred
// by bob.
func TestTrunkB2BUATransferChallenge(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	for _, tc := range []struct {
		name, scenario, header string
		verified               bool // sipp checked the answer itself
	}{
		{"401", "gateway_challenge.xml", "Authorization", true},
		{"407", "gateway_challenge_407.xml", "Proxy-Authorization", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw, cfg, base := challengingProvider(t, tc.scenario, "")
			p := startParley(t, "--config", cfg, "--mode", "b2bua")
			bob := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_refer.xml"),
				"-s", "bob", "-set", "calls", "1", "-set", "refer_to", "sip:0301234567@example.com", p.Addr)
			bob.WaitLog("registered", phoneWait)
			alice := startSipp(t, "-sf", scenario("uac_reinvited.xml"), "-s", "bob", "-set", "hangup", "1", p.Addr)
			alice.ExpectSuccess()
			gw.ExpectSuccess()
			bob.ExpectSuccess()
			bob.ExpectChecksPassed()
			if tc.verified {
				gw.WaitLog("gateway auth ok", time.Second)
			}
			gw.WaitLog("gateway got sip:+49301234567@127.0.0.3", time.Second)
			gw.WaitLog("gateway from <sip:4930123456@provider.example>", time.Second)
			checkTrunkAnswer(t, gw.messages(t), tc.header)
			if !strings.Contains(bob.messages(t), "Subscription-State: terminated") {
				t.Error("bob got no final NOTIFY")
			}
			for _, pair := range [][2]*sippProc{{alice, gw}, {gw, alice}, {bob, gw}, {gw, bob}} {
				leakCheck(t, pair[0], pair[1], pair[0].name, pair[1].name)
			}
			recs := trunkCDRs(t, base, 2)
			second, first := recs[0], recs[1] // newest first
			if first.Reason != "transferred (blind) to sip:0301234567@example.com" || first.Callee != "sip:bob@example.com" {
				t.Errorf("first record %+v, want alice's call with bob, ended by the transfer", first)
			}
			if second.CallID != first.CallID || second.Trunk != "provider" || second.Route != "national" || second.Dialled != "0301234567" ||
				second.TransferredBy != "sip:bob@example.com" || second.Caller != "sip:alice@example.com" ||
				second.Disposition != "answered" || second.HungUpBy != "caller" || second.BCallID == first.BCallID {
				t.Errorf("second record %+v, want alice's call to the number on trunk provider, route national, transferred by bob", second)
			}
		})
	}
}

// checkTrunkAnswer checks the one digest answer in the provider's log
// against the trunk's password.
func checkTrunkAnswer(t *testing.T, log, header string) {
	t.Helper()
	vals := headerValues(log, header)
	if len(vals) != 1 {
		t.Fatalf("the provider got %d %s headers, want 1", len(vals), header)
	}
	c, err := auth.ParseCredentials(vals[0])
	if err != nil {
		t.Fatal(err)
	}
	ha1 := subscriber.HA1(auth.MD5, "4930123456", c.Realm, "trunk-pw")
	if c.Username != "4930123456" || c.Response != auth.Response(auth.MD5, ha1, "INVITE", c.URI, c.Nonce, c.NC, c.CNonce, c.QOP) {
		t.Errorf("%s %q does not answer the challenge with the trunk's password", header, vals[0])
	}
}

// TestTrunkB2BUAFailover: through the B2BUA, the first gateway answers
// 503 and the second takes the call; the record names the second.
func TestTrunkB2BUAFailover(t *testing.T) {
	busy, good, p, base := b2buaGateways(t, "gateway_busy.xml", "gateway_answer.xml", "")
	alice := startSipp(t, "-sf", scenario("uac_call.xml"), "-s", "0301234567", p.Addr)
	alice.ExpectSuccess()
	busy.ExpectSuccess()
	good.ExpectSuccess()
	busy.WaitLog("gateway got sip:+49301234567@127.0.0.3", time.Second)
	good.WaitLog("gateway got sip:+49301234567@127.0.0.4", time.Second)
	leakCheck(t, alice, good, "alice", "the second gateway")
	if r := trunkCDRs(t, base, 1)[0]; r.Trunk != "second" || r.Disposition != "answered" {
		t.Errorf("record %+v, want answered on trunk second", r)
	}
}

// TestTrunkB2BUALimitSkipsFullTrunk: the first trunk takes one call at
// a time (limits.calls.trunks); of two calls at once the second goes out
// through the second gateway, which a small office keeps for that, and
// each record names the trunk that carried it. Before, the second call
// was answered 503 Trunk Call Limit Reached with the second gateway idle.
func TestTrunkB2BUALimitSkipsFullTrunk(t *testing.T) {
	first, second, p, base := b2buaGateways(t, "gateway_answer.xml", "gateway_answer.xml", "limits:\n  calls:\n    trunks: {first: 1}\n")
	// Two calls 50 ms apart, each up for 500 ms: the second starts while
	// the first holds the first trunk.
	alice := startSipp(t, "-sf", scenario("uac_call.xml"), "-s", "0301234567", "-m", "2", "-l", "2", "-r", "20", p.Addr)
	alice.ExpectSuccess()
	first.ExpectSuccess()
	second.ExpectSuccess()
	trunks := map[string]bool{}
	for _, r := range trunkCDRs(t, base, 2) {
		if r.Disposition != "answered" {
			t.Errorf("record %+v, want answered", r)
		}
		trunks[r.Trunk] = true
	}
	if !trunks["first"] || !trunks["second"] {
		t.Errorf("records on trunks %v, want one call on each", trunks)
	}
}

// b2buaGateways starts two gateways, first at 127.0.0.3 and second at
// 127.0.0.4 playing the scenarios given, and Parley with a national route
// to both through the B2BUA, records on, and extra config; it returns the
// gateways, Parley and its admin's base URL.
func b2buaGateways(t *testing.T, firstScenario, secondScenario, extra string) (first, second *sippProc, p *parley, base string) {
	t.Helper()
	requireTool(t, "sipp", sippHint)
	first = startSipp(t, "-sf", scenario(firstScenario), "-i", "127.0.0.3")
	second = startSipp(t, "-sf", scenario(secondScenario), "-i", "127.0.0.4")
	first.WaitListening()
	second.WaitListening()
	admin, base := adminAddr(t)
	cfg := writeConfig(t, `gateways:
  - {name: first, address: "127.0.0.3:`+strconv.Itoa(first.Port)+`"}
  - {name: second, address: "127.0.0.4:`+strconv.Itoa(second.Port)+`"}
routes:
  - {name: national, prefix: "0", country_code: "49", gateways: [first, second], b2bua: true}
cdr:
  enabled: true
admin:
  listen: `+admin+"\n"+officeLAN+extra)
	return first, second, startParley(t, "--config", cfg), base
}

// TestTrunkB2BUAInboundDID: a provider's call to a DID reaches alice's
// registered phone as a B2BUA call, in mode b2bua and in mode stateful
// with b2bua.inbound: neither side sees the other's leg, and the record
// names the trunk. A catch-all route to that provider is there to show
// that a gateway's call is never routed out again. The provider sends
// the call to the Contact Parley registered (sip:office@…) with the DID
// in To; the record, B2BUA or proxied (mode stateful alone), says the
// same: dialled is the DID as the provider wrote it, callee the user it
// rang, route "local", and the provider's BYE is "hung up" by the caller.
func TestTrunkB2BUAInboundDID(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	for _, tc := range []struct {
		name, mode, extra string
		b2bua             bool
	}{
		{"mode b2bua", "b2bua", "", true},
		{"stateful with b2bua.inbound", "stateful", "b2bua:\n  inbound: true\n", true},
		{"proxied", "stateful", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			providerPort := freePort(t, false)
			admin, base := adminAddr(t)
			cfg := writeConfig(t, `gateways:
  - {name: provider, address: "127.0.0.2:`+strconv.Itoa(providerPort)+`"}
routes:
  - {name: out, regex: '.', gateways: [provider]}
dids:
  "+4930123456": alice
cdr:
  enabled: true
admin:
  listen: `+admin+"\n"+tc.extra)
			p := startParley(t, "--config", cfg, "--mode", tc.mode)
			phone := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_answer.xml"), "-s", "alice", p.Addr)
			phone.WaitLog("registered", phoneWait)
			provider := startSipp(t, "-sf", scenario("provider_did_call.xml"), "-i", "127.0.0.2", "-p", strconv.Itoa(providerPort), "-s", "+4930123456", p.Addr)
			provider.ExpectSuccess()
			phone.ExpectSuccess()
			if tc.b2bua {
				leakCheck(t, provider, phone, "the provider", "alice")
				leakCheck(t, phone, provider, "alice", "the provider")
			}
			r := trunkCDRs(t, base, 1)[0]
			if r.Trunk != "provider" || r.Disposition != "answered" || (r.BCallID != "") != tc.b2bua {
				t.Errorf("record %+v, want an answered call from trunk provider (B2BUA: %v)", r, tc.b2bua)
			}
			if r.Dialled != "+4930123456" || r.Route != "local" || r.HungUpBy != "caller" || r.Reason != "hung up" ||
				r.Callee != "sip:alice@example.com" {
				t.Errorf("record dialled %q, route %q, callee %q, hung up by %q, reason %q; want +4930123456, local, alice, caller, hung up",
					r.Dialled, r.Route, r.Callee, r.HungUpBy, r.Reason)
			}
		})
	}
}

// TestLocalRouteRecord: alice dials *bob, which the dial plan's local
// route "extensions" rewrites to bob. Through the B2BUA (mode b2bua) and
// proxied (mode stateful) alike, the record keeps what alice dialled
// (*bob, not the rewritten bob), names the route, and her BYE is "hung
// up" by the caller.
func TestLocalRouteRecord(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	for _, mode := range []string{"b2bua", "stateful"} {
		t.Run(mode, func(t *testing.T) {
			admin, base := adminAddr(t)
			cfg := writeConfig(t, `gateways:
  - {name: provider, address: "127.0.0.2:`+strconv.Itoa(freePort(t, false))+`"}
routes:
  - {name: extensions, prefix: "*", strip: 1, local: true}
cdr:
  enabled: true
admin:
  listen: `+admin+"\n")
			p := startParley(t, "--config", cfg, "--mode", mode)
			bob := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_answer.xml"), "-s", "bob", p.Addr)
			bob.WaitLog("registered", phoneWait)
			startSipp(t, "-sf", scenario("uac_call.xml"), "-s", "*bob", p.Addr).ExpectSuccess()
			bob.ExpectSuccess()
			r := trunkCDRs(t, base, 1)[0]
			if r.Dialled != "*bob" || r.Route != "extensions" || r.Trunk != "" || r.Disposition != "answered" ||
				r.HungUpBy != "caller" || r.Reason != "hung up" || (r.BCallID != "") != (mode == "b2bua") {
				t.Errorf("record %+v, want *bob dialled through route extensions, hung up by the caller", r)
			}
		})
	}
}
