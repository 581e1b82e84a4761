package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// takeoverAfter is the nodes' cluster.takeover_after in
// TestClusterTakeover; takeoverSlack is what the survivor may take on
// top: a heartbeat interval's sweep, the BYE transactions, a loaded
// machine.
const (
	takeoverAfter = 3 * time.Second
	takeoverSlack = 6 * time.Second
)

// clusterState is the part of /api/cluster the test reads.
type clusterState struct {
	Nodes []struct {
		ID            string `json:"id"`
		State         string `json:"state"`
		Calls         int    `json:"calls"`
		Registrations int    `json:"registrations"`
	} `json:"nodes"`
	Calls []struct {
		Node    string `json:"node"`
		ACallID string `json:"a_call_id"`
	} `json:"calls"`
}

func readCluster(t *testing.T, n *clusterNode) clusterState {
	t.Helper()
	code, body := httpGet(t, "http://"+n.admin+"/api/cluster")
	var v clusterState
	if code != 200 || json.Unmarshal([]byte(body), &v) != nil {
		t.Fatalf("/api/cluster at %s: %d %s", n.admin, code, body)
	}
	return v
}

// nodeState returns a node's state in v, "" when it is not listed.
func (v clusterState) nodeState(id string) string {
	for _, n := range v.Nodes {
		if n.ID == id {
			return n.State
		}
	}
	return ""
}

// waitCluster polls n's /api/cluster until ok holds, or fails after
// timeout with what it saw last.
func waitCluster(t *testing.T, n *clusterNode, timeout time.Duration, what string, ok func(clusterState) bool) clusterState {
	t.Helper()
	var v clusterState
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if v = readCluster(t, n); ok(v) {
			return v
		}
	}
	t.Fatalf("%s: not within %v; /api/cluster at %s: %+v", what, timeout, n.admin, v)
	return v
}

// TestClusterTakeover is issue 19's B2BUA failure: two nodes in mode
// b2bua on 127.0.0.1 and 127.0.0.2 share Redis (one the test runs) and
// PostgreSQL (a schema of the test's own). Bob registers at node 1 and
// alice calls him through node 1; once node 2's /api/cluster shows the
// call as node 1's, node 1 is killed with SIGKILL. Node 2 stops showing
// node 1 alive, and once its beat is older than cluster.takeover_after
// shows it dead and sends BYE on both legs (alice and bob each get one,
// from node 2, and answer 200); the call's record is in the shared table, node 1's, with disposition
// ended-by-takeover, hung up by node-failure, and no journal row is left.
// (sipp sends its 200s to the address it was started with, node 1's, not
// by the BYE's Via as a phone does: node 2's BYE transactions time out,
// which the record does not wait for.)
func TestClusterTakeover(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	dsn := outageDSN(t)
	redis := startRedis(t)
	common := fmt.Sprintf("mode: b2bua\nstorage:\n  engine: postgres\n  dsn: %q\n  location: redis\n  redis_url: %s\ncdr:\n  enabled: true\n", dsn, redis.URL())
	nodes := startNodesWith(t, []string{"127.0.0.1", "127.0.0.2"}, common, fmt.Sprintf("  takeover_after: %s\n", takeoverAfter), nil)
	n1, n2 := nodes[0], nodes[1]
	waitCluster(t, n2, stateWait, "both nodes alive", func(v clusterState) bool {
		return v.nodeState("n1") == "alive" && v.nodeState("n2") == "alive"
	})

	bob := startSipp(t, "-sf", scenario("uas_register.xml"), "-oocsf", scenario("uas_answer.xml"), "-s", "bob", n1.Addr)
	bob.WaitLog("registered", phoneWait)
	alice := startSipp(t, "-sf", scenario("uac_wait_bye.xml"), "-s", "bob", "-timeout", "40s", n1.Addr)
	v := waitCluster(t, n2, 10*time.Second, "alice's call listed as node 1's", func(v clusterState) bool {
		return len(v.Calls) == 1 && v.Calls[0].Node == "n1"
	})
	aCallID := v.Calls[0].ACallID
	if calls := b2buaCalls(t, "http://"+n1.admin); len(calls) != 1 || calls[0].Node != "n1" {
		t.Errorf("node 1's /api/b2bua/calls: %+v, want alice's call, node n1", calls)
	}
	for _, n := range v.Nodes {
		if n.ID == "n1" && n.Registrations != 1 {
			t.Errorf("node 1 holds %d registrations, want bob's", n.Registrations)
		}
	}

	n1.kill(t)
	killed := time.Now()
	waitCluster(t, n2, takeoverAfter+takeoverSlack, "node 1 no longer alive", func(v clusterState) bool { return v.nodeState("n1") != "alive" })
	if code := alice.Wait(); code != 0 {
		t.Fatalf("alice: sipp exit %d, want her call hung up by node 2", code)
	}
	bob.WaitLog("call answered and hung up", takeoverSlack)
	took := time.Since(killed)
	t.Logf("both legs hung up %v after the kill (takeover_after %v)", took.Round(time.Millisecond), takeoverAfter)
	// Node 1's last beat came up to one interval (a quarter of the
	// timeout) before the kill.
	if low := takeoverAfter - takeoverAfter/4; took < low || took > takeoverAfter+takeoverSlack {
		t.Errorf("hung up %v after the kill, want between %v and %v", took, low, takeoverAfter+takeoverSlack)
	}
	// Retransmissions count once: sipp's 200s go to the dead node.
	bye := regexp.MustCompile(`(?m)^BYE [^\r\n]*\r?\nVia: SIP/2\.0/UDP 127\.0\.0\.2:[0-9]+;branch=([^;\s]+)`)
	for name, s := range map[string]*sippProc{"alice": alice, "bob": bob} {
		branches := map[string]bool{}
		for _, m := range bye.FindAllStringSubmatch(s.messages(t), -1) {
			branches[m[1]] = true
		}
		if len(branches) != 1 {
			t.Errorf("%s got %d BYE transactions from node 2, want 1", name, len(branches))
		}
	}
	if st := readCluster(t, n2); st.nodeState("n1") != "dead" || len(st.Calls) != 0 {
		t.Errorf("after the takeover node 2 shows %+v: want node 1 dead and no call", st)
	}

	var row string
	for deadline := time.Now().Add(stateWait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if row = takeoverRecord(t, dsn, aCallID); row != "" {
			break
		}
	}
	if want := "n1 ended-by-takeover node-failure 200 open:0"; row != want {
		t.Errorf("record of alice's call %q, want %q", row, want)
	}
	bob.Wait() // its unregistration goes to node 1, which is dead: it fails
	if !strings.Contains(readFile(t, n2.logPath), "node dead; ending its calls") {
		t.Error("node 2 did not log the takeover")
	}
}

// takeoverRecord returns the call's record as "node disposition
// hung_up_by status open:N" (N journal rows left), "" before it exists.
func takeoverRecord(t *testing.T, dsn, callID string) string {
	t.Helper()
	ctx, conn, done := pgConn(t, dsn)
	defer done()
	var node, disp, by string
	var status, open int
	err := conn.QueryRow(ctx, `SELECT node, disposition, hung_up_by, status, (SELECT count(*) FROM cdr_open) FROM cdrs WHERE call_id = $1`, callID).
		Scan(&node, &disp, &by, &status, &open)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s %s %s %d open:%d", node, disp, by, status, open)
}
