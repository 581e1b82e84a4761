package e2e

import (
	"regexp"
	"testing"
	"time"
)

// acked matches a 200 OK sipp received (-trace_msg) and its To user: the
// registrations parley acknowledged.
var acked = regexp.MustCompile(`(?m)^UDP message received \[\d+\] bytes :\n\nSIP/2\.0 200 OK\r\n(?:[^\n]+\n)*?To: <sip:([^@>]+)@`)

// TestCrashDuringLoad: sipp registers fresh users at 400/s; after about
// a second parley is killed with SIGKILL, mid-load, then started again
// on the same data directory. Every user whose 200 OK sipp received must
// still have its binding: a 200 is sent only for a committed binding.
func TestCrashDuringLoad(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	const users = 3000
	data := t.TempDir()
	cfg := writeConfig(t, "admin:\n  listen: \"\"\n")
	p := startParley(t, "--config", cfg, "--data-dir", data)
	load := startSipp(t, "-sf", scenario("register_only.xml"), "-inf", usersCSV(t, "crash", users),
		"-m", "3000", "-r", "400", p.Addr)
	time.Sleep(time.Second)
	p.kill(t)
	time.Sleep(200 * time.Millisecond) // answers in flight reach sipp
	load.cmd.Process.Kill()
	load.Wait()

	trace := readFile(t, load.file("messages"))
	sent := len(regexp.MustCompile(`(?m)^REGISTER sip:example.com SIP/2.0\r$`).FindAllString(trace, -1))
	var acknowledged []string
	for _, m := range acked.FindAllStringSubmatch(trace, -1) {
		acknowledged = append(acknowledged, m[1])
	}
	if len(acknowledged) < 100 || len(acknowledged) >= users {
		t.Fatalf("%d registrations acknowledged before the kill; the kill did not land mid-load", len(acknowledged))
	}
	p2 := startParley(t, "--config", cfg, "--data-dir", data)
	missing := 0
	for _, user := range acknowledged {
		if len(queryBindings(t, p2.Addr, user)) != 1 {
			missing++
			t.Errorf("%s: acknowledged before the crash, no binding after it", user)
		}
	}
	t.Logf("killed after %d REGISTERs sent (retransmissions included), %d acknowledged; after the restart %d of them present, %d missing",
		sent, len(acknowledged), len(acknowledged)-missing, missing)
}
