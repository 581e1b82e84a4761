package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// webPhoneServer starts parley for web phones: a wss listener beside UDP
// and TCP, digest authentication on, alice and bob as subscribers, and
// the admin console (which serves the web phone) on a known port. It
// returns parley, the console's phone page and the wss URL.
// users are more user, password pairs to add; args more arguments of
// parley serve.
func webPhoneServer(t *testing.T, args []string, users ...string) (p *parley, phone, wss string) {
	t.Helper()
	return webPhoneServerWith(t, "", args, users...)
}

// webPhoneServerWith is webPhoneServer with more lines of configuration.
func webPhoneServerWith(t *testing.T, yaml string, args []string, users ...string) (p *parley, phone, wss string) {
	t.Helper()
	data := t.TempDir()
	users = append([]string{"alice", "alice-pw-1", "bob", "bob-pw-22"}, users...)
	for i := 0; i+1 < len(users); i += 2 {
		addUser(t, data, users[i], users[i+1])
	}
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
	wssAddr := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
	cfg := writeConfig(t, "auth:\n  enabled: true\nadmin:\n  listen: "+admin+"\n"+yaml)
	p = startParley(t, append([]string{"--config", cfg, "--data-dir", data, "--listen", "wss:" + wssAddr}, args...)...)
	return p, "http://" + admin + "/phone.html", "wss://" + wssAddr
}

// startWebPhones runs webphone.mjs with cfg (see its header).
func startWebPhones(t *testing.T, cfg map[string]any) *browser {
	t.Helper()
	if _, err := os.Stat(filepath.Join(consoleDir(), "node_modules", "sip.js")); err != nil {
		msg := "e2e/console/node_modules/sip.js not found; install with: " + consoleHint
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	b := &browser{t: t, steps: make(chan map[string]any, 16), cancel: cancel, exited: make(chan struct{})}
	b.cmd = exec.CommandContext(ctx, "node", "webphone.mjs")
	b.cmd.Dir = consoleDir()
	b.cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath(), "WEBPHONE="+string(js))
	b.cmd.Stderr = &b.stderr
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go b.read(out)
	t.Cleanup(b.stop)
	return b
}

// TestWebPhoneBrowsers: the console's web phone (JsSIP) signs in as alice
// and a SIP.js page as bob, both over WSS with digest credentials, in
// Chromium with fake audio devices. alice calls bob; the call connects,
// getStats shows RTP bytes received on both sides (WebRTC media flows
// peer to peer on loopback), and alice hangs up. Then bob calls alice,
// who answers with the page's button, and bob hangs up. Stateful and
// stateless: the stateless proxy finds the browsers' connections from
// Via received and rport and from the alias of their answers.
func TestWebPhoneBrowsers(t *testing.T) {
	requireConsoleTools(t)
	for _, mode := range []string{"stateful", "stateless"} {
		t.Run(mode, func(t *testing.T) {
			p, phone, wss := webPhoneServer(t, []string{"--mode", mode})
			shot := filepath.Join(t.TempDir(), "webphone.png")
			b := startWebPhones(t, map[string]any{
				"mode": "browsers", "phone": phone, "wss": wss, "shot": shot,
				"alice": map[string]string{"user": "alice@example.com", "password": "alice-pw-1"},
				"bob":   map[string]string{"user": "bob@example.com", "password": "bob-pw-22"},
			})
			b.expect("alice-registered", 60*time.Second)
			b.expect("bob-registered", 20*time.Second)
			b.expect("out-established", 30*time.Second)
			checkMedia(t, "alice calls bob", b.expect("out-media", 30*time.Second))
			keepScreenshotAs(t, shot, "webphone-"+mode+".png")
			ended := b.expect("out-ended", 20*time.Second)
			if text, _ := ended["alice"].(string); !strings.Contains(text, "Call ended by local") {
				t.Errorf("alice's page after her hang-up: %q", text)
			}
			b.expect("in-ringing", 20*time.Second)
			checkMedia(t, "bob calls alice", b.expect("in-media", 30*time.Second))
			res := b.expect("in-ended", 20*time.Second)
			if text, _ := res["alice"].(string); !strings.Contains(text, "Call ended by remote") {
				t.Errorf("alice's page after bob's hang-up: %q", text)
			}
			if errs, _ := res["errors"].([]any); len(errs) > 0 {
				t.Errorf("page errors: %v", errs)
			}
			log, _ := os.ReadFile(p.logPath)
			if !strings.Contains(string(log), "proto=wss") {
				t.Error("parley's log shows no wss connection")
			}
		})
	}
}

