package e2e

import (
	"encoding/csv"
	"encoding/json"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// apiCDR is a call detail record as GET /api/cdrs shows it.
type apiCDR struct {
	CallID      string    `json:"call_id"`
	Caller      string    `json:"caller"`
	Callee      string    `json:"callee"`
	Dialled     string    `json:"dialled"`
	Answered    time.Time `json:"answered"`
	End         time.Time `json:"end"`
	Duration    float64   `json:"duration"`
	Billable    int64     `json:"billable"`
	Disposition string    `json:"disposition"`
	HungUpBy    string    `json:"hung_up_by"`
	Status      int       `json:"status"`
	Reason      string    `json:"reason"`
}

// cdrs reads /api/cdrs, newest first.
func cdrs(t *testing.T, base string) []apiCDR {
	t.Helper()
	code, body := httpGet(t, base+"/api/cdrs")
	var v struct{ CDRs []apiCDR }
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
		t.Fatalf("/api/cdrs: %d %v: %s", code, err, body)
	}
	return v.CDRs
}

// waitCDRs polls /api/cdrs until it holds n records.
func waitCDRs(t *testing.T, base string, n int) []apiCDR {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		recs := cdrs(t, base)
		if len(recs) >= n || time.Now().After(deadline) {
			if len(recs) != n {
				t.Fatalf("/api/cdrs holds %d records, want %d: %+v", len(recs), n, recs)
			}
			return recs
		}
	}
}

// adminConfig writes a config with the admin listener on a free port and
// returns the file and the listener's base URL.
func adminConfig(t *testing.T) (file, base string) {
	t.Helper()
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
	return writeConfig(t, "admin:\n  listen: "+admin+"\ncdr:\n  enabled: true\n"), "http://" + admin
}

// exportCSV runs parley cdr export on dataDir and returns the rows
// after the header.
func exportCSV(t *testing.T, dataDir string) [][]string {
	t.Helper()
	since := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	out, err := exec.Command(parleyBin, "cdr", "export", "--data-dir", dataDir, "--since", since, "--format", "csv").Output()
	if err != nil {
		t.Fatalf("parley cdr export: %v\n%s", err, out)
	}
	rows, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil || len(rows) == 0 || rows[0][0] != "id" {
		t.Fatalf("export is not CSV with a header (%v):\n%s", err, out)
	}
	return rows[1:]
}

// startRecording starts parley with an admin listener and a fresh data
// directory, and bob (sipp) registered to answer calls calls.
func startRecording(t *testing.T, calls int) (p *parley, data, base string, callee *sippProc) {
	t.Helper()
	requireTool(t, "sipp", sippHint)
	data = t.TempDir()
	cfg, base := adminConfig(t)
	p = startParley(t, "--config", cfg, "--data-dir", data)
	callee = startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_answer.xml"),
		"-s", "bob", "-set", "calls", strconv.Itoa(calls), p.Addr)
	callee.WaitLog("registered", phoneWait)
	return p, data, base, callee
}

var cdrWritten = regexp.MustCompile(`(?m)^parley_cdr_written_total (\S+)$`)

