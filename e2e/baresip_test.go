package e2e

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const baresipHint = "apt-get install -y baresip"

// Lines baresip 1.0 logs, which the test waits for.
var (
	reRegistered  = regexp.MustCompile(`\{\d+/(UDP|TCP)/v4\} 200 OK`) // "bob@example.com: {0/UDP/v4} 200 OK () [1 binding]"
	reEstablished = regexp.MustCompile(`Call established: sip:`)
	reTerminated  = regexp.MustCompile(`Call with sip:\S+ terminated`)
	reRTPPackets  = regexp.MustCompile(`packets:\s+(\d+)\s+(\d+)`) // rtp_stats at hangup: transmit, receive
)

// TestBaresipCall: two real softphones register at parley as the README's
// domain set-up says (example.com, parley as outbound proxy), alice dials
// "bob", which baresip completes to sip:bob@example.com, bob answers by
// himself (answermode=auto), audio flows for 3 s, alice hangs up.
func TestBaresipCall(t *testing.T) {
	requireTool(t, "baresip", baresipHint)
	p := startParley(t)
	outbound := fmt.Sprintf(`;outbound="sip:%s;transport=udp";regint=300`, p.Addr)
	bob := startSoftphone(t, "bob", "<sip:bob@example.com>"+outbound+";answermode=auto")
	alice := startSoftphone(t, "alice", "<sip:alice@example.com>"+outbound)
	bob.waitLog(reRegistered, phoneWait)
	alice.waitLog(reRegistered, phoneWait)
	softphoneCall(t, alice, bob, "bob")
}

// TestBaresipWithoutProxy checks the softphone set-up and driving without
// parley: alice calls bob's own address, nobody registers.
func TestBaresipWithoutProxy(t *testing.T) {
	requireTool(t, "baresip", baresipHint)
	bob := startSoftphone(t, "bob", "<sip:bob@127.0.0.1>;regint=0;answermode=auto")
	alice := startSoftphone(t, "alice", "<sip:alice@127.0.0.1>;regint=0")
	softphoneCall(t, alice, bob, "sip:bob@"+bob.addr)
}

// softphoneCall has caller dial target and callee answer, lets audio flow for
// 3 s and hangs up; it checks that both saw the call established and ended,
// that both received RTP, and that both quit cleanly.
func softphoneCall(t *testing.T, caller, callee *softphone, target string) {
	t.Helper()
	caller.command("/dial " + target)
	caller.waitLog(reEstablished, phoneWait)
	callee.waitLog(reEstablished, phoneWait)
	time.Sleep(3 * time.Second)
	caller.command("/hangup")
	for _, s := range []*softphone{caller, callee} {
		s.waitLog(reTerminated, phoneWait)
		expectRTP(t, s)
	}
	caller.quit()
	callee.quit()
}

// expectRTP waits for the RTP statistics baresip logs when a call ends and
// checks that the phone received audio for most of 3 s.
func expectRTP(t *testing.T, s *softphone) {
	t.Helper()
	stats := s.waitLog(reRTPPackets, phoneWait)
	if received, _ := strconv.Atoi(stats[2]); received < 50 { // 3 s of 20 ms packets is 150
		t.Errorf("%s received %d RTP packets, want at least 50 (%s)", s.name, received, stats[0])
	}
}

// phoneWait is how long a test waits for a phone (baresip, linphone, or
// a sipp playing one) to log what it did (its registration's 200, a call
// established or ended, a message): an upper bound, paid only when the
// phone fails to; a sipp that ends first ends the wait. CI's machine, running other
// packages under the race detector meanwhile, has been seen to take over
// 10 s for a line that a quiet one logs within a second.
const phoneWait = 30 * time.Second

// phoneLife bounds a baresip's life (-t): room for several waits of
// phoneWait, as a test quits its phones itself.
const phoneLife = 120 * time.Second

// softphone is a baresip process driven through its stdin (the stdio module
// reads commands such as "/dial sip:..." from a pipe).
type softphone struct {
	name string
	addr string // 127.0.0.1:port it listens on for SIP (baresip also takes port+1 for TLS)

	t       *testing.T
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	logPath string
	exited  chan struct{}
	waitErr error
}

// startSoftphone writes a config and an accounts file (one account line) into
// a fresh config dir and starts baresip on it: SIP on a free loopback port,
// no sound card (audio from a generated WAV file via aufile, played into an
// aubridge device), DNS pointed at loopback, at most phoneLife (-t).
// extra lines are added to the config (sip_cafile ...).
func startSoftphone(t *testing.T, name, account string, extra ...string) *softphone {
	t.Helper()
	return startSoftphoneIn(t, t.TempDir(), name, account, extra...)
}

