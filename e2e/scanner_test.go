package e2e

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const sipviciousHint = "apt-get install -y sipvicious"

// sipvicious returns the path of a SIPVicious tool (svmap, svwar,
// svcrack): Debian's package installs them under their short names,
// pip's as sipvicious_svmap and so on.
func sipvicious(t *testing.T, tool string) string {
	t.Helper()
	for _, name := range []string{"sipvicious_" + tool, tool} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	requireTool(t, "sipvicious_"+tool, sipviciousHint)
	return ""
}

// scan runs a SIPVicious tool against parley's UDP port from a free local
// port (SIPVicious binds 5060 by default) and returns what it printed.
// It is bounded by a minute; SIPVicious's own exit status says little.
func scan(t *testing.T, p *parley, tool string, args ...string) string {
	t.Helper()
	path := sipvicious(t, tool)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append([]string{"-P", strconv.Itoa(freePort(t, false)), "-p", strconv.Itoa(p.Port)}, args...)
	cmd := exec.CommandContext(ctx, path, append(args, "127.0.0.1")...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // its session files
	out, _ := cmd.CombinedOutput()
	t.Logf("%s %s:\n%s", tool, strings.Join(args, " "), out)
	return string(out)
}

// passwords writes a dictionary with the right password at position 9.
func passwords(t *testing.T, right string) string {
	t.Helper()
	var list []string
	for i := range 12 {
		list = append(list, "wrong-guess-"+strconv.Itoa(i))
	}
	list = slices.Insert(list, 8, right)
	path := filepath.Join(t.TempDir(), "passwords.txt")
	if err := os.WriteFile(path, []byte(strings.Join(list, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestScannerDropped: with the default scanner filter, SIPVicious
// (User-Agent friendly-scanner) gets no answer to anything, so svmap
// finds nothing and svwar and svcrack give up.
func TestScannerDropped(t *testing.T) {
	data := t.TempDir()
	addUser(t, data, "105", "pw-105-secret")
	p := startParley(t, "--data-dir", data, "--config",
		writeConfig(t, "admin:\n  listen: \"\"\nauth:\n  enabled: true\n  algorithms: [MD5]\n"))
	for _, method := range []string{"OPTIONS", "INVITE", "REGISTER"} {
		if out := scan(t, p, "svmap", "-m", method); !strings.Contains(out, "found nothing") {
			t.Errorf("svmap -m %s found something", method)
		}
	}
	if out := scan(t, p, "svwar", "--domain", "example.com", "-e100-110"); extensionRow.MatchString(out) || strings.Contains(out, "Ok SIP device found") {
		t.Errorf("svwar got an answer")
	}
	if out := scan(t, p, "svcrack", "--domain", "example.com", "-u", "105", "-d", passwords(t, "pw-105-secret")); !strings.Contains(out, "no server response") {
		t.Errorf("svcrack got an answer")
	}
	if !strings.Contains(readFile(t, p.logPath), "dropped a scanner's request") {
		t.Errorf("parley's log shows no scanner request dropped")
	}
	if !answersFrom(t, p, "127.0.0.1") {
		t.Errorf("a phone on the scanner's address is no longer served")
	}
}

// scannerAuthConfig turns the scanner filter off, so that what shows is
// what authentication alone hides, with failures blocking after five.
const scannerAuthConfig = `admin:
  listen: ""
security:
  drop_user_agents: []
auth:
  enabled: true
  algorithms: [MD5]
  max_failures: %d
`

var extensionRow = regexp.MustCompile(`(?m)^\|\s*(\S+)\s*\|\s*(reqauth|noauth|weird)\s*\|`)

// TestScannerLearnsNothing: with the filter off and authentication on,
// svmap sees a SIP server but no product or version; svwar cannot tell
// the subscribers 105 and 110 from unknown extensions; every answer to
// an existing user equals the one to an unknown user.
func TestScannerLearnsNothing(t *testing.T) {
	data := t.TempDir()
	addUser(t, data, "105", "pw-105-secret")
	addUser(t, data, "110", "pw-110-secret")
	p := startParley(t, "--data-dir", data, "--config", writeConfig(t, strings.Replace(scannerAuthConfig, "%d", "5", 1)))
	if out := scan(t, p, "svmap", "-m", "INVITE"); strings.Contains(out, "127.0.0.1:"+strconv.Itoa(p.Port)) &&
		!regexp.MustCompile(`127\.0\.0\.1:\d+\s*\|\s*unknown\s*\|`).MatchString(out) {
		t.Errorf("svmap learnt a User-Agent")
	}
	for _, method := range []string{"REGISTER", "INVITE"} {
		out := scan(t, p, "svwar", "--force", "-m", method, "--domain", "example.com", "-e100-120")
		for _, m := range extensionRow.FindAllStringSubmatch(out, -1) {
			if m[1] == "105" || m[1] == "110" {
				t.Errorf("svwar -m %s found extension %s", method, m[1])
			}
		}
	}
	for _, method := range []string{"REGISTER", "INVITE", "MESSAGE"} {
		known, unknown := answer(t, p.Addr, method, "105"), answer(t, p.Addr, method, "nobody")
		if known != unknown {
			t.Errorf("%s: a subscriber gets\n%s\nan unknown user\n%s", method, known, unknown)
		}
	}
}

// TestScannerCrackBlocked: svcrack, guessing 105's password from a list
// that holds it ninth, is blocked after auth.max_failures (5) and never
// finds it: its address gets no answer to anything for auth.block_for,
// while other sources are still served. With a limit of 100 the same run
// finds the password, which shows the list and the tool work.
func TestScannerCrackBlocked(t *testing.T) {
	dict := passwords(t, "pw-105-secret")
	for _, tc := range []struct {
		maxFailures int
		cracked     bool
	}{{5, false}, {100, true}} {
		t.Run("max_failures="+strconv.Itoa(tc.maxFailures), func(t *testing.T) {
			data := t.TempDir()
			addUser(t, data, "105", "pw-105-secret")
			p := startParley(t, "--data-dir", data, "--config",
				writeConfig(t, strings.Replace(scannerAuthConfig, "%d", strconv.Itoa(tc.maxFailures), 1)))
			out := scan(t, p, "svcrack", "--maximumtime", "3", "--domain", "example.com", "-u", "105", "-d", dict)
			if got := strings.Contains(out, "pw-105-secret"); got != tc.cracked {
				t.Errorf("password found: %v, want %v", got, tc.cracked)
			}
			blocked := strings.Contains(readFile(t, p.logPath), `msg="source banned" source=127.0.0.1 reason="auth failures"`)
			if blocked == tc.cracked {
				t.Errorf("svcrack's address blocked: %v, want %v", blocked, !tc.cracked)
			}
			if answersFrom(t, p, "127.0.0.1") != tc.cracked {
				t.Errorf("svcrack's address 127.0.0.1 answered: %v, want %v", !tc.cracked, tc.cracked)
			}
			if !answersFrom(t, p, "127.0.0.4") {
				t.Errorf("another address is not served")
			}
		})
	}
}

// answer sends a request for user@example.com without credentials and
// returns its answer reduced to what could tell users apart: the status
// line and the header names in order (tags and nonces always differ).
func answer(t *testing.T, server, method, user string) string {
	t.Helper()
	ruri := "sip:" + user + "@example.com"
	if method == "REGISTER" {
		ruri = "sip:example.com"
	}
	return shape([]byte(finalAnswer(t, server, func(local string) string {
		return method + " " + ruri + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-enum-" + method + user + ";rport\r\n" +
			"Max-Forwards: 70\r\nFrom: <sip:" + user + "@example.com>;tag=e\r\nTo: <sip:" + user + "@example.com>\r\n" +
			"Call-ID: enum-" + method + "-" + user + "\r\nCSeq: 1 " + method + "\r\n" +
			"Contact: <sip:" + user + "@" + local + ">\r\nContent-Length: 0\r\n\r\n"
	})))
}

// shape is a response's status line and header names.
func shape(resp []byte) string {
	lines := strings.Split(string(resp), "\r\n")
	out := []string{lines[0]}
	for _, l := range lines[1:] {
		if name, _, ok := strings.Cut(l, ":"); ok {
			out = append(out, name)
		}
	}
	return strings.Join(out, "\n")
}

// answersFrom reports whether parley answers an OPTIONS sent from host
// within a second (three tries).
func answersFrom(t *testing.T, p *parley, host string) bool {
	t.Helper()
	c, err := net.ListenPacket("udp4", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst, _ := net.ResolveUDPAddr("udp4", p.Addr)
	buf := make([]byte, 65535)
	for try := 1; try <= 3; try++ {
		c.WriteTo(optionsProbe(c.LocalAddr().String(), p.Addr, try), dst)
		c.SetReadDeadline(time.Now().Add(350 * time.Millisecond))
		if n, _, err := c.ReadFrom(buf); err == nil && bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200")) {
			return true
		}
	}
	return false
}
