package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// b2buaCall runs one call through parley in mode b2bua: bob registers
// with the callee scenario behaviour (uas_*.xml) and alice calls him with
// the caller scenario; both must succeed. It returns the two sipps, done.
func b2buaCall(t *testing.T, p *parley, behaviour, caller string, callerArgs ...string) (callee, alice *sippProc) {
	t.Helper()
	callee = startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario(behaviour),
		"-s", "bob", "-set", "calls", "1", p.Addr)
	callee.WaitLog("registered", 10*time.Second)
	alice = startSipp(t, append([]string{"-sf", scenario(caller), "-s", "bob"}, append(callerArgs, p.Addr)...)...)
	alice.ExpectSuccess()
	callee.ExpectSuccess()
	return callee, alice
}

// messages returns the SIP messages a sipp sent and received, as its
// -trace_msg file has them.
func (s *sippProc) messages(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(s.file("messages"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// headerValues returns every value of header name in a sipp message log.
func headerValues(log, name string) []string {
	re := regexp.MustCompile(`(?mi)^` + regexp.QuoteMeta(name) + `\s*:\s*(.*?)\r?$`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(log, -1) {
		out = append(out, m[1])
	}
	return out
}

// tagsOf returns the tag parameters in a sipp log's From and To headers.
func tagsOf(log string) []string {
	var out []string
	for _, h := range append(headerValues(log, "From"), headerValues(log, "To")...) {
		if m := regexp.MustCompile(`;tag=([^;>\s]+)`).FindStringSubmatch(h); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// leakCheck fails the test if anything identifying one side's leg shows
// in the other side's messages: its Call-ID, its tags, its address and
// port (Via, Contact, Record-Route) or its Via branches.
func leakCheck(t *testing.T, from, to *sippProc, fromName, toName string) {
	t.Helper()
	mine, theirs := from.messages(t), to.messages(t)
	var secrets []string
	secrets = append(secrets, headerValues(mine, "Call-ID")...)
	secrets = append(secrets, tagsOf(mine)...)
	secrets = append(secrets, from.Addr())
	for _, v := range headerValues(mine, "Via") {
		if m := regexp.MustCompile(`branch=([^;\s]+)`).FindStringSubmatch(v); m != nil {
			secrets = append(secrets, m[1])
		}
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(theirs, s) {
			t.Errorf("%s's %q reached %s", fromName, s, toName)
		}
	}
	if strings.Contains(theirs, "Record-Route") {
		t.Errorf("%s got a Record-Route", toName)
	}
}

// TestB2BUABasicCall: alice calls bob through parley in mode b2bua; the
// call goes through (INVITE, 180, 200, ACK, BYE on both legs) and neither
// side sees anything of the other's leg, in either direction, in the
// INVITE, the provisional and final responses, the ACK and the BYE.
func TestB2BUABasicCall(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	p := startParley(t, "--mode", "b2bua")
	callee, alice := b2buaCall(t, p, "uas_answer.xml", "uac_call.xml")
	leakCheck(t, alice, callee, "alice", "bob")
	leakCheck(t, callee, alice, "bob", "alice")
	if testing.Verbose() {
		t.Logf("bob's side:\n%s", callee.messages(t))
	}
}

// TestB2BUAWholeCall runs the whole call of uac_b2bua_full.xml and
// uas_b2bua_full.xml through parley in mode b2bua, over UDP: a reliable
// 183 with early media and its PRACK (RSeq and RAck renumbered between
// the legs), the answer, hold and resume by re-INVITE from the caller,
// INFO and OPTIONS in the dialog, a codec change by re-INVITE and an
// UPDATE from the callee, and the callee's BYE. The wire is then checked
// for leaks both ways, in-dialog requests and provisionals included.
func TestB2BUAWholeCall(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	p := startParley(t, "--mode", "b2bua")
	callee, alice := b2buaCall(t, p, "uas_b2bua_full.xml", "uac_b2bua_full.xml")
	leakCheck(t, alice, callee, "alice", "bob")
	leakCheck(t, callee, alice, "bob", "alice")
	if testing.Verbose() {
		t.Logf("alice's side:\n%s", alice.messages(t))
	}
}
