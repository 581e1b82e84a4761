package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestClusterOneRecord: alice (sipp on 127.0.0.1) calls bob, registered
// at node 2, through node 3; the call passes both nodes and has one
// record in the shared PostgreSQL table, by node 3 with alice as its
// source (issue #19). Proxied with an INVITE past 1300 bytes, which node
// 3 relays to node 2 over TCP, from a port that is not its
// cluster.address; and in mode: b2bua, where node 2 takes the relayed
// INVITE as a call of its own.
func TestClusterOneRecord(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	for _, tc := range []struct {
		name, mode, caller, register string // mode: a line of config
	}{
		{"proxy, INVITE over TCP between nodes", "", "uac_call_large.xml", "uas_register_plain.xml"},
		{"b2bua", "mode: b2bua\n", "uac_call.xml", "uas_register.xml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := outageDSN(t)
			redis := startRedis(t)
			common := fmt.Sprintf("%sstorage:\n  engine: postgres\n  dsn: %q\n  location: redis\n  redis_url: %s\ncdr:\n  enabled: true\n",
				tc.mode, dsn, redis.URL())
			nodes := startNodes(t, []string{"127.0.0.2", "127.0.0.3"}, common, nil)
			n2, n3 := nodes[0], nodes[1]
			waitCluster(t, n2, stateWait, "both nodes alive", func(v clusterState) bool {
				return v.nodeState("n2") == "alive" && v.nodeState("n3") == "alive"
			})
			// Node 2 learns its peers' addresses at its next takeover
			// sweep, at most a heartbeat interval (1 s) after the beat.
			time.Sleep(1100 * time.Millisecond)

			bob := startSipp(t, "-sf", scenario(tc.register), "-oocsf", scenario("uas_answer.xml"), "-s", "bob", n2.Addr)
			bob.WaitLog("registered", phoneWait)
			startSipp(t, "-sf", scenario(tc.caller), "-s", "bob", n3.Addr).ExpectSuccess()
			bob.ExpectSuccess()
			if got := countIn(t, n2.logPath, relayedToFlow("n2")); got != 1 {
				t.Errorf("node 2 got %d INVITEs along its Path, want 1", got)
			}

			for _, n := range nodes {
				if !waitForText(n.logPath, `msg="call ended"`, 10*time.Second, n.exited) {
					t.Fatalf("node %s did not log the call's end", n.Addr)
				}
			}
			time.Sleep(time.Second) // a record handed over with the log line commits
			var rows []string
			for deadline := time.Now().Add(stateWait); len(rows) == 0 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				rows = cdrRows(t, dsn)
			}
			if len(rows) != 1 || !strings.HasPrefix(rows[0], "n3 127.0.0.1:") {
				t.Errorf("call records (node source call_id) %q, want one, by n3, from 127.0.0.1", rows)
			}
			waitMetric(t, "http://"+n2.admin, "parley_cdr_left_to_node_total 1", stateWait)
			waitMetric(t, "http://"+n3.admin, "parley_cdr_left_to_node_total 0", stateWait)
		})
	}
}
