package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
