package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/location/redisstore/redistest"
)

// TestClusterPresence is issue 19's shared presence and offline
// messages on two nodes, 127.0.0.1 (n1) and 127.0.0.2 (n2), with their
// subscribers, published state and messages in one PostgreSQL schema and
// their registrations and bus in a Redis of the test's own:
//
//   - three MESSAGEs for bob, who is offline, are stored at n2 (202); bob's
//     baresip registers at n1, and n1 delivers them, in order, each once;
//   - bob, whose subscription to alice's presence lives at n1, sees each
//     PUBLISH alice's baresip sends to n2 (offline, online) and her
//     leaving; alice, subscribed at n2, sees bob registered at n1.
func TestClusterPresence(t *testing.T) {
	requireTool(t, "baresip", baresipHint)
	requireTool(t, "sipp", sippHint)
	dsn := outageDSN(t)
	redis := redistest.Start(t)
	common := fmt.Sprintf("storage:\n  engine: postgres\n  dsn: %q\n  location: redis\n  redis_url: %s\n", dsn, redis.URL())
	nodes := startNodes(t, []string{"127.0.0.1", "127.0.0.2"}, common, nil)
	n1, n2 := nodes[0], nodes[1]
	for _, user := range []string{"alice", "bob"} {
		cmd := exec.Command(parleyBin, "user", "add", "--config", n1.config, "--password-stdin", user+"@example.com")
		cmd.Stdin = strings.NewReader(user + "-pw-1\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("parley user add %s: %v\n%s", user, err, out)
		}
	}

	if code := runSipp(t, "-sf", scenario("message_offline.xml"), "-m", "3", "-l", "1", n2.Addr); code != 0 {
		t.Fatalf("storing three messages at n2: sipp exited %d, want 0 (three 202s)", code)
	}
	alice := presencePhone(t, n2.parley, "alice", "bob")
	alice.waitLog(reRegistered, 10*time.Second)
	bob := presencePhone(t, n1.parley, "bob", "alice")
	bob.waitLog(reRegistered, 10*time.Second)
	bob.waitLog(reDelivered, 10*time.Second)
	time.Sleep(time.Second) // room for a duplicate to show
	log := readFile(t, bob.logPath)
	for i := 1; i <= 3; i++ {
		if n := strings.Count(log, fmt.Sprintf(`sip:alice@example.com: "note %d`, i)); n != 1 {
			t.Errorf("bob saw note %d %d times, want once", i, n)
		}
	}
	delivered := regexp.MustCompile(`msg="message delivered" user=bob@example.com`)
	if got1, got2 := countIn(t, n1.logPath, delivered), countIn(t, n2.logPath, delivered); got1 != 3 || got2 != 0 {
		t.Errorf("messages delivered by n1 %d, by n2 %d; want 3 by n1, the node bob registered with", got1, got2)
	}

	alice.waitContact("bob", "Online", 10*time.Second)
	bob.waitContact("alice", "Online", 10*time.Second)
	alice.command("/presence_offline")
	bob.waitContact("alice", "Offline", 10*time.Second)
	alice.command("/presence_online")
	bob.waitContact("alice", "Online", 10*time.Second)
	alice.quit()
	bob.waitContact("alice", "Offline", 10*time.Second)
	bob.quit()
	for _, n := range nodes {
		if b, _ := os.ReadFile(n.logPath); strings.Contains(string(b), "level=ERROR") {
			t.Errorf("%s logged errors:\n%s", n.Addr, tail(n.logPath, 4000))
		}
	}
}
