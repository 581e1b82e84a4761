package e2e

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// reLinphoneRegistration is liblinphone's log line for an account's
// registration ending, one way or the other.
var reLinphoneRegistration = regexp.MustCompile(`to \[LinphoneRegistration(Ok|Failed)\]`)

// TestLinphoneTLS backs the README's Linphone advice with linphonec 5.1
// registering over TLS to parley's self-signed certificate: trusted as
// root_ca and reached by a name the certificate carries, it registers
// (sips: included); without root_ca it refuses the certificate; reached
// by an address, it refuses the name unless verify_server_cn=0.
func TestLinphoneTLS(t *testing.T) {
	requireTool(t, "linphonec", linphoneHint)
	data := t.TempDir()
	port := strconv.Itoa(freePort(t, false))
	startParley(t, "--data-dir", data, "--listen", "tls:127.0.0.1:"+port)
	rootCA := "root_ca=" + filepath.Join(data, "tls.crt")
	tests := []struct {
		name, identity, proxy string
		sipConfig             []string
		want                  string // Ok or Failed
		flags                 string // what belle-sip found wrong with the certificate
	}{
		{"trusted, by name", "sip:alice@example.com", "sip:localhost:" + port + ";transport=tls", []string{rootCA}, "Ok", "flags=[]"},
		{"trusted, sips", "sips:alice@example.com", "sips:localhost:" + port, []string{rootCA}, "Ok", "flags=[]"},
		{"not trusted", "sip:alice@example.com", "sip:localhost:" + port + ";transport=tls", nil, "Failed", "flags=[not-trusted ]"},
		{"trusted, by address", "sip:alice@example.com", "sip:127.0.0.1:" + port + ";transport=tls", []string{rootCA}, "Failed", "flags=[CN-mismatch ]"},
		{"by address, name check off", "sip:alice@example.com", "sip:127.0.0.1:" + port + ";transport=tls", []string{rootCA, "verify_server_cn=0"}, "Ok", "flags=[CN-mismatch ]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, log := linphoneRegister(t, tt.identity, tt.proxy, tt.sipConfig)
			if got != tt.want || !strings.Contains(log, "Found certificate depth=[0], "+tt.flags) {
				t.Errorf("registration %s, want %s with certificate %s; log tail:\n%s", got, tt.want, tt.flags, tailString(log, 4000))
			}
		})
	}
}

// linphoneRegister runs linphonec with TLS only and the [sip] lines given,
// has it register identity through proxy, and returns Ok or Failed and
// its log.
func linphoneRegister(t *testing.T, identity, proxy string, sipConfig []string) (string, string) {
	t.Helper()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".local", "share", "linphone"), 0o700); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(home, "linphonerc")
	conf := "[sip]\nsip_port=-1\nsip_tcp_port=-1\nsip_tls_port=" + strconv.Itoa(freePort(t, false)) + "\n" +
		strings.Join(sipConfig, "\n") + "\n[sound]\ncapture_dev_id=\nplayback_dev_id=\n"
	if err := os.WriteFile(rc, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(home, "linphone.log")
	cmd := exec.Command("linphonec", "-c", rc, "-d", "3", "-l", logPath)
	cmd.Env = append(os.Environ(), "HOME="+home)
	out, err := os.Create(filepath.Join(home, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		io.WriteString(stdin, "quit\n")
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	io.WriteString(stdin, "register "+identity+" "+proxy+" unused\n")
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(logPath)
		if m := reLinphoneRegistration.FindSubmatch(b); m != nil {
			return string(m[1]), string(b)
		}
		select {
		case <-exited:
			t.Fatalf("linphonec exited before registering; log tail:\n%s", tail(logPath, 4000))
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("linphonec logged no registration result within 15s; log tail:\n%s", tail(logPath, 4000))
	return "", ""
}

// tailString is the last n bytes of s.
func tailString(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
