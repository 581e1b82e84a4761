package e2e

import (
	"bytes"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestClusterUntrustedNode: two nodes with auth on, whose common
// security.trusted lists node 2 only (a node added without updating the
// others' lists). Node 2 warns at its first read of the members that
// node 3 is not trusted there, naming it: otherwise the only sign is
// that calls node 3 relays to node 2's phones get 407 after 407. Node 3,
// which trusts node 2, says nothing.
func TestClusterUntrustedNode(t *testing.T) {
	redis := startRedis(t)
	common := "storage:\n  engine: sqlite\n  location: redis\n  redis_url: " + redis.URL() + "\n" +
		"auth:\n  enabled: true\nsecurity:\n  trusted: [127.0.0.2]\n  trusted_skip_auth: true\n"
	nodes := startNodes(t, []string{"127.0.0.2", "127.0.0.3"}, common, nil)
	n2, n3 := nodes[0], nodes[1]
	const warning = `msg="cluster: a node is not in security.trusted with trusted_skip_auth here`
	if !waitForText(n2.logPath, warning, 10*time.Second, nil) {
		t.Fatalf("node 2 did not warn of node 3:\n%s", tail(n2.logPath, 3000))
	}
	log := readFile(t, n2.logPath)
	if !strings.Contains(log, `node=n3 address=`+n3.Addr) {
		t.Errorf("node 2's warning does not name node 3 at %s:\n%s", n3.Addr, tail(n2.logPath, 3000))
	}
	time.Sleep(2 * time.Second) // two more reads of the members
	if n := strings.Count(readFile(t, n2.logPath), warning); n != 1 {
		t.Errorf("node 2 warned %d times, want once", n)
	}
	if strings.Contains(readFile(t, n3.logPath), warning) {
		t.Errorf("node 3, which trusts node 2, warned:\n%s", tail(n3.logPath, 3000))
	}
}

// TestClusterNameTaken: a second process started with a live node's
// cluster.node (node 2's file copied for node 3, its name not changed)
// refuses to start, naming the key and the live node, before it can take
// that node's open calls for leftovers of its own crash (the call
// journal's rows and the call snapshots are kept by node name).
func TestClusterNameTaken(t *testing.T) {
	redis := startRedis(t)
	n2 := startNodes(t, []string{"127.0.0.2"}, "storage:\n  engine: memory\n  location: redis\n  redis_url: "+redis.URL()+"\n", nil)[0]
	src := readFile(t, n2.config)
	src = strings.ReplaceAll(src, "127.0.0.2:", "127.0.0.3:")
	src = regexp.MustCompile(`(?m)^  listen: .*$`).ReplaceAllString(src, "  listen: 127.0.0.1:"+strconv.Itoa(freePort(t, false)))
	cfg := writeConfig(t, src)
	cmd := exec.Command(parleyBin, "serve", "--config", cfg, "--data-dir", t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("the second n2 exited 0:\n%s", out.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the second n2 still runs after 10 s:\n%s", out.String())
	}
	if want := `cluster.node: "n2" is the name of a live node at ` + n2.Addr; !strings.Contains(out.String(), want) {
		t.Errorf("no %q in its output:\n%s", want, out.String())
	}
}
