package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const linphoneHint = "apt-get install -y linphone-cli"

// linphone is a linphone-daemon process (Debian's linphone-cli) driven
// through its command socket: the daemon serves one client at a time on
// the Unix socket /tmp/NAME that --pipe NAME creates, and answers each
// command line with "Status: Ok" or "Status: Error" and its fields.
// (On stdin it would not run its SIP stack between commands.)
type linphone struct {
	name string
	port int // its SIP port (UDP), on every address: linphone cannot bind one

	t       *testing.T
	cmd     *exec.Cmd
	cancel  context.CancelFunc
	sock    string
	conn    net.Conn // to the daemon's socket, once the first command is sent
	logPath string
	exited  chan struct{}
}

// startLinphone starts linphone-daemon with a fresh home directory (its
// databases live there), SIP over UDP on a free port, TCP and TLS off, and
// at most 60 s of life.
func startLinphone(t *testing.T, name string) *linphone {
	t.Helper()
	return startLinphoneRC(t, name, "")
}

// startLinphoneRC is startLinphone with more linphonerc sections (an
// account, friends) after the [sip] and [rtp] ones.
func startLinphoneRC(t *testing.T, name, rcExtra string) *linphone {
	t.Helper()
	requireTool(t, "linphone-daemon", linphoneHint)
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".local", "share", "linphone"), 0o755); err != nil {
		t.Fatal(err)
	}
	l := &linphone{name: name, t: t, port: freePort(t, false), exited: make(chan struct{}),
		logPath: filepath.Join(home, "linphone.log")}
	rtp := freePort(t, true)
	rc := filepath.Join(home, "linphonerc")
	config := fmt.Sprintf("[sip]\nsip_port=%d\nsip_tcp_port=0\nsip_tls_port=0\n[rtp]\naudio_rtp_port=%d\n", l.port, rtp) + rcExtra
	if err := os.WriteFile(rc, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	pipe := fmt.Sprintf("parley-e2e-%d-%s-%d", os.Getpid(), name, l.port)
	l.sock = filepath.Join("/tmp", pipe)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	l.cancel = cancel
	l.cmd = exec.CommandContext(ctx, "linphone-daemon", "--config", rc, "--log", l.logPath, "--pipe", pipe, "--disable-stats-events")
	l.cmd.Env = append(os.Environ(), "HOME="+home)
	out, err := os.Create(filepath.Join(home, "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	l.cmd.Stdout, l.cmd.Stderr = out, out
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { l.cmd.Wait(); out.Close(); close(l.exited) }()
	t.Cleanup(l.cleanup)
	for deadline := time.Now().Add(phoneWait); ; {
		if _, err := os.Stat(l.sock); err == nil {
			break
		}
		if time.Now().After(deadline) || l.isExited() {
			t.Fatalf("%s: linphone-daemon made no socket %s", name, l.sock)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return l
}

// command sends one command line and returns the daemon's answer.
func (l *linphone) command(line string) string {
	l.t.Helper()
	resp, err := l.try(line)
	if err != nil {
		l.t.Fatalf("%s: %q: %v", l.name, line, err)
	}
	return resp
}

// try sends one command line and reads the answer until the daemon has
// been quiet for a moment after "Status:". One connection serves the whole
// test: the daemon refuses a second client while it has not yet noticed
// that the first one left.
func (l *linphone) try(line string) (string, error) {
	if l.conn == nil {
		conn, err := net.Dial("unix", l.sock)
		if err != nil {
			return "", err
		}
		l.conn = conn
	}
	if _, err := l.conn.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	var resp []byte
	buf := make([]byte, 8192)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		done := bytes.Contains(resp, []byte("Status:"))
		wait := time.Second
		if done {
			wait = 150 * time.Millisecond
		}
		l.conn.SetReadDeadline(time.Now().Add(wait))
		n, err := l.conn.Read(buf)
		resp = append(resp, buf[:n]...)
		var ne net.Error
		switch {
		case err == nil:
		case errors.As(err, &ne) && ne.Timeout():
			if done {
				return string(resp), nil
			}
		case bytes.Contains(resp, []byte("Status:")):
			return string(resp), nil
		default:
			return string(resp), err
		}
	}
	return string(resp), fmt.Errorf("no answer within 5s (got %q)", resp)
}

// waitFor repeats a command until its answer contains want, and returns it.
func (l *linphone) waitFor(line, want string, timeout time.Duration) string {
	l.t.Helper()
	var resp string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline) && !l.isExited(); {
		resp = l.command(line)
		if strings.Contains(resp, want) {
			return resp
		}
		time.Sleep(200 * time.Millisecond)
	}
	l.t.Fatalf("%s: %q never answered %q within %v; last answer:\n%s", l.name, line, want, timeout, resp)
	return ""
}

// field returns the value of "Name: value" in a daemon answer.
func field(resp, name string) string {
	for _, line := range strings.Split(resp, "\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (l *linphone) isExited() bool { return isClosed(l.exited) }

// cleanup asks the daemon to quit, kills it after 5 s, removes its socket
// and prints its log if the test failed.
func (l *linphone) cleanup() {
	if !l.isExited() {
		l.try("quit")
		select {
		case <-l.exited:
		case <-time.After(5 * time.Second):
			l.cancel()
			<-l.exited
		}
	}
	l.cancel()
	if l.conn != nil {
		l.conn.Close()
	}
	os.Remove(l.sock)
	if l.t.Failed() {
		l.t.Logf("%s: linphone log (%s), tail:\n%s", l.name, l.logPath, tail(l.logPath, 8000))
	}
}

// register registers identity through proxy as the daemon's "register"
// command does (identity, proxy, then password or NULL) and waits for 200.
func (l *linphone) register(identity, proxy, password string) {
	l.t.Helper()
	if password == "" {
		password = "NULL"
	}
	resp := l.command("register " + identity + " " + proxy + " " + password)
	id := field(resp, "Id")
	if id == "" {
		l.t.Fatalf("%s: register: %s", l.name, resp)
	}
	l.waitFor("register-status "+id, "LinphoneRegistrationOk", phoneWait)
}

// reRTPRate is the bandwidth line linphone logs every few seconds of a call.
var reRTPRate = regexp.MustCompile(`Stream #0 \(audio\) \| cpu: \S+ \| RTP : \[d=([0-9.]+),u=([0-9.]+)\]`)

// rtpRates returns the highest audio bit rates, down and up in kbit/s,
// that linphone logged. (Its call-stats command ends the daemon.)
func (l *linphone) rtpRates() (down, up float64) {
	b, _ := os.ReadFile(l.logPath)
	for _, m := range reRTPRate.FindAllStringSubmatch(string(b), -1) {
		d, _ := strconv.ParseFloat(m[1], 64)
		u, _ := strconv.ParseFloat(m[2], 64)
		down, up = max(down, d), max(up, u)
	}
	return down, up
}

// playInto plays a 10 s tone into the running call: without a sound card
// linphone would send no audio of its own.
func (l *linphone) playInto() {
	l.t.Helper()
	wav := filepath.Join(l.t.TempDir(), "tone.wav")
	if err := os.WriteFile(wav, toneWAV(10*time.Second), 0o644); err != nil {
		l.t.Fatal(err)
	}
	if resp := l.command("incall-player-start " + wav); !strings.Contains(resp, "Status: Ok") {
		l.t.Fatalf("%s: incall-player-start: %s", l.name, resp)
	}
}

// expectAudio fails the test unless linphone logged audio flowing both
// ways at a rate a G.711 call has (64 kbit/s of payload).
func (l *linphone) expectAudio() {
	l.t.Helper()
	if down, up := l.rtpRates(); down < 40 || up < 40 {
		l.t.Errorf("%s: audio at %.1f kbit/s down, %.1f up; want at least 40 each way", l.name, down, up)
	}
}

// TestLinphone: linphone-daemon registers at parley and calls a baresip
// phone, and the baresip phone calls it back; each call carries audio
// both ways and its BYE gets a 200. Both phones are set up as a stranger
// would: the server's address as domain, every domain served.
func TestLinphone(t *testing.T) {
	requireTool(t, "baresip", baresipHint)
	requireTool(t, "linphone-daemon", linphoneHint)
	t.Run("linphone calls baresip", func(t *testing.T) {
		p, bob, linda := linphoneAndBaresip(t, ";answermode=auto")
		linda.command("call sip:bob@" + p.Addr)
		bob.waitLog(reEstablished, phoneWait)
		linda.waitFor("call-status", "LinphoneCallStreamsRunning", phoneWait)
		linda.playInto()
		time.Sleep(4 * time.Second) // linphone logs its rates every few seconds
		linda.command("terminate")
		bob.waitLog(reTerminated, phoneWait)
		expectRTP(t, bob)
		linda.expectAudio()
		bob.quit()
		p.expectByeOK(t)
	})
	t.Run("baresip calls linphone", func(t *testing.T) {
		p, bob, linda := linphoneAndBaresip(t, "")
		bob.command(fmt.Sprintf("/dial sip:linda@%s;transport=udp", p.Addr))
		linda.waitFor("call-status", "LinphoneCallIncomingReceived", phoneWait)
		linda.command("answer")
		bob.waitLog(reEstablished, phoneWait)
		linda.waitFor("call-status", "LinphoneCallStreamsRunning", phoneWait)
		linda.playInto()
		time.Sleep(4 * time.Second)
		bob.command("/hangup")
		bob.waitLog(reTerminated, phoneWait)
		expectRTP(t, bob)
		linda.waitFor("call-status", "No current call", phoneWait)
		linda.expectAudio()
		bob.quit()
		p.expectByeOK(t)
	})
}

// linphoneAndBaresip starts parley serving every domain, with --trace, and
// registers a baresip phone bob (its account line ending in extra) and a
// linphone linda there, each with the server's address as its domain.
func linphoneAndBaresip(t *testing.T, extra string) (*parley, *softphone, *linphone) {
	t.Helper()
	p := startParleyServing(t, nil, "--trace")
	bob := startSoftphone(t, "bob", fmt.Sprintf("<sip:bob@%s;transport=udp>;regint=300", p.Addr)+extra)
	bob.waitLog(reRegistered, phoneWait)
	linda := startLinphone(t, "linda")
	linda.register("sip:linda@"+p.Addr, "sip:"+p.Addr+";transport=udp", "")
	return p, bob, linda
}

// TestLinphoneSHA256: with auth.algorithms [SHA-256, MD5], which the
// README offers for phones that take the first algorithm they support,
// linphone registers with its password and answers the SHA-256 challenge.
func TestLinphoneSHA256(t *testing.T) {
	requireTool(t, "linphone-daemon", linphoneHint)
	data := t.TempDir()
	addSubscriber(t, data, "linda@127.0.0.1", "linda-pw-3")
	cfg := writeConfig(t, "auth:\n  enabled: true\n  algorithms: [SHA-256, MD5]\n")
	p := startParleyServing(t, nil, "--data-dir", data, "--config", cfg, "--trace")
	linda := startLinphone(t, "linda")
	linda.register("sip:linda@"+p.Addr, "sip:"+p.Addr+";transport=udp", "linda-pw-3")
	p.expectTrace(t, reSHA256Register, "REGISTER with SHA-256 credentials")
}

// reSHA256Register is a REGISTER with SHA-256 credentials, received.
var reSHA256Register = regexp.MustCompile(`msg=recv .*"\\nREGISTER sip:.*\\r\\nAuthorization: +Digest (?:[^\\]|\\")*algorithm=SHA-256`)
