package e2e

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The operator's first hour (issue 14): reloads, the user command, the
// command line and the startup line, run against the built binary.

// sipStatus sends one request over UDP to addr and returns the status
// line (without "SIP/2.0 ") of the first final response.
func sipStatus(t *testing.T, addr, request string) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst, _ := net.ResolveUDPAddr("udp", addr)
	msg := strings.ReplaceAll(request, "LOCAL", c.LocalAddr().String())
	if _, err := c.WriteTo([]byte(msg), dst); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no final response to %.40q: %v", request, err)
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if !strings.HasPrefix(line, "SIP/2.0 1") {
			return strings.TrimPrefix(line, "SIP/2.0 ")
		}
	}
}

// registerRequest is an unauthenticated REGISTER of user@example.com;
// sipStatus fills in LOCAL.
func registerRequest(user string, seq int) string {
	id := user + "-" + strconv.Itoa(seq)
	return "REGISTER sip:example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP LOCAL;branch=z9hG4bK-" + id + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:" + user + "@example.com>;tag=" + id + "\r\n" +
		"To: <sip:" + user + "@example.com>\r\n" +
		"Call-ID: " + id + "@e2e\r\n" +
		"CSeq: " + strconv.Itoa(seq) + " REGISTER\r\n" +
		"Contact: <sip:" + user + "@LOCAL>\r\n" +
		"Expires: 300\r\nContent-Length: 0\r\n\r\n"
}

// reload rewrites the config file, sends SIGHUP and waits for the
// outcome's log line, the n-th of its kind.
func (p *parley) reload(t *testing.T, path, yaml, outcome string, n int) {
	t.Helper()
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(stateWait)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(p.logPath)
		if bytes.Count(b, []byte(outcome)) >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %q in the log within %v of SIGHUP", outcome, stateWait)
}

// TestReloadEnablesAuth: a running server without passwords gets
// auth.enabled: true in its file and SIGHUP; the next unauthenticated
// REGISTER gets 401, and sipp registers with the password. A key that
// needs a restart (mode) is logged by name, listed by /api/config, and
// the server keeps running stateful.
func TestReloadEnablesAuth(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "parley.yaml")
	base := "data_dir: " + data + "\n"
	if err := os.WriteFile(cfg, []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	addUser(t, data, "alice", "s3cret-pw")
	admin := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t, false)))
	p := startParley(t, "--config", cfg, "--data-dir", "", "--admin", admin)

	if got := sipStatus(t, p.Addr, registerRequest("alice", 1)); got != "200 OK" {
		t.Fatalf("before the reload: %q, want 200 OK", got)
	}
	p.reload(t, cfg, base+"auth:\n  enabled: true\n  algorithms: [MD5]\nmode: stateless\n", "configuration reloaded", 1)
	if got := sipStatus(t, p.Addr, registerRequest("alice", 2)); got != "401 Unauthorized" {
		t.Errorf("after adding auth.enabled: true and SIGHUP: %q, want 401 Unauthorized", got)
	}
	if code := runSipp(t, "-sf", scenario("register_auth.xml"), "-s", "alice",
		"-au", "alice", "-ap", "s3cret-pw", p.Addr); code != 0 {
		t.Errorf("sipp with the password after the reload: exit %d, want 0", code)
	}
	log, _ := os.ReadFile(p.logPath)
	if !regexp.MustCompile(`level=WARN msg="reload: key changed but takes effect only after a restart; keeping the running value" key=mode`).Match(log) {
		t.Errorf("no WARN line naming mode in the log")
	}
	code, body := httpGet(t, "http://"+admin+"/api/config")
	var st struct {
		PendingRestart []string `json:"pending_restart"`
		Reloads        int      `json:"reloads"`
	}
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil ||
		strings.Join(st.PendingRestart, ",") != "mode" || st.Reloads != 1 {
		t.Errorf("/api/config: %d %s, want pending_restart [mode] after 1 reload", code, body)
	}

	p.reload(t, cfg, base+"auth: {enabled: maybe}\n", "reload failed; keeping the running configuration", 1)
	if got := sipStatus(t, p.Addr, registerRequest("alice", 3)); got != "401 Unauthorized" {
		t.Errorf("after a broken file: %q, want the running 401 Unauthorized", got)
	}
}