// startSoftphoneIn is startSoftphone with the config dir given, so that
// a test may put more files there first (contacts).
func startSoftphoneIn(t *testing.T, dir, name, account string, extra ...string) *softphone {
	t.Helper()
	return startSoftphoneFor(t, dir, name, account, phoneLife, extra...)
}

// startSoftphoneFor is startSoftphoneIn with the phone's life given; a
// "dns_server" line among extra replaces the default one.
func startSoftphoneFor(t *testing.T, dir, name, account string, life time.Duration, extra ...string) *softphone {
	t.Helper()
	dns := "dns_server 127.0.0.1:53"
	for _, l := range extra {
		if strings.HasPrefix(l, "dns_server ") {
			dns = ""
		}
	}
	modules := baresipModulePath(t)
	wav := filepath.Join(dir, "tone.wav")
	if err := os.WriteFile(wav, toneWAV(10*time.Second), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &softphone{name: name, t: t, exited: make(chan struct{}), logPath: filepath.Join(dir, "baresip.log")}
	s.addr = "127.0.0.1:" + strconv.Itoa(freePort(t, true))
	config := strings.Join([]string{
		"poll_method epoll",
		"sip_listen " + s.addr,
		"net_interface 127.0.0.1",
		dns,
		"audio_source aufile," + wav,
		"audio_player aubridge," + name,
		"audio_alert aubridge," + name,
		"rtp_stats yes",
		"module_path " + modules,
		"module stdio.so",
		"module g711.so",
		"module aufile.so",
		"module aubridge.so",
		"module_app account.so",
		"module_app menu.so",
	}, "\n") + "\n" + strings.Join(extra, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(account+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command("baresip", "-f", dir, "-t", strconv.Itoa(int(life.Seconds())), "-v", "-s")
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.waitErr = s.cmd.Wait(); logFile.Close(); close(s.exited) }()
	t.Cleanup(s.cleanup)
	return s
}

// baresipModulePath finds the Debian package's module directory.
func baresipModulePath(t *testing.T) string {
	t.Helper()
	for _, dir := range []string{"/usr/lib/baresip/modules", "/usr/lib/x86_64-linux-gnu/baresip/modules", "/usr/local/lib/baresip/modules"} {
		if _, err := os.Stat(filepath.Join(dir, "aufile.so")); err == nil {
			return dir
		}
	}
	t.Fatal("baresip modules (aufile.so) not found")
	return ""
}

// command types a command line into baresip, e.g. "/dial bob".
func (s *softphone) command(line string) {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, line+"\n"); err != nil {
		s.t.Fatalf("%s: %q: %v", s.name, line, err)
	}
}

// waitLog waits until baresip's output matches re and returns the submatches.
func (s *softphone) waitLog(re *regexp.Regexp, timeout time.Duration) []string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(s.logPath)
		if m := re.FindStringSubmatch(string(b)); m != nil {
			return m
		}
		select {
		case <-s.exited:
			s.t.Fatalf("%s: baresip exited (%v) before logging %q", s.name, s.waitErr, re)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: baresip logged no %q within %v", s.name, re, timeout)
		}
	}
}

// quit asks baresip to quit (it unregisters first) and waits up to
// phoneWait for it.
func (s *softphone) quit() {
	s.t.Helper()
	s.command("/quit")
	select {
	case <-s.exited:
		if s.waitErr != nil {
			s.t.Errorf("%s: baresip exited with %v after /quit", s.name, s.waitErr)
		}
	case <-time.After(phoneWait):
		s.t.Errorf("%s: baresip did not quit within %v", s.name, phoneWait)
	}
}

// cleanup kills baresip if it still runs and prints its log if the test failed.
func (s *softphone) cleanup() {
	select {
	case <-s.exited:
	default:
		s.cmd.Process.Kill()
		<-s.exited
	}
	if s.t.Failed() {
		s.t.Logf("%s: baresip log (%s), tail:\n%s", s.name, s.logPath, tail(s.logPath, 10000))
	}
}

// toneWAV returns a WAV file (8 kHz, mono, 16 bit PCM) holding a 440 Hz tone.
func toneWAV(d time.Duration) []byte {
	const rate = 8000
	n := int(d.Seconds() * rate)
	b := make([]byte, 44+2*n)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)     // fmt chunk size
	binary.LittleEndian.PutUint16(b[20:], 1)      // PCM
	binary.LittleEndian.PutUint16(b[22:], 1)      // channels
	binary.LittleEndian.PutUint32(b[24:], rate)   // sample rate
	binary.LittleEndian.PutUint32(b[28:], rate*2) // byte rate
	binary.LittleEndian.PutUint16(b[32:], 2)      // block align
	binary.LittleEndian.PutUint16(b[34:], 16)     // bits per sample
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	for i := range n {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/rate))
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(v))
	}
	return b
}