// TestCallRecords: a call held 2 s through the proxy gives one record,
// answered, with about 2 s of talk, in /api/cdrs and in parley cdr
// export. A second call, then kill -9 shortly after it ended: both
// records are there after the restart, because a record is committed
// within milliseconds of the call's end (see cdr.Writer).
func TestCallRecords(t *testing.T) {
	p, data, base, callee := startRecording(t, 2)

	const hold = 2 * time.Second
	startSipp(t, "-sf", scenario("uac_call_hold.xml"), "-s", "bob", "-d", strconv.Itoa(int(hold/time.Millisecond)), p.Addr).ExpectSuccess()
	recs := waitCDRs(t, base, 1)
	r := recs[0]
	talk := r.End.Sub(r.Answered)
	if r.Disposition != "answered" || r.Status != 200 || r.HungUpBy != "caller" || r.Dialled != "bob" ||
		r.Caller != "sip:alice@example.com" || r.Callee != "sip:bob@example.com" {
		t.Errorf("record %+v, want answered 200, hung up by the caller, alice to bob", r)
	}
	if talk < hold-100*time.Millisecond || talk > hold+time.Second || r.Billable < 2 || r.Billable > 3 || r.Duration < talk.Seconds() {
		t.Errorf("talk %v, billable %d, duration %.3f; want about %v", talk, r.Billable, r.Duration, hold)
	}
	rows := exportCSV(t, data)
	if len(rows) != 1 || rows[0][2] != r.CallID || rows[0][15] != "answered" {
		t.Errorf("export rows %q, want the one answered call %s", rows, r.CallID)
	}
	// The counter moves just after the commit the API reads from.
	for deadline := time.Now().Add(stateWait); ; time.Sleep(50 * time.Millisecond) {
		_, body := httpGet(t, base+"/metrics")
		if m := cdrWritten.FindStringSubmatch(body); m != nil && m[1] == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("/metrics has no parley_cdr_written_total 1")
			break
		}
	}

	// The second call; kill -9 a moment after the caller got its BYE's 200.
	startSipp(t, "-sf", scenario("uac_call.xml"), "-s", "bob", p.Addr).ExpectSuccess()
	callee.ExpectSuccess()
	time.Sleep(100 * time.Millisecond)
	p.kill(t)

	cfg, base := adminConfig(t)
	startParley(t, "--config", cfg, "--data-dir", data)
	recs = cdrs(t, base)
	if len(recs) != 2 || recs[1].CallID != r.CallID || recs[0].Disposition != "answered" {
		t.Fatalf("after kill -9 and restart: %+v, want both calls", recs)
	}
	if rows := exportCSV(t, data); len(rows) != 2 {
		t.Errorf("export after the restart: %d rows, want 2", len(rows))
	}
}

// TestCallRecordInterrupted: a call still up when parley is stopped
// (SIGTERM) is recorded as interrupted, hung up by the system.
func TestCallRecordInterrupted(t *testing.T) {
	p, data, base, callee := startRecording(t, 1)
	caller := startSipp(t, "-sf", scenario("uac_call_hold.xml"), "-s", "bob", "-d", "15000", p.Addr)
	waitCalls(t, base, "call answered", func(active, _ []apiCall) bool {
		return len(active) == 1 && active[0].State == "established"
	})
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited
	p.killed = true // stopped here: the cleanup has nothing to stop
	if p.waitErr != nil {
		t.Errorf("parley exited with %v after SIGTERM, want 0", p.waitErr)
	}
	for _, s := range []*sippProc{caller, callee} { // their BYE will find nobody
		s.cancel()
		s.Wait()
	}
	rows := exportCSV(t, data)
	if len(rows) != 1 || rows[0][15] != "interrupted" || rows[0][16] != "system" || rows[0][12] == "" {
		t.Errorf("export %q, want one interrupted call, ended by the system", rows)
	}
}

// TestCallRecordDispositions: each way a call ends through the proxy
// (the flows of proxy_test.go, over UDP) gives one record saying how and
// by whom; the forked call is one record, answered.
func TestCallRecordDispositions(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	// The reason is the phrase alone, as in a B2BUA's records: the
	// status has its own column.
	tests := []struct {
		flow, disposition, hungUpBy string
		status                      int
		reason                      string
	}{
		{"busy", "busy", "callee", 486, "Busy Here"},
		{"cancel", "cancelled", "caller", 487, "Request Terminated"},
		{"unknown user", "failed", "callee", 404, "Not Found"},
		{"forking", "answered", "caller", 200, "hung up"},
	}
	for _, tt := range tests {
		t.Run(tt.flow, func(t *testing.T) {
			cfg, base := adminConfig(t)
			p := startParley(t, "--config", cfg)
			runCallFlow(t, p.Addr, transports[0], flows[tt.flow])
			r := waitCDRs(t, base, 1)[0]
			if r.Disposition != tt.disposition || r.HungUpBy != tt.hungUpBy || r.Status != tt.status || r.Reason != tt.reason {
				t.Errorf("record %+v, want %s, hung up by %s, status %d, reason %q", r, tt.disposition, tt.hungUpBy, tt.status, tt.reason)
			}
		})
	}
}
