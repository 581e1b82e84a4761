package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// b2buaCall runs one call through parley in mode b2bua: bob registers
// with the callee scenario behaviour (uas_*.xml) and alice calls him with
// the caller scenario; both must succeed. It returns the two sipps, done.
func b2buaCall(t *testing.T, p *parley, behaviour, caller string, callerArgs ...string) (callee, alice *sippProc) {
	t.Helper()
	return b2buaCallOver(t, p, transports[0], behaviour, caller, callerArgs...)
}

// b2buaCallOver is b2buaCall with alice and bob on tr's transports.
func b2buaCallOver(t *testing.T, p *parley, tr transport, behaviour, caller string, callerArgs ...string) (callee, alice *sippProc) {
	t.Helper()
	callee = startSipp(t, "-t", tr.callee, "-sf", scenario("uas_register.xml"), "-oocsf", scenario(behaviour),
		"-s", "bob", "-set", "calls", "1", p.Addr)
	callee.WaitLog("registered", phoneWait)
	alice = startSipp(t, append([]string{"-t", tr.caller, "-sf", scenario(caller), "-s", "bob"}, append(callerArgs, p.Addr)...)...)
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

// TestB2BUAEarlyMedia: bob's 183 with SDP (unreliable) reaches alice
// with its SDP, before the answer; then the call goes on as usual.
func TestB2BUAEarlyMedia(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	p := startParley(t, "--mode", "b2bua")
	callee, alice := b2buaCall(t, p, "uas_early_media.xml", "uac_early_media.xml")
	leakCheck(t, alice, callee, "alice", "bob")
	leakCheck(t, callee, alice, "bob", "alice")
}

// TestB2BUAWholeCall runs the whole call of uac_b2bua_full.xml and
// uas_b2bua_full.xml through parley in mode b2bua, over UDP: a reliable
// 183 with early media and its PRACK (RSeq and RAck renumbered between
// the legs), the answer, hold and resume by re-INVITE from the caller,
// INFO and OPTIONS in the dialog, a codec change by re-INVITE and an
// UPDATE from the callee, and the callee's BYE. The wire is then checked
// for leaks both ways, in-dialog requests and provisionals included. It
// runs over UDP, TCP, and UDP to alice with TCP to bob.
func TestB2BUAWholeCall(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	p := startParley(t, "--mode", "b2bua")
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			callee, alice := b2buaCallOver(t, p, tr, "uas_b2bua_full.xml", "uac_b2bua_full.xml")
			leakCheck(t, alice, callee, "alice", "bob")
			leakCheck(t, callee, alice, "bob", "alice")
		})
	}
}

// b2buaCDR is a B2BUA call's record as /api/cdrs shows it.
type b2buaCDR struct {
	apiCDR
	Route         string `json:"route"`
	BCallID       string `json:"b_call_id"`
	Reason        string `json:"reason"`
	AnsweredBy    string `json:"answered_by"`
	TransferredBy string `json:"transferred_by"`
}

func b2buaCDRs(t *testing.T, base string) []b2buaCDR {
	t.Helper()
	code, body := httpGet(t, base+"/api/cdrs")
	var v struct{ CDRs []b2buaCDR }
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
		t.Fatalf("/api/cdrs: %d %v: %s", code, err, body)
	}
	return v.CDRs
}

// waitB2BUACDRs waits (10 s at most) until /api/cdrs has n records, and
// fails the test unless it has exactly n: what is asked for, newest first.
func waitB2BUACDRs(t *testing.T, base string, n int, what string) []b2buaCDR {
	t.Helper()
	var recs []b2buaCDR
	for deadline := time.Now().Add(10 * time.Second); len(recs) < n && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		recs = b2buaCDRs(t, base)
	}
	if len(recs) != n {
		t.Fatalf("records %+v, want %s", recs, what)
	}
	return recs
}

// b2buaLeg is one leg of a call in /api/b2bua/calls.
type b2buaLeg struct {
	Party     string `json:"party"`
	CallID    string `json:"call_id"`
	LocalTag  string `json:"local_tag"`
	RemoteTag string `json:"remote_tag"`
	State     string
}

// b2buaCallInfo is a call in /api/b2bua/calls.
type b2buaCallInfo struct {
	ID            string
	State         string
	Node          string
	Caller        string
	Callee        string
	Dialled       string
	Route         string
	TransferredBy string `json:"transferred_by"`
	A, B          b2buaLeg
}

// b2buaCalls reads /api/b2bua/calls.
func b2buaCalls(t *testing.T, base string) []b2buaCallInfo {
	t.Helper()
	code, body := httpGet(t, base+"/api/b2bua/calls")
	var v struct{ Calls []b2buaCallInfo }
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
		t.Fatalf("/api/b2bua/calls: %d %v: %s", code, err, body)
	}
	return v.Calls
}

