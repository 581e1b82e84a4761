package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The files in contrib/ that install Parley as a service.
var (
	unitFile      = filepath.Join("..", "contrib", "systemd", "parley.service")
	exampleConfig = filepath.Join("..", "contrib", "parley.yaml.example")
)

// TestExampleConfig: the small-office example passes check-config and
// says what it promises: a domain, TLS, passwords, a trusted LAN.
func TestExampleConfig(t *testing.T) {
	code, out, errs := runParley(t, "check-config", exampleConfig)
	if code != 0 || !strings.HasSuffix(out, ": ok\n") {
		t.Fatalf("check-config %s: exit %d\n%s%s", exampleConfig, code, out, errs)
	}
	text, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"domains: [example.com]", "tls:0.0.0.0:5061", "  enabled: true", "trusted: [192.168.1.0/24]", "data_dir: /var/lib/parley"} {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("%s lacks %q", exampleConfig, want)
		}
	}
}

// TestSystemdUnit: systemd-analyze verify accepts the unit without a
// warning (it only warns about unknown keys, so any output fails), and
// the unit's commands work with the built binary. systemd-analyze
// checks that ExecStart's binary exists, so the unit is verified with
// /usr/local/bin/parley pointing at the binary under test. .ci/run
// installs systemd where it is missing, so CI always verifies the unit.
func TestSystemdUnit(t *testing.T) {
	requireTool(t, "systemd-analyze", "apt-get install -y systemd")
	if buildErr != nil {
		t.Fatalf("no parley binary: %v", buildErr)
	}
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"User=parley", "StateDirectory=parley", "--config /etc/parley/parley.yaml",
		"ExecReload=/bin/kill -HUP $MAINPID", "ProtectSystem=strict", "NoNewPrivileges=yes"} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("%s lacks %q", unitFile, want)
		}
	}
	dir := t.TempDir()
	local := strings.ReplaceAll(string(unit), "/usr/local/bin/parley", parleyBin)
	path := filepath.Join(dir, "parley.service")
	if err := os.WriteFile(path, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitFile, err, out)
	}

	// ExecStartPre is check-config; run it on the example config.
	pre := unitValue(t, local, "ExecStartPre")
	args := strings.Fields(strings.ReplaceAll(pre, "/etc/parley/parley.yaml", exampleConfig))
	if o, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Errorf("ExecStartPre %s: %v\n%s", pre, err, o)
	}
}

// unitValue returns the value of a unit file's key.
func unitValue(t *testing.T, unit, key string) string {
	t.Helper()
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	t.Fatalf("the unit has no %s=", key)
	return ""
}