// TestUserWritesWhereServeReads: "parley user add --config F" stores the
// subscriber where "parley serve --config F" reads it (data_dir of F, with
// no --data-dir on either command line), so the server challenges and
// accepts that user's password.
func TestUserWritesWhereServeReads(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	data := t.TempDir()
	cfg := writeConfig(t, "data_dir: "+data+"\ndomains: [example.com]\nauth:\n  enabled: true\n  algorithms: [MD5]\n")
	user := func(stdin string, args ...string) (string, string) {
		t.Helper()
		code, out, errs := runParleyInput(t, stdin, append([]string{"user"}, args...)...)
		if code != 0 {
			t.Fatalf("parley user %v: exit %d\n%s", args, code, errs)
		}
		return out, errs
	}
	if _, errs := user("", "list", "--config", cfg); !strings.Contains(errs, "no subscribers in sqlite "+filepath.Join(data, "parley.db")) {
		t.Errorf("list of an empty store said %q", errs)
	}
	user("s3cret-pw\n", "add", "--config", cfg, "--password-stdin", "alice@example.com")
	if _, errs := user("pw\n", "add", "--config", cfg, "--password-stdin", "bob@example.org"); !strings.Contains(errs, "example.org is not one of the domains") {
		t.Errorf("no warning for a domain the server does not serve: %q", errs)
	}
	p := startParley(t, "--config", cfg, "--data-dir", "")
	if code := runSipp(t, "-sf", scenario("register_auth.xml"), "-s", "alice",
		"-au", "alice", "-ap", "s3cret-pw", p.Addr); code != 0 {
		t.Errorf("alice, added with --config, registering: sipp exit %d, want 0", code)
	}
}

// TestStartupLine: one line says what runs.
func TestStartupLine(t *testing.T) {
	p := startParley(t)
	// Parley answers OPTIONS as soon as its listeners are up; the line
	// comes once everything else has started too.
	waitForText(p.logPath, `msg="parley started"`, 5*time.Second, nil)
	log, _ := os.ReadFile(p.logPath)
	want := regexp.MustCompile(`msg="parley started" mode=stateful domains=example.com auth=off storage="sqlite [^"]+/parley.db" ` +
		`listeners="udp:` + regexp.QuoteMeta(p.Addr) + ` tcp:` + regexp.QuoteMeta(p.Addr) + `" admin=127\.0\.0\.1:\d+`)
	if n := len(want.FindAll(log, -1)); n != 1 {
		t.Errorf("%d startup lines matching %s in:\n%s", n, want, log)
	}
}

// runParley runs the binary to its end (at most 10 s) and returns its
// exit status and output.
func runParley(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runParleyInput(t, "", args...)
}

// runParleyInput is runParley with stdin as standard input.
func runParleyInput(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("no parley binary: %v", buildErr)
	}
	cmd := exec.Command(parleyBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("parley %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// TestAdminPortTaken: the admin port in use stops the start with exit 1
// and an error naming the key and the flag that move it.
func TestAdminPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	sip := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t, false)))
	code, _, errs := runParley(t, "serve", "--listen", "udp:"+sip, "--data-dir", t.TempDir(), "--admin", taken.Addr().String())
	if code != 1 || !strings.Contains(errs, "parley: admin.listen "+taken.Addr().String()) ||
		!strings.Contains(errs, "address already in use") || !strings.Contains(errs, "--admin HOST:PORT") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and an error naming admin.listen, the cause and --admin", code, errs)
	}
}

// TestSIPPortTaken: a SIP port in use (another SIP server or a softphone
// on 5060, the first thing a new admin meets) stops the start with exit 1
// and an error that names the listener, the cause and how to move it, as
// the admin port's does.
func TestSIPPortTaken(t *testing.T) {
	port := freePort(t, false)
	taken, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	code, _, errs := runParley(t, "serve", "--listen", "udp:"+taken.LocalAddr().String(),
		"--data-dir", t.TempDir(), "--admin", "")
	if code != 1 || !strings.Contains(errs, "listen udp "+taken.LocalAddr().String()) ||
		!strings.Contains(errs, "address already in use") || !strings.Contains(errs, "--listen PROTO:HOST:PORT") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and an error naming the listener, the cause and --listen", code, errs)
	}
}

func TestServeHelp(t *testing.T) {
	code, out, errs := runParley(t, "serve", "--help")
	if code != 0 || !strings.Contains(out, "--listen PROTO:HOST:PORT") || !strings.Contains(out, "--admin HOST:PORT") || errs != "" {
		t.Errorf("serve --help: exit %d\nstdout %q\nstderr %q", code, out, errs)
	}
}

// TestVersion: the version names the commit the binary was built from.
func TestVersion(t *testing.T) {
	code, out, _ := runParley(t, "version")
	if code != 0 || !strings.HasPrefix(out, "parley ") || !strings.Contains(out, "built with go") {
		t.Fatalf("version: exit %d, %q", code, out)
	}
	if os.Getenv("PARLEY_BIN") != "" {
		return // built elsewhere, from whatever commit
	}
	git := func(args ...string) string {
		out, err := exec.Command("git", args...).Output()
		if err != nil {
			t.Skipf("git %v: %v (not a git checkout)", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	if git("rev-parse", "--absolute-git-dir") != git("rev-parse", "--path-format=absolute", "--git-common-dir") {
		// The go command looks for a .git directory; a worktree has a
		// .git file, so its builds carry no revision.
		if !strings.Contains(out, "revision unknown") {
			t.Errorf("version printed %q in a worktree, where go stamps no revision", out)
		}
		t.Skip("a git worktree: go stamps no VCS information, so there is no revision to compare")
	}
	if want := "revision " + git("rev-parse", "HEAD"); !strings.Contains(out, want) {
		t.Errorf("version printed %q, want %q", out, want)
	}
}
