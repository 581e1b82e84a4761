package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const fail2banHint = "apt-get install -y fail2ban"

// fail2banFile is the path of a file under contrib/fail2ban.
func fail2banFile(name string) string {
	return filepath.Join(scenarioDir, "..", "..", "contrib", "fail2ban", name)
}

// TestFail2banFilter: a REGISTER with a wrong password makes parley write
// a line that the shipped filter matches with the phone's address, in
// either log format; a good registration's lines do not match.
func TestFail2banFilter(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	requireTool(t, "fail2ban-regex", fail2banHint)
	for _, format := range []struct{ name, failed string }{
		{"text", `msg="auth failed"`},
		{"json", `"msg":"auth failed"`},
	} {
		t.Run(format.name, func(t *testing.T) {
			data := t.TempDir()
			addUser(t, data, "alice", "s3cret-pw")
			cfg := writeConfig(t, "log_format: "+format.name+"\nadmin:\n  listen: \"\"\nauth:\n  enabled: true\n  algorithms: [MD5]\n")
			p := startParley(t, "--config", cfg, "--data-dir", data)
			if code := runSipp(t, "-sf", scenario("register_auth.xml"), "-s", "alice",
				"-au", "alice", "-ap", "s3cret-pw", p.Addr); code != 0 {
				t.Fatalf("right password: sipp exited %d, want 0", code)
			}
			if code := runSipp(t, "-sf", scenario("register_auth.xml"), "-s", "alice",
				"-au", "alice", "-ap", "wrong", "-set", "expect_forbidden", "1", p.Addr); code != 0 {
				t.Fatalf("wrong password: sipp exited %d, want 0 (a 403)", code)
			}
			log := readFile(t, p.logPath)
			var failed []string
			for _, line := range strings.Split(log, "\n") {
				if strings.Contains(line, format.failed) {
					failed = append(failed, line)
				}
			}
			if len(failed) != 1 || !strings.Contains(log, "registration added") {
				t.Fatalf("want one auth failure line and a registration line, got:\n%s", log)
			}
			matched := fail2banRegex(t, p.logPath, "msg")
			if strings.Join(matched, "\n") != failed[0] {
				t.Errorf("the filter matched:\n%s\nwant only the auth failure:\n%s", strings.Join(matched, "\n"), failed[0])
			}
			if hosts := fail2banRegex(t, p.logPath, "ip"); len(hosts) != 1 || hosts[0] != "127.0.0.1" {
				t.Errorf("hosts found %q, want [127.0.0.1]", hosts)
			}
			if dated, lines := fail2banDates(t, p.logPath); dated != lines {
				t.Errorf("fail2ban read the time of %d of the log's %d lines; it takes the time of an earlier line, or now, for the rest", dated, lines)
			}
		})
	}
}

// fail2banRegex runs the shipped filter over a log and returns what
// fail2ban-regex prints for each match in mode out (msg: the line; ip:
// the host).
func fail2banRegex(t *testing.T, logPath, out string) []string {
	t.Helper()
	b, err := exec.Command("fail2ban-regex", "-o", out, logPath, fail2banFile("filter.d/parley.conf")).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, b)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// fail2banDates runs the shipped filter over a log in fail2ban-regex's
// report mode and returns how many lines its datepattern read a time
// from, and how many lines there were. A line whose time fail2ban cannot
// read is dated by the line before it (JSON's nanoseconds once did that).
func fail2banDates(t *testing.T, logPath string) (dated, lines int) {
	t.Helper()
	b, err := exec.Command("fail2ban-regex", logPath, fail2banFile("filter.d/parley.conf")).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, b)
	}
	report := string(b)
	m := regexp.MustCompile(`(?m)^Lines: (\d+) lines`).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("fail2ban-regex printed no line count:\n%s", report)
	}
	lines, _ = strconv.Atoi(m[1])
	_, hits, _ := strings.Cut(report, "Date template hits:")
	hits, _, _ = strings.Cut(hits, "\n`-")
	for _, h := range regexp.MustCompile(`(?m)^\|\s+\[(\d+)\]`).FindAllStringSubmatch(hits, -1) {
		n, _ := strconv.Atoi(h[1])
		dated += n
	}
	return dated, lines
}

// TestFail2banJail: fail2ban reads the shipped jail with the shipped
// filter, as it would from /etc/fail2ban, and bans on every protocol.
func TestFail2banJail(t *testing.T) {
	requireTool(t, "fail2ban-client", fail2banHint)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("/etc/fail2ban")); err != nil {
		t.Fatalf("copying /etc/fail2ban: %v", err)
	}
	for _, f := range []string{"filter.d/parley.conf", "jail.d/parley.conf"} {
		b, err := os.ReadFile(fail2banFile(f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := exec.Command("fail2ban-client", "-c", dir, "-d").CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-client -d: %v\n%s", err, b)
	}
	out := string(b)
	for _, want := range []string{
		`['add', 'parley', 'systemd']`,
		`['multi-set', 'parley', 'addfailregex', ['\\bmsg="auth failed"`,
		`['set', 'parley', 'addjournalmatch', '_SYSTEMD_UNIT=parley.service']`,
		`['start', 'parley']`,
		`for proto in $(echo 'all'`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("fail2ban's reading of the jail lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("fail2ban-client -d:\n%s", out)
	}
}

// TestEventLog: phones registering and a call through parley leave their
// info lines in the log: the binding added, one that expired, and the
// call's start, answer and end with its status and duration.
func TestEventLog(t *testing.T) { eventLog(t) }

// TestB2BUAEventLog is TestEventLog through the B2BUA, whose answer the
// log once gave as status=0.
func TestB2BUAEventLog(t *testing.T) { eventLog(t, "--mode", "b2bua") }

func eventLog(t *testing.T, args ...string) {
	requireTool(t, "sipp", sippHint)
	p := startParley(t, append([]string{"--log-level", "info", "--config", writeConfig(t, "registrar:\n  min_expires: 1s\n")}, args...)...)
	if code, _ := newRegistrar(t, p.Addr).register(t, 7, 1); code != 200 {
		t.Fatalf("REGISTER for 1 s: %d, want 200", code)
	}
	callee := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_answer.xml"),
		"-s", "bob", "-set", "calls", "1", p.Addr)
	callee.WaitLog("registered", phoneWait)
	startSipp(t, "-sf", scenario("uac_call.xml"), "-s", "bob", p.Addr).ExpectSuccess()
	callee.ExpectSuccess()
	want := []*regexp.Regexp{
		regexp.MustCompile(`level=INFO msg="registration added" aor=sip:bob@example.com contact=\S+ source=127\.0\.0\.1 `),
		regexp.MustCompile(`level=INFO msg="call started" call_id=\S+ caller=\S*sip:alice@example.com\S* callee=\S*sip:bob@example.com\S* source=127\.0\.0\.1:\d+`),
		regexp.MustCompile(`level=INFO msg="call answered" call_id=\S+ status=200 setup=\S+`),
		regexp.MustCompile(`level=INFO msg="call ended" call_id=\S+ status=200 reason="hung up" answered=true duration=\S+`),
		regexp.MustCompile(`level=INFO msg="registration expired" aor=sip:user7@example.com contact=sip:user7@127\.0\.0\.1:\d+ source=127\.0\.0\.1 user_agent=e2e-registrar transport=udp`),
	}
	deadline := time.Now().Add(stateWait) // the observer's worker writes call lines
	for _, re := range want {
		for !re.MatchString(readFile(t, p.logPath)) {
			if time.Now().After(deadline) {
				t.Fatalf("no line matching %s in parley's log", re)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
