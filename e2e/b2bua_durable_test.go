package e2e

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sippReceived200 matches a 200 sipp received (-trace_msg) up to its
// Call-ID and CSeq method, in either order.
var (
	sippReceived = regexp.MustCompile(`(?m)^UDP message received \[\d+\] bytes :\n\n((?:[^\n]+\n)*?)\n`)
	headerCallID = regexp.MustCompile(`(?mi)^Call-ID:\s*(\S+)\r?$`)
	headerCSeq   = regexp.MustCompile(`(?mi)^CSeq:\s*\d+\s+(\S+)\r?$`)
	sentInvite   = regexp.MustCompile(`(?m)^INVITE sip:[^\n]*\n(?:[^\n]+\n)*?Call-ID:\s*(\S+)\r?$`)
	sentBye      = regexp.MustCompile(`(?m)^BYE sip:[^\n]*\n(?:[^\n]+\n)*?Call-ID:\s*(\S+)\r?$`)
)

// answeredAndFinished reads a caller sipp's message trace: the Call-IDs
// of the calls it started, of those whose INVITE got a 200 and of those
// whose BYE did.
func answeredAndFinished(trace string) (started, answered, finished map[string]bool) {
	started, answered, finished = map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, m := range sentInvite.FindAllStringSubmatch(trace, -1) {
		started[m[1]] = true
	}
	for _, m := range sippReceived.FindAllStringSubmatch(trace, -1) {
		head := m[1]
		if len(head) < 11 || head[:11] != "SIP/2.0 200" {
			continue
		}
		id, cseq := headerCallID.FindStringSubmatch(head), headerCSeq.FindStringSubmatch(head)
		if id == nil || cseq == nil {
			continue
		}
		switch cseq[1] {
		case "INVITE":
			answered[id[1]] = true
		case "BYE":
			finished[id[1]] = true
		}
	}
	return started, answered, finished
}

// TestB2BUAKillRecords: sipp calls through mode b2bua at 30 calls/s
// with 3 s holds; parley is killed with SIGKILL about 5 s in and started
// again on the same data directory. Every call whose BYE sipp saw
// answered has its record, answered (a BYE's 200 waits for the commit);
// every call answered and not yet hung up has one record, interrupted
// (its journal row, written at the 180, recovered at the start); a call
// whose BYE reached parley as the kill landed may have either, since its
// record is committed before the BYE's 200 goes out; no call has two.
func TestB2BUAKillRecords(t *testing.T) {
	b := startB2BUAWithBob(t, 100000)
	p, callee, cfg, data := b.p, b.bob, b.cfg, b.data
	caller := startSipp(t, "-sf", scenario("uac_call_hold.xml"), "-s", "bob", "-d", "3000",
		"-r", "30", "-m", "300", "-l", "200", p.Addr)
	time.Sleep(5 * time.Second)
	p.kill(t)
	time.Sleep(300 * time.Millisecond) // answers in flight reach sipp
	caller.cmd.Process.Kill()
	caller.Wait()
	callee.cmd.Process.Kill()
	callee.Wait()

	trace := readFile(t, caller.file("messages"))
	started, answered, finished := answeredAndFinished(trace)
	byeSent := map[string]bool{}
	for _, m := range sentBye.FindAllStringSubmatch(trace, -1) {
		byeSent[m[1]] = true
	}
	if len(finished) < 30 || len(answered) <= len(finished) {
		t.Fatalf("%d calls started, %d answered, %d finished before the kill: the kill did not land mid-traffic",
			len(started), len(answered), len(finished))
	}
	startParley(t, "--config", cfg, "--data-dir", data, "--mode", "b2bua")
	byCall := map[string][]string{}
	interrupted := 0
	for _, row := range exportCSV(t, data) {
		byCall[row[2]] = append(byCall[row[2]], row[15])
		if row[15] == "interrupted" {
			interrupted++
		}
	}
	for id, disp := range byCall {
		switch {
		case len(disp) != 1:
			t.Errorf("%s: %d records %v, want one", id, len(disp), disp)
		case !started[id]:
			t.Errorf("%s: a record of a call sipp never made", id)
		case finished[id] && disp[0] != "answered":
			t.Errorf("%s: hung up before the kill, recorded %s", id, disp[0])
		case !finished[id] && byeSent[id] && disp[0] != "interrupted" && disp[0] != "answered":
			// Parley had the BYE: its record is committed before the BYE's
			// 200 goes out, so a kill between the two leaves a whole record
			// that sipp never saw confirmed.
			t.Errorf("%s: hung up as the kill landed, recorded %s", id, disp[0])
		case !finished[id] && !byeSent[id] && disp[0] != "interrupted":
			t.Errorf("%s: up at the kill, recorded %s", id, disp[0])
		}
	}
	for id := range answered {
		if len(byCall[id]) == 0 {
			t.Errorf("%s: answered before the kill, no record after the restart (finished: %v)", id, finished[id])
		}
	}
	t.Logf("before the kill: %d calls started, %d answered, %d finished; after the restart %d records, %d interrupted",
		len(started), len(answered), len(finished), len(byCall), interrupted)
}

// TestB2BUASecondServerLeavesTheJournal: a second `parley serve` started
// on a running B2BUA's config and data directory (by hand, beside the
// service) fails to bind, and must leave the running server's calls
// alone: before, it recovered the call journal first, recorded the call
// in progress as interrupted, and the call's true record was lost to the
// table's key when it ended.
func TestB2BUASecondServerLeavesTheJournal(t *testing.T) {
	b := startB2BUAWithBob(t, 1)
	p, cfg, base, data := b.p, b.cfg, b.base, b.data
	caller := startSipp(t, "-sf", scenario("uac_call_hold.xml"), "-s", "bob", "-d", "4000", "-m", "1", p.Addr)
	time.Sleep(1500 * time.Millisecond) // answered, held
	second := exec.Command(parleyBin, "serve", "--config", cfg, "--data-dir", data, "--mode", "b2bua", "--listen", "udp:"+p.Addr)
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "address already in use") {
		t.Fatalf("the second server: %v, want it to fail to bind:\n%s", err, out)
	}
	caller.ExpectSuccess()
	recs := waitB2BUACDRs(t, base, 1, "the call's one record")
	if r := recs[0]; r.Disposition != "answered" || r.HungUpBy != "caller" {
		t.Errorf("the call's record: %s by %s, want answered, hung up by the caller (the second server's output:\n%s)", r.Disposition, r.HungUpBy, out)
	}
}

// b2buaWithBob is parley in mode b2bua with call records on, and a sipp
// registered as bob that answers calls.
type b2buaWithBob struct {
	p               *parley
	bob             *sippProc
	cfg, base, data string // parley's config file, admin base URL and data directory
}

// startB2BUAWithBob starts a b2buaWithBob whose bob answers up to calls
// calls.
func startB2BUAWithBob(t *testing.T, calls int) b2buaWithBob {
	t.Helper()
	requireTool(t, "sipp", sippHint)
	b := b2buaWithBob{data: t.TempDir()}
	b.cfg, b.base = adminConfig(t)
	b.p = startParley(t, "--config", b.cfg, "--data-dir", b.data, "--mode", "b2bua")
	b.bob = startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_answer.xml"),
		"-s", "bob", "-set", "calls", strconv.Itoa(calls), b.p.Addr)
	b.bob.WaitLog("registered", phoneWait)
	return b
}
