package e2e

import (
	"testing"
)

// TestScenariosWithoutProxy runs the scenarios against sipp itself, with no
// proxy in between, over UDP and TCP: a proxy test that fails then points at
// parley, not at a scenario or at the installed sipp.
//   - register.xml against selftest/registrar.xml, a registrar double;
//   - each caller scenario straight to its callee scenario run on its own;
//   - uac_unknown_user.xml and uac_maxforwards0.xml against doubles that
//     answer 404 and 483 as the proxy would;
//   - the registering callee (uas_register.xml with its behaviour as -oocsf)
//     registering at the registrar double, called directly, twice.
//
// Not covered here: Record-Route (no proxy adds one) and forking.
func TestScenariosWithoutProxy(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	pairs := []struct{ name, callee, caller string }{
		{"register", "selftest/registrar.xml", "register.xml"},
		{"call", "uas_answer.xml", "uac_call.xml"},
		{"cancel", "uas_ring_forever.xml", "uac_cancel.xml"},
		{"busy", "uas_busy.xml", "uac_busy.xml"},
		{"unknown user", "selftest/uas_404.xml", "uac_unknown_user.xml"},
		{"maxforwards0", "selftest/uas_483.xml", "uac_maxforwards0.xml"},
	}
	registered := []struct{ behaviour, caller string }{
		{"uas_answer.xml", "uac_call.xml"},
		{"uas_ring_forever.xml", "uac_cancel.xml"},
		{"uas_busy.xml", "uac_busy.xml"},
	}
	for _, tr := range transports[:2] {
		for _, pair := range pairs {
			t.Run(tr.name+"/"+pair.name, func(t *testing.T) {
				callee := startSipp(t, "-t", tr.callee, "-sf", scenario(pair.callee), "-s", "bob")
				callee.WaitListening()
				startSipp(t, "-t", tr.caller, "-sf", scenario(pair.caller), "-s", "bob", callee.Addr()).ExpectSuccess()
				callee.ExpectSuccess()
			})
		}
		for _, r := range registered {
			t.Run(tr.name+"/registered callee "+r.behaviour, func(t *testing.T) {
				registrar := startSipp(t, "-t", tr.callee, "-sf", scenario("selftest/registrar.xml"))
				registrar.WaitListening()
				callee := startSipp(t, "-t", tr.callee, "-sf", scenario("uas_register.xml"),
					"-oocsf", scenario(r.behaviour), "-s", "bob", "-set", "calls", "2", registrar.Addr())
				callee.WaitLog("registered", phoneWait)
				startSipp(t, "-t", tr.caller, "-sf", scenario(r.caller), "-s", "bob", "-m", "2", callee.Addr()).ExpectSuccess()
				callee.ExpectSuccess()
				registrar.ExpectSuccess()
			})
		}
	}
}
