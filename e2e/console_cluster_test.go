package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/location/redisstore/redistest"
)

// TestConsoleCluster opens node 2's console in headless Chromium while
// node 1 of a two-node cluster is killed: the Cluster view shows node 2
// alive (as this node) and, without a reload, node 1 dead once its
// heartbeat has been missing for cluster.takeover_after.
func TestConsoleCluster(t *testing.T) {
	requireConsoleTools(t)
	redis := redistest.Start(t)
	nodes := startNodesWith(t, []string{"127.0.0.1", "127.0.0.2"},
		"storage:\n  engine: memory\n  location: redis\n  redis_url: "+redis.URL()+"\n", "  takeover_after: 2s\n", nil)
	n1, n2 := nodes[0], nodes[1]
	waitCluster(t, n2, 5*time.Second, "both nodes alive", func(v clusterState) bool {
		return v.nodeState("n1") == "alive" && v.nodeState("n2") == "alive"
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "cluster.mjs", "http://"+n2.admin+"/", "n1", "n2")
	cmd.Dir = consoleDir()
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(out)
	next := func(want string) map[string]any {
		t.Helper()
		var v map[string]any
		if err := dec.Decode(&v); err != nil || v["step"] != want {
			cmd.Wait()
			t.Fatalf("cluster.mjs said %v (%v), want step %q: %s", v, err, want, stderr.String())
		}
		return v
	}
	next("loaded")
	n1.kill(t)
	view := next("nodes")
	cmd.Wait()
	rows, _ := view["rows"].([]any)
	if len(rows) != 2 || !strings.Contains(rows[1].(string), "n2 (this node)") {
		t.Errorf("node rows %q, want n1 and n2, n2 as this node", rows)
	}
	if errs, _ := view["errors"].([]any); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}