// replacesOf waits for a call in which pick finds a leg, and returns a
// Replaces value naming that leg as Parley holds it (to-tag Parley's).
func replacesOf(t *testing.T, base string, pick func(c b2buaCallInfo) *b2buaLeg) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, c := range b2buaCalls(t, base) {
			if l := pick(c); l != nil {
				return l.CallID + ";to-tag=" + l.LocalTag + ";from-tag=" + l.RemoteTag
			}
		}
	}
	t.Fatalf("no such leg in /api/b2bua/calls: %+v", b2buaCalls(t, base))
	return ""
}

// TestB2BUAFailures: a call bob refuses with 486 reaches alice as 486,
// and a call alice cancels while bob rings is cancelled on bob's leg and
// answered 487 to her; each leaves one record, busy and cancelled.
func TestB2BUAFailures(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	cfg, base := adminConfig(t)
	p := startParley(t, "--config", cfg, "--mode", "b2bua")
	b2buaCall(t, p, "uas_busy.xml", "uac_busy.xml")
	b2buaCall(t, p, "uas_ring_forever.xml", "uac_cancel.xml")
	var recs []b2buaCDR
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if recs = b2buaCDRs(t, base); len(recs) >= 2 {
			break
		}
	}
	time.Sleep(300 * time.Millisecond) // a duplicate from the call tracker would show by now
	recs = b2buaCDRs(t, base)
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2: %+v", len(recs), recs)
	}
	got := map[string]b2buaCDR{}
	for _, r := range recs {
		got[r.Disposition] = r
	}
	if r := got["busy"]; r.Status != 486 || r.HungUpBy != "callee" || r.BCallID == "" || r.BCallID == r.CallID {
		t.Errorf("busy call's record %+v, want 486 refused by the callee with its own B Call-ID", r)
	}
	if r := got["cancelled"]; r.Status != 487 || r.HungUpBy != "caller" || r.BCallID == "" {
		t.Errorf("cancelled call's record %+v, want 487 by the caller", r)
	}
}

// TestB2BUAAdminHangup: while alice and bob talk through the B2BUA,
// /api/b2bua/calls lists the call with both legs confirmed, each with its
// own Call-ID; DELETE /api/b2bua/calls/{id} hangs it up with a BYE to
// each (both sipps then finish), and the record says the system ended it.
func TestB2BUAAdminHangup(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	cfg, base := adminConfig(t)
	p := startParley(t, "--config", cfg, "--mode", "b2bua")
	callee := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_answer.xml"),
		"-s", "bob", "-set", "calls", "1", p.Addr)
	callee.WaitLog("registered", phoneWait)
	alice := startSipp(t, "-sf", scenario("uac_wait_bye.xml"), "-s", "bob", p.Addr)

	var id string
	for deadline := time.Now().Add(10 * time.Second); id == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, c := range b2buaCalls(t, base) {
			if c.State == "answered" && c.A.State == "confirmed" && c.B.State == "confirmed" {
				if c.A.CallID == c.B.CallID || c.A.CallID == "" || c.B.CallID == "" {
					t.Errorf("legs share or lack a Call-ID: %+v", c)
				}
				id = c.ID
			}
		}
	}
	if id == "" {
		t.Fatalf("no answered call in /api/b2bua/calls: %+v", b2buaCalls(t, base))
	}
	req, _ := http.NewRequest(http.MethodDelete, base+"/api/b2bua/calls/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE: %s, want 202", resp.Status)
	}
	alice.ExpectSuccess()
	callee.ExpectSuccess()
	if calls := b2buaCalls(t, base); len(calls) != 0 {
		t.Errorf("calls left after the hang-up: %+v", calls)
	}
	// The call tracker follows the A leg; Parley's own BYE ends it there too.
	waitCalls(t, base, "A leg ended", func(active, recent []apiCall) bool { return len(active) == 0 && len(recent) == 1 })
	var recs []b2buaCDR
	for deadline := time.Now().Add(10 * time.Second); len(recs) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		recs = b2buaCDRs(t, base)
	}
	if len(recs) != 1 || recs[0].HungUpBy != "system" || recs[0].Disposition != "answered" {
		t.Errorf("records %+v, want one answered call hung up by the system", recs)
	}
	req, _ = http.NewRequest(http.MethodDelete, base+"/api/b2bua/calls/"+id, nil)
	if resp, err = http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("DELETE of an ended call: %s, want 404", resp.Status)
		}
	}
}

// TestB2BUABaresipCall: two baresip phones call each other through
// parley in mode b2bua, as TestBaresipCall does through the proxy: the
// call is set up over two legs, audio flows both ways between the phones
// (the SDP crosses unchanged), and alice's hang-up ends both legs.
func TestB2BUABaresipCall(t *testing.T) {
	requireTool(t, "baresip", baresipHint)
	p := startParley(t, "--mode", "b2bua")
	outbound := fmt.Sprintf(`;outbound="sip:%s;transport=udp";regint=300`, p.Addr)
	bob := startSoftphone(t, "bob", "<sip:bob@example.com>"+outbound+";answermode=auto")
	alice := startSoftphone(t, "alice", "<sip:alice@example.com>"+outbound)
	bob.waitLog(reRegistered, phoneWait)
	alice.waitLog(reRegistered, phoneWait)
	softphoneCall(t, alice, bob, "bob")
}

