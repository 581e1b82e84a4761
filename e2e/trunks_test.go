package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// On loopback every process is 127.0.0.1, and Parley knows a gateway by
// its source address; so the gateways and providers here listen on other
// loopback addresses (Linux routes all of 127/8 to lo), and phones stay
// on 127.0.0.1.

// officeLAN is the config lines of an office without passwords: its
// phones' network (here 127.0.0.1, where the phones are) is trusted, so
// they may call out through the routes to gateways, which anyone else
// is refused.
const officeLAN = "security:\n  trusted: [127.0.0.1/32]\n"

// waitMetric polls /metrics until it has the line want.
func waitMetric(t *testing.T, base, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, body := httpGet(t, base+"/metrics")
		if strings.Contains(body, "\n"+want+"\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics has no line %q within %v", want, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func adminAddr(t *testing.T) (addr, base string) {
	addr = "127.0.0.1:" + strconv.Itoa(freePort(t, false))
	return addr, "http://" + addr
}

// TestTrunkRegistrationAndDID: Parley registers to a provider (sipp)
// that challenges with digest and checks the answer (verifyauth); then
// the provider's call to the DID +4930123456 reaches alice's phone
// (sipp UAS) unchallenged although INVITEs need passwords, since it
// comes from the gateway's address; a call to a number with no DID gets
// 404 Unknown DID.
func TestTrunkRegistrationAndDID(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	providerPort := freePort(t, false)
	provider := startSipp(t, "-sf", scenario("provider_registrar.xml"), "-i", "127.0.0.2", "-p", strconv.Itoa(providerPort))
	provider.WaitListening()
	admin, base := adminAddr(t)
	cfg := writeConfig(t, `gateways:
  - name: provider
    address: sip:127.0.0.2:`+strconv.Itoa(providerPort)+`
    username: "4930123456"
    password: trunk-pw
    register: true
    expires: 600s
    contact_user: office
dids:
  "+4930123456": alice
auth:
  enabled: true
  methods: [INVITE]
  allow_unauthenticated_to_local: false
admin:
  listen: `+admin+"\n")
	p := startParley(t, "--config", cfg)
	provider.WaitLog("provider registered <sip:office@127.0.0.1:"+strconv.Itoa(p.Port)+">", phoneWait)
	provider.ExpectSuccess()
	waitMetric(t, base, `parley_trunk_registered{trunk="provider"} 1`, stateWait)

	phone := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_answer.xml"), "-s", "alice", p.Addr)
	phone.WaitLog("registered", phoneWait)
	startSipp(t, "-sf", scenario("provider_did_call.xml"), "-i", "127.0.0.2", "-s", "+4930123456", p.Addr).ExpectSuccess()
	phone.ExpectSuccess()
	startSipp(t, "-sf", scenario("provider_did_unknown.xml"), "-i", "127.0.0.2", "-s", "+4930999999", p.Addr).ExpectSuccess()
}

// TestTrunkRegistrationWrongPassword: a provider that refuses the
// credentials leaves the trunk unregistered, and the log says so once.
func TestTrunkRegistrationWrongPassword(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	providerPort := freePort(t, false)
	provider := startSipp(t, "-sf", scenario("provider_registrar.xml"), "-i", "127.0.0.2", "-p", strconv.Itoa(providerPort))
	provider.WaitListening()
	admin, base := adminAddr(t)
	cfg := writeConfig(t, `gateways:
  - name: provider
    address: 127.0.0.2:`+strconv.Itoa(providerPort)+`
    username: "4930123456"
    password: not-the-password
    register: true
admin:
  listen: `+admin+"\n")
	p := startParley(t, "--config", cfg)
	provider.ExpectSuccess() // the scenario ends after its 403
	waitMetric(t, base, `parley_trunk_registered{trunk="provider"} 0`, stateWait)
	if !waitForText(p.logPath, "registration failed", 5*time.Second, nil) {
		t.Error("no log line about the failed registration")
	}
}

// TestDialPlanFailover: alice dials 0301234567; the national route
// makes it +49301234567 and tries the first gateway, which answers 503,
// then the second, which takes the call.
func TestDialPlanFailover(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	busy := startSipp(t, "-sf", scenario("gateway_busy.xml"), "-i", "127.0.0.3")
	good := startSipp(t, "-sf", scenario("gateway_answer.xml"), "-i", "127.0.0.4")
	busy.WaitListening()
	good.WaitListening()
	cfg := writeConfig(t, `gateways:
  - {name: first, address: "127.0.0.3:`+strconv.Itoa(busy.Port)+`"}
  - {name: second, address: "127.0.0.4:`+strconv.Itoa(good.Port)+`"}
routes:
  - {name: national, prefix: "0", country_code: "49", gateways: [first, second]}
`+officeLAN)
	p := startParley(t, "--config", cfg)
	startSipp(t, "-sf", scenario("uac_call.xml"), "-s", "0301234567", p.Addr).ExpectSuccess()
	busy.ExpectSuccess()
	good.ExpectSuccess()
	busy.WaitLog("gateway got sip:+49301234567@127.0.0.3", time.Second)
	good.WaitLog("gateway got sip:+49301234567@127.0.0.4", time.Second)
}

// TestDeadGatewaySkipped: the first gateway does not answer its OPTIONS
// pings, so it is marked down and calls go straight to the second (the
// caller would otherwise wait out a transaction timeout on the first).
func TestDeadGatewaySkipped(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	good := startSipp(t, "-sf", scenario("gateway_answer.xml"), "-i", "127.0.0.4")
	good.WaitListening()
	dead := freePort(t, false) // nothing listens there
	admin, base := adminAddr(t)
	cfg := writeConfig(t, `gateways:
  - {name: dead, address: "127.0.0.5:`+strconv.Itoa(dead)+`", ping_interval: 1s}
  - {name: good, address: "127.0.0.4:`+strconv.Itoa(good.Port)+`"}
routes:
  - {name: outside, prefix: "9", strip: 1, gateways: [dead, good]}
admin:
  listen: `+admin+"\n"+officeLAN)
	p := startParley(t, "--config", cfg)
	waitMetric(t, base, `parley_gateway_up{gateway="dead"} 0`, stateWait)
	if !waitForText(p.logPath, "gateway: down", time.Second, nil) {
		t.Error("no log line about the gateway going down")
	}
	start := time.Now()
	startSipp(t, "-sf", scenario("uac_call.xml"), "-s", "912345", p.Addr).ExpectSuccess()
	good.ExpectSuccess()
	good.WaitLog("gateway got sip:12345@127.0.0.4", time.Second)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the call took %v: the dead gateway was tried", d)
	}
	waitMetric(t, base, `parley_gateway_up{gateway="good"} 1`, time.Second)
}

// TestTrunkClosedToStrangers: with passwords off a From is only a claim,
// so a route to a gateway takes only callers from a security.trusted
// network: with none listed, even "alice@example.com" gets 403 Relaying
// Denied, nothing reaches the provider, and the startup log tells the
// admin to list the office LAN; with the LAN (127.0.0.1) listed, her
// call goes out. A call to a local user is not at stake here (TestRelayDenied).
func TestTrunkClosedToStrangers(t *testing.T) {
	for _, tc := range []struct {
		name, trusted, answer, logged string
	}{
		{"nothing trusted", "", "403 Relaying Denied", "list the office LAN in security.trusted"},
		{"office LAN trusted", officeLAN, "486 Busy Here", "only callers on a security.trusted network call out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			provider := startFarEnd(t, "127.0.0.3")
			cfg := writeConfig(t, `gateways:
  - {name: provider, address: "`+provider.addr+`"}
routes:
  - {name: national, prefix: "0", country_code: "49", gateways: [provider]}
`+tc.trusted)
			p := startParleyServing(t, []string{"example.com"}, "--config", cfg)
			if !waitForText(p.logPath, tc.logged, 5*time.Second, nil) {
				t.Errorf("the startup log does not say %q", tc.logged)
			}
			status := sendInvite(t, p.Addr, "alice@example.com", "sip:0301234567@example.com")
			time.Sleep(300 * time.Millisecond) // anything forwarded would be there by now
			if arrived := provider.invitesFrom("alice@example.com"); status != tc.answer || (arrived > 0) != (tc.answer == "486 Busy Here") {
				t.Errorf("answer %q and %d INVITEs reached the provider; want %s", status, arrived, tc.answer)
			}
		})
	}
}
