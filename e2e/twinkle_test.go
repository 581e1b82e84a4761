package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const twinkleHint = "apt-get install -y twinkle-console"

// TestTwinkleRegisters: twinkle-console (Debian's twinkle-console) with a
// user profile as its settings dialog writes one, registering at parley
// by address, with no password and with one (auth on, nothing else set).
func TestTwinkleRegisters(t *testing.T) {
	requireTool(t, "twinkle-console", twinkleHint)
	for _, password := range []string{"", "tina-pw-4"} {
		name := "open"
		if password != "" {
			name = "password"
		}
		t.Run(name, func(t *testing.T) {
			data := t.TempDir()
			args := []string{"--data-dir", data, "--trace"}
			if password != "" {
				addSubscriber(t, data, "tina@127.0.0.1", password)
				args = append(args, "--config", writeConfig(t, "auth:\n  enabled: true\n"))
			}
			p := startParleyServing(t, nil, args...)
			profile := "user_name=tina\nuser_domain=127.0.0.1\n" +
				"registrar=" + p.Addr + "\nregister_at_startup=yes\n"
			if password != "" {
				profile += "auth_name=tina\nauth_pass=" + password + "\n"
			}
			runTwinkle(t, profile, "tina: registration succeeded")
			p.expectTrace(t, reRegisterOK, "200 sent to a REGISTER")
		})
	}
}

// runTwinkle starts twinkle-console with a fresh home directory holding
// the user profile tina.cfg and system settings with a free SIP port, waits
// until it prints want, and leaves it running until the end of the test,
// when it is told to quit (it then unregisters) or killed after 5 s.
func runTwinkle(t *testing.T, profile, want string) {
	t.Helper()
	home := t.TempDir()
	dir := filepath.Join(home, ".twinkle")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	sys := fmt.Sprintf("sip_port=%d\nrtp_port=%d\n", freePort(t, false), freePort(t, true))
	for name, text := range map[string]string{"twinkle.sys": sys, "tina.cfg": profile} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	cmd := exec.CommandContext(ctx, "twinkle-console", "tina.cfg")
	cmd.Env = append(os.Environ(), "HOME="+home)
	logPath := filepath.Join(home, "twinkle.out")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logFile.Close(); close(exited) }()
	t.Cleanup(func() {
		io.WriteString(stdin, "quit\n")
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cancel()
			<-exited
		}
		cancel()
		if t.Failed() {
			t.Logf("twinkle output (%s), tail:\n%s\ntwinkle log:\n%s", logPath, tail(logPath, 4000),
				tail(filepath.Join(dir, "twinkle.log"), 6000))
		}
	})
	if !waitForText(logPath, want, 10*time.Second, exited) {
		t.Fatalf("twinkle printed no %q within 10s", want)
	}
}
