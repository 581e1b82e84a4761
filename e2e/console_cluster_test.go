package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestConsoleCluster opens node 2's console in headless Chromium while
// node 1 of a two-node cluster (mode b2bua) is killed: the B2BUA calls
// show a Node column with node 2 on its call, the Cluster view shows
// node 2 alive (as this node) and, without a reload, node 1 dead once
// its heartbeat has been missing for cluster.takeover_after. With Redis
// then stopped, the view stays, saying its state is unavailable.
func TestConsoleCluster(t *testing.T) {
	requireConsoleTools(t)
	requireTool(t, "sipp", sippHint)
	redis := startRedis(t)
	nodes := startNodesWith(t, []string{"127.0.0.1", "127.0.0.2"},
		"mode: b2bua\nstorage:\n  engine: memory\n  location: redis\n  redis_url: "+redis.URL()+"\n", "  takeover_after: 2s\n", nil)
	n1, n2 := nodes[0], nodes[1]
	waitCluster(t, n2, stateWait, "both nodes alive", func(v clusterState) bool {
		return v.nodeState("n1") == "alive" && v.nodeState("n2") == "alive"
	})
	bob := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_answer.xml"), "-s", "bob", n2.Addr)
	bob.WaitLog("registered", phoneWait)
	alice := startSipp(t, "-sf", scenario("uac_wait_bye.xml"), "-s", "bob", "-timeout", "50s", n2.Addr)
	script := runConsoleScript(t, "cluster.mjs", "http://"+n2.admin+"/", "n1", "n2")
	next := script.next
	next("loaded")
	calls := next("b2bua")
	if nodes, _ := calls["nodes"].([]any); calls["column"] != true || len(nodes) != 1 || nodes[0] != "n2" {
		t.Errorf("B2BUA calls view: Node column %v, cells %v; want shown, [n2]", calls["column"], calls["nodes"])
	}
	n1.kill(t)
	view := next("nodes")
	rows, _ := view["rows"].([]any)
	if len(rows) != 2 || !strings.Contains(rows[1].(string), "n2 (this node)") {
		t.Errorf("node rows %q, want n1 and n2, n2 as this node", rows)
	}
	if errs, _ := view["errors"].([]any); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
	for _, c := range b2buaCalls(t, "http://"+n2.admin) { // alice and bob get their BYE
		req, _ := http.NewRequest(http.MethodDelete, "http://"+n2.admin+"/api/b2bua/calls/"+c.ID, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	alice.ExpectSuccess()
	bob.ExpectSuccess() // unregistered: Redis may go now

	redis.Kill()
	gone := next("unavailable")
	script.wait()
	if text, _ := gone["text"].(string); gone["shown"] != true || gone["rows"] != float64(2) || !strings.Contains(text, "Cluster state unavailable") {
		t.Errorf("Cluster view with Redis down: %v, want it shown with its 2 rows and the notice", gone)
	}
}

// consoleScript is one of e2e/console's node scripts running: it prints
// a JSON line per step, which the test reads to pace its traffic.
type consoleScript struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	steps  *bufio.Scanner
	stderr strings.Builder
}

// runConsoleScript starts node SCRIPT ARGS in e2e/console, killed after a
// minute or at the end of the test.
func runConsoleScript(t *testing.T, script string, args ...string) *consoleScript {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	s := &consoleScript{t: t, name: script}
	s.cmd = exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	s.cmd.Dir = consoleDir()
	s.cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath())
	s.cmd.Stderr = &s.stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.steps = bufio.NewScanner(out)
	s.steps.Buffer(make([]byte, 1<<20), 1<<20)
	return s
}

// next reads the next step, which must be want.
func (s *consoleScript) next(want string) map[string]any {
	s.t.Helper()
	if !s.steps.Scan() {
		s.cmd.Wait()
		s.t.Fatalf("%s ended before %q: %s", s.name, want, s.stderr.String())
	}
	var v map[string]any
	if err := json.Unmarshal(s.steps.Bytes(), &v); err != nil || v["step"] != want {
		s.t.Fatalf("%s said %s, want step %q", s.name, s.steps.Text(), want)
	}
	return v
}

// wait waits for the script to exit.
func (s *consoleScript) wait() { _ = s.cmd.Wait() }
