package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

const consoleHint = "apt-get install -y chromium nodejs npm && (cd e2e/console && npm ci)"

// consoleDir is e2e/console, where the browser driver and its node_modules live.
func consoleDir() string { return filepath.Join(filepath.Dir(scenarioDir), "console") }

// chromiumPath is the browser the console test drives.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// requireConsoleTools skips the test without Chromium, node or the driver's
// node modules, or fails it under CI=true, like requireTool.
func requireConsoleTools(t *testing.T) {
	t.Helper()
	requireTool(t, "node", consoleHint)
	var missing []string
	if _, err := os.Stat(chromiumPath()); err != nil {
		missing = append(missing, chromiumPath())
	}
	if _, err := os.Stat(filepath.Join(consoleDir(), "node_modules", "playwright-core")); err != nil {
		missing = append(missing, "e2e/console/node_modules/playwright-core")
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("%s not found; install with: %s", strings.Join(missing, " and "), consoleHint)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// browser is console.mjs running: headless Chromium on the console.
type browser struct {
	t      *testing.T
	cmd    *exec.Cmd
	steps  chan map[string]any
	stderr bytes.Buffer
	cancel context.CancelFunc
	exited chan struct{}
}

// startBrowser runs console.mjs against url, saving its screenshot at shot.
// It is killed after 2 minutes or at the end of the test.
func startBrowser(t *testing.T, url, shot string) *browser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	b := &browser{t: t, steps: make(chan map[string]any, 8), cancel: cancel, exited: make(chan struct{})}
	b.cmd = exec.CommandContext(ctx, "node", "console.mjs", url, shot)
	b.cmd.Dir = consoleDir()
	b.cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath())
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

func (b *browser) read(out io.Reader) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var step map[string]any
		if json.Unmarshal(sc.Bytes(), &step) == nil {
			b.steps <- step
		}
	}
	b.cmd.Wait()
	close(b.exited)
	close(b.steps)
}

// expect waits for the named step and returns it.
func (b *browser) expect(name string, timeout time.Duration) map[string]any {
	b.t.Helper()
	select {
	case step, ok := <-b.steps:
		if !ok {
			b.t.Fatalf("browser exited before step %q: %s", name, b.stderr.String())
		}
		if step["step"] != name {
			b.t.Fatalf("browser step %v, want %q", step["step"], name)
		}
		return step
	case <-time.After(timeout):
		b.t.Fatalf("browser: no step %q within %v: %s", name, timeout, b.stderr.String())
	}
	return nil
}

func (b *browser) stop() {
	b.cancel()
	<-b.exited
	if b.t.Failed() && b.stderr.Len() > 0 {
		b.t.Logf("console.mjs stderr:\n%s", b.stderr.String())
	}
}

// TestConsole opens the web console in headless Chromium while bob
// registers and alice calls him through parley (over TCP, so that no
// retransmission can blur the counts): the registration must appear live,
// the call must appear and end live, and its ladder must show the whole
// call, INVITE to BYE. bob expects two calls and stays registered until
// the second, which keeps his row in the screenshot. Then /metrics must
// count exactly what sipp sent. See console/README.md.
func TestConsole(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	requireConsoleTools(t)
	base := "http://127.0.0.1:" + strconv.Itoa(freePort(t, false))
	cfg := writeConfig(t, "cdr:\n  enabled: true\n") // the console's call records
	p := startParley(t, "--config", cfg, "--admin", strings.TrimPrefix(base, "http://"))
	if code, body := httpGet(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}

	shot := filepath.Join(t.TempDir(), "console.png")
	b := startBrowser(t, base+"/", shot)
	b.expect("loaded", 60*time.Second)
	bob := startSipp(t, "-t", "t1", "-sf", filepath.Join(consoleDir(), "uas_register_hold.xml"), "-oocsf", scenario("uas_answer.xml"),
		"-s", "bob", "-set", "calls", "2", "-timeout", "28s", p.Addr)
	bob.WaitLog("registered", phoneWait)
	// bob waits 25 s for his calls: the steps until the second call must
	// fit, which the logs below show they do.
	registered := time.Now()
	reg := b.expect("registration", 20*time.Second)
	t.Logf("registration shown after %v", time.Since(registered).Round(time.Millisecond))
	if text, _ := reg["text"].(string); !strings.Contains(text, "sip:bob@127.0.0.1:"+strconv.Itoa(bob.Port)) {
		t.Errorf("registration row %q lacks bob's contact", text)
	}
	startSipp(t, "-t", "t1", "-sf", scenario("uac_call.xml"), "-s", "bob", p.Addr).ExpectSuccess()
	t.Logf("first call done after %v", time.Since(registered).Round(time.Millisecond))
	checkConsoleResult(t, b.expect("result", 30*time.Second))
	keepScreenshot(t, shot)

	t.Logf("browser done %v after bob registered", time.Since(registered).Round(time.Millisecond))
	startSipp(t, "-t", "t1", "-sf", scenario("uac_call.xml"), "-s", "bob", p.Addr).ExpectSuccess()
	bob.ExpectSuccess()
	checkMetrics(t, base)
}

