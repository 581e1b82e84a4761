package e2e

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// apiCall is a call as GET /api/calls shows it.
type apiCall struct {
	CallID          string  `json:"call_id"`
	State           string  `json:"state"`
	Status          int     `json:"status"`
	Reason          string  `json:"reason"`
	DurationSeconds float64 `json:"duration_seconds"`
	Branches        []struct {
		Tag   string `json:"tag"`
		State string `json:"state"`
	} `json:"branches"`
}

// calls reads /api/calls.
func calls(t *testing.T, base string) (active, recent []apiCall) {
	t.Helper()
	code, body := httpGet(t, base+"/api/calls")
	var v struct{ Active, Recent []apiCall }
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
		t.Fatalf("/api/calls: %d %v: %s", code, err, body)
	}
	return v.Active, v.Recent
}

// waitCalls polls /api/calls until ok accepts what it shows.
func waitCalls(t *testing.T, base, what string, ok func(active, recent []apiCall) bool) (active, recent []apiCall) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		active, recent = calls(t, base)
		if ok(active, recent) {
			return active, recent
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /api/calls shows active %+v, recent %+v", what, active, recent)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var callsActive = regexp.MustCompile(`(?m)^parley_calls_active (\S+)$`)

// metricCallsActive returns parley_calls_active from /metrics.
func metricCallsActive(t *testing.T, base string) string {
	t.Helper()
	_, body := httpGet(t, base+"/metrics")
	m := callsActive.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no parley_calls_active")
	}
	return m[1]
}

// TestCallTrackingWithAuth: with passwords on, alice's INVITE is
// challenged (407), sent again with credentials and answered; the call is
// held 5 s. While it is up /api/calls and parley_calls_active show it
// active (one call, not a failed one and a second); after the BYE it is
// ended, answered with 200, after about 5 s of talk.
func TestCallTrackingWithAuth(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	data := t.TempDir()
	addUser(t, data, "alice", "s3cret-pw")
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
	base := "http://" + admin
	cfg := writeConfig(t, "auth:\n  enabled: true\n  methods: [INVITE]\n  algorithms: [MD5]\nadmin:\n  listen: "+admin+"\n")
	p := startParley(t, "--config", cfg, "--data-dir", data)
	callee := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_answer.xml"),
		"-s", "bob", "-set", "calls", "1", p.Addr)
	callee.WaitLog("registered", phoneWait)

	const hold = 5 * time.Second
	caller := startSipp(t, "-sf", scenario("uac_call_auth.xml"), "-s", "bob", "-au", "alice", "-ap", "s3cret-pw",
		"-d", strconv.Itoa(int(hold/time.Millisecond)), p.Addr)
	active, recent := waitCalls(t, base, "call answered", func(active, _ []apiCall) bool {
		return len(active) == 1 && active[0].State == "established"
	})
	if c := active[0]; c.Status != 200 || c.Reason != "" || len(recent) != 0 {
		t.Errorf("while up: call %+v, recent %+v; want one established call answered 200 and none ended", c, recent)
	}
	if got := metricCallsActive(t, base); got != "1" {
		t.Errorf("parley_calls_active %s while the call is up, want 1", got)
	}

	caller.ExpectSuccess()
	callee.ExpectSuccess()
	active, recent = waitCalls(t, base, "call ended", func(active, recent []apiCall) bool {
		return len(active) == 0 && len(recent) > 0
	})
	if len(recent) != 1 {
		t.Fatalf("%d ended calls, want the one call: %+v", len(recent), recent)
	}
	c := recent[0]
	if c.State != "ended" || c.Status != 200 || c.Reason != "hung up" {
		t.Errorf("ended call %+v, want ended with 200, hung up", c)
	}
	if d := time.Duration(c.DurationSeconds * float64(time.Second)); d < hold-500*time.Millisecond || d > hold+2*time.Second {
		t.Errorf("duration %v, want about %v", d, hold)
	}
	if len(c.Branches) != 1 || c.Branches[0].State != "terminated" {
		t.Errorf("branches %+v, want the one dialog, terminated", c.Branches)
	}
	if got := metricCallsActive(t, base); got != "0" {
		t.Errorf("parley_calls_active %s after the BYE, want 0", got)
	}
	if strings.Contains(c.Reason, "407") {
		t.Errorf("the challenge ended the call: %+v", c)
	}
}
