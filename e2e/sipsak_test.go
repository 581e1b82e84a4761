package e2e

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const sipsakHint = "apt-get install -y sipsak"

// TestSipsak: sipsak's OPTIONS ping and its registration (-U) against
// parley with auth on and nothing else set, over UDP and TCP; -u names
// the user to authenticate as, -a the password. sipsak exits 0 only on a
// final 200. -x 3600 because sipsak asks for 15 s, below min_expires.
func TestSipsak(t *testing.T) {
	requireTool(t, "sipsak", sipsakHint)
	data := t.TempDir()
	addSubscriber(t, data, "alice@127.0.0.1", "al-pw-9")
	p := startParleyServing(t, nil, "--data-dir", data, "--config", writeConfig(t, "auth:\n  enabled: true\n"))
	tests := []struct {
		name string
		args []string
		exit int    // sipsak's exit status
		want string // in its output
	}{
		{"OPTIONS over UDP", []string{"-s", "sip:" + p.Addr}, 0, ""},
		{"OPTIONS over TCP", []string{"-E", "tcp", "-s", "sip:" + p.Addr}, 0, ""},
		{"REGISTER over UDP", []string{"-U", "-x", "3600", "-s", "sip:alice@" + p.Addr, "-u", "alice", "-a", "al-pw-9"}, 0, ""},
		{"REGISTER over TCP", []string{"-E", "tcp", "-U", "-x", "3600", "-s", "sip:alice@" + p.Addr, "-u", "alice", "-a", "al-pw-9"}, 0, ""},
		{"REGISTER with a wrong password", []string{"-U", "-x", "3600", "-s", "sip:alice@" + p.Addr, "-u", "alice", "-a", "wrong"}, 1, "403 Forbidden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "sipsak", tc.args...).CombinedOutput()
			exit := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				exit = exitErr.ExitCode()
			} else if err != nil {
				t.Fatalf("sipsak %s: %v", strings.Join(tc.args, " "), err)
			}
			if exit != tc.exit || !strings.Contains(string(out), tc.want) {
				t.Errorf("sipsak %s: exit %d, want %d with %q in:\n%s", strings.Join(tc.args, " "), exit, tc.exit, tc.want, out)
			}
		})
	}
}