// checkConsoleResult checks what the browser saw of the ended call.
func checkConsoleResult(t *testing.T, res map[string]any) {
	t.Helper()
	strs := func(key string) []string {
		var out []string
		for _, v := range res[key].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	labels, nodes, errs := strs("labels"), strs("nodes"), res["errors"].([]any)
	want := map[string]int{"INVITE": 2, "100 Trying (INVITE)": 1, "180 Ringing (INVITE)": 2, "200 OK (INVITE)": 2,
		"ACK": 2, "BYE": 2, "200 OK (BYE)": 2}
	got := map[string]int{}
	for _, l := range labels {
		got[l]++
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ladder arrows %q\ncount %v, want %v", labels, got, want)
	}
	order := []string{"INVITE", "180 Ringing (INVITE)", "200 OK (INVITE)", "ACK", "BYE", "200 OK (BYE)"}
	for i, prev := 1, slices.Index(labels, order[0]); i < len(order); i++ {
		next := slices.Index(labels, order[i])
		if next < prev {
			t.Errorf("ladder arrows out of order: %q before %q in %q", order[i], order[i-1], labels)
		}
		prev = next
	}
	if len(nodes) != 3 || nodes[1] != "Parley" {
		t.Errorf("ladder lifelines %q, want caller, Parley, callee", nodes)
	}
	if text, _ := res["text"].(string); !strings.Contains(text, "INVITE sip:bob@example.com SIP/2.0") || !strings.Contains(text, "m=audio") {
		t.Errorf("INVITE text shown:\n%s", text)
	}
	if callText, _ := res["callText"].(string); !strings.Contains(callText, "ended: hung up") || !strings.Contains(callText, "sip:alice@example.com") {
		t.Errorf("call row %q", callText)
	}
	if cdrText, _ := res["cdrText"].(string); !strings.Contains(cdrText, "answered") || !strings.Contains(cdrText, "caller") ||
		!strings.Contains(cdrText, "local") {
		t.Errorf("call record row %q, want the call answered, routed local and hung up by the caller", cdrText)
	}
	if len(errs) > 0 {
		t.Errorf("errors in the page: %v", errs)
	}
}

// keepScreenshot copies the screenshot to e2e/artifacts (gitignored),
// which outlives the test's temporary directory.
func keepScreenshot(t *testing.T, shot string) {
	t.Helper()
	keepScreenshotAs(t, shot, "console.png")
}

// keepScreenshotAs copies the screenshot to e2e/artifacts/name.
func keepScreenshotAs(t *testing.T, shot, name string) {
	t.Helper()
	data, err := os.ReadFile(shot)
	if err != nil || len(data) < 1000 || !bytes.HasPrefix(data, []byte("\x89PNG")) {
		t.Fatalf("screenshot %s: %v (%d bytes)", shot, err, len(data))
	}
	dir := filepath.Join(filepath.Dir(scenarioDir), "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name)
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (copy of %s)", dst, shot)
}

var sample = regexp.MustCompile(`^(parley_[a-z_]+(?:\{[^}]*\})?) (\S+)$`)

// checkMetrics scrapes /metrics and compares the SIP counters with what
// the two calls and bob's registration sent; OPTIONS are the harness's
// readiness probes, however many it took.
func checkMetrics(t *testing.T, base string) {
	t.Helper()
	_, body := httpGet(t, base+"/metrics")
	got := map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		if m := sample.FindStringSubmatch(line); m != nil && !strings.Contains(m[1], `method="OPTIONS"`) {
			got[m[1]] = m[2]
		}
	}
	want := map[string]string{
		`parley_calls_active`:         "0",
		`parley_registrations_active`: "0",
		// The INVITEs' first responses (180) and the BYEs' (200).
		`parley_forward_latency_seconds_count`: "4",
	}
	for _, m := range []string{"INVITE", "ACK", "BYE", "REGISTER"} {
		want[`parley_sip_requests_total{direction="received",method="`+m+`"}`] = "2"
		if m != "REGISTER" {
			want[`parley_sip_requests_total{direction="sent",method="`+m+`"}`] = "2"
		}
	}
	for key, n := range map[string]string{
		`class="1xx",direction="received",method="INVITE"`: "2", // 180 from bob
		`class="1xx",direction="sent",method="INVITE"`:     "4", // parley's 100 and the 180, per call
		`class="2xx",direction="received",method="INVITE"`: "2",
		`class="2xx",direction="sent",method="INVITE"`:     "2",
		`class="2xx",direction="received",method="BYE"`:    "2",
		`class="2xx",direction="sent",method="BYE"`:        "2",
		`class="2xx",direction="sent",method="REGISTER"`:   "2",
	} {
		want[`parley_sip_responses_total{`+key+`}`] = n
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %s", k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok && strings.HasPrefix(k, "parley_sip_") {
			t.Errorf("unexpected %s %s", k, v)
		}
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