// checkMedia checks that both sides of a call received RTP.
func checkMedia(t *testing.T, call string, step map[string]any) {
	t.Helper()
	for _, side := range []string{"alice", "bob"} {
		m, _ := step[side].(map[string]any)
		received, _ := m["received"].(float64)
		sent, _ := m["sent"].(float64)
		t.Logf("%s: %s sent %.0f and received %.0f bytes of RTP", call, side, sent, received)
		if received < 4000 {
			t.Errorf("%s: %s received %.0f bytes of RTP, want over 4000", call, side, received)
		}
	}
}

// TestWebPhoneOriginRefused: with websocket.allowed_origins set to
// another site, the console's web phone is refused (403, which a page
// cannot read) and says to check, among the URL and the certificate, that
// its own origin is in allowed_origins; JsSIP's retries do not hide it.
func TestWebPhoneOriginRefused(t *testing.T) {
	requireConsoleTools(t)
	_, phone, wss := webPhoneServerWith(t, "websocket:\n  allowed_origins: [https://phone.example.com]\n", nil)
	b := startWebPhones(t, map[string]any{
		"mode": "refused", "phone": phone, "wss": wss,
		"alice": map[string]string{"user": "alice@example.com", "password": "alice-pw-1"},
	})
	res := b.expect("result", 60*time.Second)
	text, _ := res["text"].(string)
	origin, _ := res["origin"].(string)
	if res["state"] == "registered" {
		t.Fatalf("the web phone registered from %s although allowed_origins lists only https://phone.example.com", origin)
	}
	if !strings.Contains(text, "websocket.allowed_origins") || !strings.Contains(text, origin) {
		t.Errorf("the web phone says %q: nothing of its origin %s and websocket.allowed_origins", text, origin)
	}
}

// reDoubleRR is the pair of Record-Route entries parley puts in a request
// that crosses from WSS to UDP or TCP (RFC 5658), as baresip logs it.
var reDoubleRR = regexp.MustCompile(`Record-Route: <sip:[^>]*;transport=(tcp|udp)?;?r2=on;lr>\s+Record-Route: <sip:[^>]*;transport=ws;r2=on;lr>`)

// TestWebPhoneCallsBaresip: the console's web phone (WSS) calls carol, a
// baresip phone registered over UDP that answers by itself. The INVITE
// crosses from WSS to UDP, or TCP for its size (§18.1.1), with Record-Route
// doubled; baresip (with its ICE and DTLS-SRTP modules, which let it take
// a browser's offer) answers 200, the ACK and the browser's BYE reach it
// through parley. Whether media flows is not asked: Chromium refuses the
// answer of a phone that is no WebRTC endpoint (no BUNDLE, no rtcp-mux),
// so a browser and a plain RTP phone need a media gateway between them.
func TestWebPhoneCallsBaresip(t *testing.T) {
	requireConsoleTools(t)
	requireTool(t, "baresip", baresipHint)
	p, phone, wss := webPhoneServer(t, nil, "carol", "carol-pw-3")
	account := `<sip:carol@example.com>;outbound="sip:` + p.Addr + `;transport=udp";regint=300;auth_pass=carol-pw-3;` +
		`answermode=auto;medianat=ice;mediaenc=dtls_srtp`
	// Chromium alone may take 30 s to start and register on a loaded
	// machine: carol must outlive that, or the web phone gets 480.
	carol := startSoftphoneFor(t, t.TempDir(), "carol", account, 120*time.Second, "module ice.so", "module dtls_srtp.so")
	carol.waitLog(reRegistered, phoneWait)
	b := startWebPhones(t, map[string]any{
		"mode": "phone", "phone": phone, "wss": wss, "target": "carol@example.com", "holdMs": 1000,
		"alice": map[string]string{"user": "alice@example.com", "password": "alice-pw-1"},
	})
	b.expect("alice-registered", 60*time.Second)
	res := b.expect("result", 40*time.Second)
	text, _ := res["text"].(string)
	t.Logf("web phone: %v (%s)", res["state"], text)
	carol.waitLog(regexp.MustCompile(`Call established: sip:alice@example.com`), phoneWait)
	carol.waitLog(reDoubleRR, time.Second)
	carol.waitLog(regexp.MustCompile(`BYE sip:carol-\S+ SIP/2.0`), phoneWait)
	if res["state"] != "established" && !strings.Contains(text, "(200)") {
		t.Errorf("the browser did not get baresip's 200: %s", text)
	}
	if res["state"] != "established" && !strings.Contains(text, "media gateway") {
		t.Errorf("the web phone does not say a media gateway is missing: %s", text)
	}
}