// TestConsoleB2BUAHangup: the console lists a B2BUA call (both legs) and
// its Hang up button ends it: alice and bob each get a BYE and finish.
func TestConsoleB2BUAHangup(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	requireConsoleTools(t)
	base := "http://127.0.0.1:" + strconv.Itoa(freePort(t, false))
	p := startParley(t, "--mode", "b2bua", "--admin", strings.TrimPrefix(base, "http://"))
	// The browser first: bob waits 15 s at most for his call, and a
	// browser may take longer than that to start on a loaded machine.
	script := runConsoleScript(t, "hangup.mjs", base+"/")
	next := script.next
	next("loaded")
	callee := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_answer.xml"),
		"-s", "bob", "-set", "calls", "1", "-timeout", "40s", p.Addr)
	callee.WaitLog("registered", phoneWait)
	alice := startSipp(t, "-sf", scenario("uac_wait_bye.xml"), "-s", "bob", "-timeout", "40s", p.Addr)
	call := next("call")
	if text, _ := call["text"].(string); !strings.Contains(text, "alice") || !strings.Contains(text, "bob") {
		t.Errorf("B2BUA call row %q", text)
	}
	if errs, _ := next("hungup")["errors"].([]any); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
	script.wait()
	alice.ExpectSuccess()
	callee.ExpectSuccess()
}

// TestB2BUAWithAuth: with passwords on for INVITE and BYE, alice's
// INVITE is challenged (407) and taken by the B2BUA once it carries her
// credentials; bob sees no credentials, and alice's BYE, addressed to
// the B2BUA's Contact inside the call, is not challenged: the dialog
// vouches for it.
func TestB2BUAWithAuth(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	data := t.TempDir()
	addUser(t, data, "alice", "s3cret-pw")
	cfg := writeConfig(t, "mode: b2bua\nauth:\n  enabled: true\n  methods: [INVITE, BYE]\n  algorithms: [MD5]\n")
	p := startParley(t, "--config", cfg, "--data-dir", data)
	callee, alice := b2buaCall(t, p, "uas_answer.xml", "uac_call_auth.xml", "-au", "alice", "-ap", "s3cret-pw")
	if log := callee.messages(t); strings.Contains(log, "Authorization") {
		t.Error("alice's credentials reached bob")
	}
	if n := strings.Count(alice.messages(t), "SIP/2.0 407"); n != 1 {
		t.Errorf("alice was challenged %d times, want once (the INVITE)", n)
	}
}

// TestB2BUARecordInterrupted: a B2BUA call still up when parley is
// stopped (SIGTERM) is hung up on both legs (alice and bob each get a
// BYE) and gets one record, interrupted, ended by the system, with both
// legs' Call-IDs; the proxy's call tracker adds none.
func TestB2BUARecordInterrupted(t *testing.T) {
	b := startB2BUAWithBob(t, 1)
	p, callee, base, data := b.p, b.bob, b.base, b.data
	caller := startSipp(t, "-sf", scenario("uac_wait_bye.xml"), "-s", "bob", p.Addr)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if calls := b2buaCalls(t, base); len(calls) == 1 && calls[0].State == "answered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the call was not answered")
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited
	p.killed = true // stopped here: the cleanup has nothing to stop
	if p.waitErr != nil {
		t.Errorf("parley exited with %v after SIGTERM, want 0", p.waitErr)
	}
	caller.ExpectSuccess()
	// bob got his BYE; his unregistration then finds nobody.
	callee.WaitLog("call answered and hung up", phoneWait)
	callee.cancel()
	callee.Wait()
	rows := exportCSV(t, data)
	if len(rows) != 1 || rows[0][2] == "" || rows[0][3] == "" || rows[0][2] == rows[0][3] ||
		rows[0][15] != "interrupted" || rows[0][16] != "system" {
		t.Errorf("export %q, want one interrupted call with both Call-IDs, ended by the system", rows)
	}
}

// TestB2BUAProxyFlows runs the proxy's call flows (proxy_test.go) through
// parley in mode b2bua, over UDP: three calls in a row, a cancel, a busy
// callee, an unknown user (404), Max-Forwards 0 (483), forking to two
// phones (one answers, the other is cancelled) and an INVITE over 1300
// bytes to a UDP-only phone. The callers and callees are the proxy's
// scenarios unchanged: to them a B2BUA is a proxy that answers for the
// far side.
func TestB2BUAProxyFlows(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	for _, name := range []string{"call", "cancel", "busy", "unknown user", "maxforwards0", "forking", "large"} {
		t.Run(name, func(t *testing.T) {
			p := startParley(t, "--mode", "b2bua")
			runCallFlow(t, p.Addr, transports[0], flows[name])
		})
	}
}
