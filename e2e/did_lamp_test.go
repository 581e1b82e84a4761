package e2e

import (
	"slices"
	"strconv"
	"testing"
)

// TestDIDBusyLamp: a desk phone watches bob's key; the provider calls
// the office's number +4930123456 (in To, the Request-URI being the
// trunk's Contact), which dids maps to bob. Bob's lamp goes early,
// confirmed, terminated, as for a colleague's call: the lamp follows the
// user the number rings, proxied (mode stateful) and through the B2BUA.
func TestDIDBusyLamp(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	for _, mode := range []string{"stateful", "b2bua"} {
		t.Run(mode, func(t *testing.T) { didBusyLamp(t, mode) })
	}
}

func didBusyLamp(t *testing.T, mode string) {
	providerPort := freePort(t, false)
	cfg := writeConfig(t, `gateways:
  - {name: provider, address: "127.0.0.2:`+strconv.Itoa(providerPort)+`"}
dids:
  "+4930123456": bob
`)
	p := startParley(t, "--config", cfg, "--mode", mode)
	phone := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_ring_answer.xml"),
		"-s", "bob", "-d", "2000", p.Addr)
	phone.WaitLog("registered", phoneWait)
	desk := startDesk(t, p, "bob")
	startSipp(t, "-sf", scenario("provider_did_call.xml"), "-i", "127.0.0.2", "-p", strconv.Itoa(providerPort),
		"-s", "+4930123456", p.Addr).ExpectSuccess()
	phone.ExpectSuccess()
	desk.ExpectSuccess()
	if got, want := lampStates(t, desk.file("logs"))["bob"], []string{"", "early", "confirmed", "terminated"}; !slices.Equal(got, want) {
		t.Errorf("bob's lamp went %q, want %q", got, want)
	}
}
