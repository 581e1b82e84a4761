package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// reDelivered is how baresip logs a MESSAGE it received: `sip:FROM: "TEXT"`.
var reDelivered = regexp.MustCompile(`sip:alice@example\.com: "note 3`)

// TestOfflineMessages: alice (sipp) writes three MESSAGEs to bob, who
// has no phone registered: parley stores them (202). Bob's mailbox
// (messages.max_count 3) is then full: a fourth gets 480, and one over
// messages.max_size 413. Parley is killed and started again on the same
// data; bob's baresip registers and shows the three notes, in order,
// each once.
func TestOfflineMessages(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	requireTool(t, "baresip", baresipHint)
	data := t.TempDir()
	addUser(t, data, "bob", "bobs-password") // only a subscriber's messages are kept
	cfg := writeConfig(t, "messages:\n  max_size: 200\n  max_count: 3\n  max_bytes: 4096\n")
	p := startParley(t, "--config", cfg, "--data-dir", data)

	if code := runSipp(t, "-sf", scenario("message_offline.xml"), "-m", "3", "-l", "1", p.Addr); code != 0 {
		t.Fatalf("storing three messages: sipp exited %d, want 0 (three 202s)", code)
	}
	refused := func(words, want string) {
		t.Helper()
		s := startSipp(t, "-sf", scenario("message_refused.xml"), "-key", "words", words, p.Addr)
		s.ExpectSuccess()
		if b, _ := os.ReadFile(s.file("messages")); !strings.Contains(string(b), want) {
			t.Errorf("sipp's trace has no %q", want)
		}
	}
	refused("x", "SIP/2.0 480 Mailbox Full (limit 3 messages)")
	refused(strings.Repeat("x", 200), "SIP/2.0 413 Message Too Large To Store (max 200 bytes)")

	p.kill(t) // what is stored must survive a crash, not only a clean stop
	p = startParley(t, "--config", cfg, "--data-dir", data)
	outbound := fmt.Sprintf(`;outbound="sip:%s;transport=udp";regint=300`, p.Addr)
	bob := startSoftphone(t, "bob", "<sip:bob@example.com>"+outbound)
	bob.waitLog(reRegistered, phoneWait)
	bob.waitLog(reDelivered, phoneWait)
	time.Sleep(time.Second) // room for a duplicate to show
	log, _ := os.ReadFile(bob.logPath)
	last := -1
	for i := 1; i <= 3; i++ {
		note := fmt.Sprintf(`sip:alice@example.com: "note %d`, i)
		if n := strings.Count(string(log), note); n != 1 {
			t.Errorf("bob saw %q %d times, want once", note, n)
		}
		at := strings.Index(string(log), note)
		if at < last {
			t.Errorf("note %d arrived before note %d", i, i-1)
		}
		last = at
	}
	bob.quit()

	// Registering again brings nothing: each message was delivered once.
	again := startSoftphone(t, "bob-again", "<sip:bob@example.com>"+outbound)
	again.waitLog(reRegistered, phoneWait)
	time.Sleep(2 * time.Second)
	if b, _ := os.ReadFile(again.logPath); strings.Contains(string(b), `sip:alice@example.com: "note`) {
		t.Error("bob's second registration got the notes again")
	}
	again.quit()
}

// TestConsoleMessages: a MESSAGE stored for an offline user shows in the
// web console's "Waiting messages" view, with its recipient, sender and
// text (storage.engine memory: no subscriber database, so any user of
// example.com).
func TestConsoleMessages(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	requireConsoleTools(t)
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
	cfg := writeConfig(t, "storage:\n  engine: memory\n")
	p := startParley(t, "--config", cfg, "--admin", admin)
	if code := runSipp(t, "-sf", scenario("message_offline.xml"), p.Addr); code != 0 {
		t.Fatalf("storing a message: sipp exited %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 70*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "messages.mjs", "http://"+admin+"/")
	cmd.Dir = consoleDir()
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath())
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("messages.mjs: %v\n%s", err, stderr)
	}
	var got struct {
		Rows   []string `json:"rows"`
		Count  string   `json:"count"`
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("messages.mjs printed %q: %v", out, err)
	}
	if len(got.Rows) != 1 || got.Count != "1" || len(got.Errors) > 0 {
		t.Fatalf("console shows %q (count %q), page errors %q; want one row", got.Rows, got.Count, got.Errors)
	}
	for _, want := range []string{"bob@example.com", "sip:alice@example.com", "text/plain", "note 1"} {
		if !strings.Contains(got.Rows[0], want) {
			t.Errorf("row %q lacks %q", got.Rows[0], want)
		}
	}
}

