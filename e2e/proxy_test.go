package e2e

import (
	"cmp"
	"strconv"
	"testing"
)

// transport says how a flow's SIP travels: sipp -t for the caller and the callee.
type transport struct{ name, caller, callee string }

var transports = []transport{
	{"udp", "u1", "u1"},
	{"tcp", "t1", "t1"},
	{"udp-caller-tcp-callee", "u1", "t1"},
}

// callFlow is one end-to-end case: every callee registers bob at the proxy
// (uas_register.xml, each with its own contact) and plays its behaviour for
// each call; then the caller calls sip:bob@example.com through the proxy.
type callFlow struct {
	caller  string   // UAC scenario
	callees []string // one callee sipp per entry, its -oocsf behaviour scenario
	calls   int      // calls the caller makes (sipp -m); 0 means 1
	// register is the callees' REGISTER scenario; "" means uas_register.xml.
	register string
}

var flows = map[string]callFlow{
	"call":         {caller: "uac_call.xml", callees: []string{"uas_answer.xml"}, calls: 3},
	"cancel":       {caller: "uac_cancel.xml", callees: []string{"uas_ring_forever.xml"}},
	"busy":         {caller: "uac_busy.xml", callees: []string{"uas_busy.xml"}},
	"unknown user": {caller: "uac_unknown_user.xml"},
	"maxforwards0": {caller: "uac_maxforwards0.xml"},
	// bob answers on one contact and rings on the other: the proxy forks,
	// relays the 200, cancels the ringing branch and absorbs its 487.
	"forking": {caller: "uac_call.xml", callees: []string{"uas_answer.xml", "uas_ring_forever.xml"}},
	// an INVITE over 1300 bytes to a callee registered over UDP with a
	// Contact that names no transport.
	"large": {caller: "uac_call_large.xml", callees: []string{"uas_answer.xml"}, register: "uas_register_plain.xml"},
}

// TestRegisterFlow: register, refresh, query and unregister alice (register.xml).
func TestRegisterFlow(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	for _, tr := range transports[:2] {
		t.Run(tr.name, func(t *testing.T) {
			p := startParley(t)
			if code := runSipp(t, "-t", tr.caller, "-sf", scenario("register.xml"), "-s", "alice", p.Addr); code != 0 {
				t.Errorf("register.xml: sipp exited %d, want 0", code)
			}
		})
	}
}

// TestCall: three calls, each INVITE/180/200/ACK/BYE through the proxy, with Record-Route.
func TestCall(t *testing.T) { testCallFlow(t, flows["call"]) }

// TestCancel: the caller cancels a ringing call; 200 for the CANCEL, 487, ACK.
func TestCancel(t *testing.T) { testCallFlow(t, flows["cancel"]) }

// TestBusy: the callee answers 486, relayed to the caller, who ACKs it.
func TestBusy(t *testing.T) { testCallFlow(t, flows["busy"]) }

// TestUnknownUser: a call to a user with no binding gets 404.
func TestUnknownUser(t *testing.T) { testCallFlow(t, flows["unknown user"]) }

// TestMaxForwardsZero: an INVITE with Max-Forwards: 0 gets 483 and is not forwarded.
func TestMaxForwardsZero(t *testing.T) { testCallFlow(t, flows["maxforwards0"]) }

// TestForking: two contacts for bob; one answers, the other is cancelled.
func TestForking(t *testing.T) { testCallFlow(t, flows["forking"]) }

// TestLargeCallToUDPOnlyPhone: an INVITE over 1300 bytes moves from UDP to
// TCP (§18.1.1), but the callee, registered over UDP, listens on UDP only
// (as sipp -t u1 does, and baresip with its default config): the refused
// connection is retried over UDP and the call is answered, where it used
// to fail with 500.
func TestLargeCallToUDPOnlyPhone(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	p := startParley(t)
	runCallFlow(t, p.Addr, transports[0], flows["large"])
}

// testCallFlow runs the flow against a fresh parley once per transport (only
// the caller's transports when the flow has no callee) and expects every
// sipp instance to exit 0.
func testCallFlow(t *testing.T, f callFlow) {
	requireTool(t, "sipp", sippHint)
	trs := transports
	if len(f.callees) == 0 {
		trs = transports[:2]
	}
	for _, tr := range trs {
		t.Run(tr.name, func(t *testing.T) {
			p := startParley(t)
			runCallFlow(t, p.Addr, tr, f)
		})
	}
}

// runCallFlow starts the callees against proxy, waits until each has
// registered, runs the caller, then waits for the callees to unregister and exit.
func runCallFlow(t *testing.T, proxy string, tr transport, f callFlow) {
	t.Helper()
	calls := strconv.Itoa(max(f.calls, 1))
	var callees []*sippProc
	for _, behaviour := range f.callees {
		register := cmp.Or(f.register, "uas_register.xml")
		c := startSipp(t, "-t", tr.callee, "-sf", scenario(register),
			"-oocsf", scenario(behaviour), "-s", "bob", "-set", "calls", calls, proxy)
		c.WaitLog("registered", phoneWait)
		callees = append(callees, c)
	}
	startSipp(t, "-t", tr.caller, "-sf", scenario(f.caller), "-s", "bob", "-m", calls, proxy).ExpectSuccess()
	for _, c := range callees {
		c.ExpectSuccess()
	}
}

// TestStateless runs the call flows through parley in stateless mode
// (§16.11): no transactions, responses routed back by their Via alone,
// the CANCEL and the non-2xx ACK sent where the INVITE went.
func TestStateless(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	for _, name := range []string{"call", "cancel", "busy", "unknown user"} {
		for _, tr := range transports[:2] {
			t.Run(name+"/"+tr.name, func(t *testing.T) {
				p := startParley(t, "--mode", "stateless")
				runCallFlow(t, p.Addr, tr, flows[name])
			})
		}
	}
}
