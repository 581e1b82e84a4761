package e2e

import (
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