// TestOnlineMessageForks: bob has two baresip phones registered; alice's
// MESSAGE (sipp) reaches both, and alice gets 200 OK.
func TestOnlineMessageForks(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	requireTool(t, "baresip", baresipHint)
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
	p := startParley(t, "--admin", admin)
	outbound := fmt.Sprintf(`;outbound="sip:%s;transport=udp";regint=300`, p.Addr)
	desk := startSoftphone(t, "bob-desk", "<sip:bob@example.com>"+outbound)
	mobile := startSoftphone(t, "bob-mobile", "<sip:bob@example.com>"+outbound)
	// The registrar's own count, not a phone's "[2 bindings]": the phones
	// start together, and the one that registers first logs one binding.
	waitBindings(t, "http://"+admin, "bob@example.com", 2, 30*time.Second)
	if code := runSipp(t, "-sf", scenario("message_online.xml"), p.Addr); code != 0 {
		t.Fatalf("sipp exited %d, want 0 (200 OK)", code)
	}
	for _, phone := range []*softphone{desk, mobile} {
		phone.waitLog(regexp.MustCompile(`sip:alice@example\.com: "note 1`), phoneWait)
		phone.quit()
	}
}

// waitBindings waits up to timeout until the registrar behind the admin
// API at base holds want live bindings of aor (or more).
func waitBindings(t *testing.T, base, aor string, want int, timeout time.Duration) {
	t.Helper()
	var body string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var code int
		code, body = httpGet(t, base+"/api/registrations?aor="+url.QueryEscape(aor))
		var v struct{ Registrations []json.RawMessage }
		if code == 200 && json.Unmarshal([]byte(body), &v) == nil && len(v.Registrations) >= want {
			return
		}
	}
	t.Fatalf("%s has not %d bindings after %v: %s", aor, want, timeout, body)
}

// TestWatcherLists: the lists `parley watchers` writes are what the
// running server's admin API reads, and the other way round (one
// database, two processes).
func TestWatcherLists(t *testing.T) {
	data := t.TempDir()
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
	startParley(t, "--data-dir", data, "--admin", admin)
	cli := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(parleyBin, append([]string{"watchers"}, append(args, "--data-dir", data)...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("parley watchers %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	cli("block", "bob@example.com", "example.net")
	if code, body := httpGet(t, "http://"+admin+"/api/watchers?user=bob@example.com"); code != 200 ||
		!strings.Contains(body, `"watcher":"example.net","list":"block"`) {
		t.Errorf("/api/watchers after parley watchers block: %d %s", code, body)
	}
	req, _ := http.NewRequest("PUT", "http://"+admin+"/api/watchers?user=bob@example.com&watcher=carol@example.net&list=allow", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT /api/watchers: %d", resp.StatusCode)
	}
	if out := cli("list", "bob@example.com"); out != "bob@example.com\tallow\tcarol@example.net\nbob@example.com\tblock\texample.net\n" {
		t.Errorf("parley watchers list after the API's PUT:\n%s", out)
	}
}

// TestOfflineMessageOverTCP: a stored message too large for UDP (over
// 1300 bytes with its headers) is delivered over TCP, which baresip
// listens on beside UDP, although the phone registered over UDP (the
// 1300-byte rule of RFC 3261 §18.1.1, as for any request).
func TestOfflineMessageOverTCP(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	requireTool(t, "baresip", baresipHint)
	data := t.TempDir()
	addUser(t, data, "bob", "bobs-password")
	p := startParley(t, "--data-dir", data, "--trace")
	words := strings.Repeat("word ", 300) + "end"
	if code := runSipp(t, "-sf", scenario("message_long.xml"), "-key", "words", words, p.Addr); code != 0 {
		t.Fatalf("storing a long message: sipp exited %d, want 0 (202)", code)
	}
	outbound := fmt.Sprintf(`;outbound="sip:%s;transport=udp";regint=300`, p.Addr)
	bob := startSoftphone(t, "bob", "<sip:bob@example.com>"+outbound)
	bob.waitLog(reRegistered, phoneWait)
	// baresip logs no line for a message this long; its 200 over TCP,
	// and parley's deletion after it, show the phone took it.
	if !waitForText(p.logPath, `msg="message delivered" user=bob@example.com`, 10*time.Second, nil) {
		t.Fatal("parley logged no delivery")
	}
	p.expectTrace(t, regexp.MustCompile(`msg=send proto=tcp to=127\.0\.0\.1:\d+ msg="\\nMESSAGE sip:bob[^"]*Content-Length: 1510\\r\\n\\r\\nlong word`), "the MESSAGE sent over TCP")
	p.expectTrace(t, regexp.MustCompile(`msg=recv proto=tcp from=127\.0\.0\.1:\d+ msg="\\nSIP/2\.0 200 OK[^"]*CSeq: 1 MESSAGE`), "the phone's 200 over TCP")
	bob.quit()
}
