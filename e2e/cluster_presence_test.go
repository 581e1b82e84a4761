package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
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
	redis := startRedis(t)
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
	alice.waitLog(reRegistered, phoneWait)
	bob := presencePhone(t, n1.parley, "bob", "alice")
	bob.waitLog(reRegistered, phoneWait)
	bob.waitLog(reDelivered, phoneWait)
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

	alice.waitContact("bob", "Online", phoneWait)
	bob.waitContact("alice", "Online", phoneWait)
	alice.command("/presence_offline")
	bob.waitContact("alice", "Offline", phoneWait)
	alice.command("/presence_online")
	bob.waitContact("alice", "Online", phoneWait)
	alice.quit()
	bob.waitContact("alice", "Offline", phoneWait)
	bob.quit()
	for _, n := range nodes {
		if _, metrics := httpGet(t, "http://"+n.admin+"/metrics"); !strings.Contains(metrics, "\nparley_cluster_notices_dropped_total 0\n") {
			t.Errorf("%s: /metrics lacks parley_cluster_notices_dropped_total 0", n.Addr)
		}
		if b, _ := os.ReadFile(n.logPath); strings.Contains(string(b), "level=ERROR") {
			t.Errorf("%s logged errors:\n%s", n.Addr, tail(n.logPath, 4000))
		}
	}
}

// TestClusterBans: a phone at 127.0.0.1 guesses a password at node 2
// (127.0.0.2) until node 2 bans it; node 3 (127.0.0.3), which answered it
// 401 before, then drops its requests too, without a single failure of
// its own. The ban went through the cluster bus and the Redis set.
func TestClusterBans(t *testing.T) {
	dsn := outageDSN(t)
	redis := startRedis(t)
	common := fmt.Sprintf("storage:\n  engine: postgres\n  dsn: %q\n  location: redis\n  redis_url: %s\n"+
		"auth:\n  enabled: true\n  max_failures: 3\n"+
		"security:\n  trusted: [127.0.0.2, 127.0.0.3]\n  trusted_skip_auth: true\n", dsn, redis.URL())
	nodes := startNodes(t, []string{"127.0.0.2", "127.0.0.3"}, common, nil)
	n2, n3 := nodes[0], nodes[1]
	cmd := exec.Command(parleyBin, "user", "add", "--config", n2.config, "--password-stdin", "user1@example.com")
	cmd.Stdin = strings.NewReader("user1-pw-3\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("parley user add: %v\n%s", err, out)
	}

	at3 := newRegistrar(t, n3.Addr)
	contact := fmt.Sprintf("Contact: <sip:user1@%s>\r\nExpires: 300\r\n", at3.conn.LocalAddr())
	if resp := at3.send(t, 1, contact); status(resp) != 401 {
		t.Fatalf("node 3 before the ban: %q, want 401", firstLine(resp))
	}
	at2 := newRegistrar(t, n2.Addr)
	challenge := at2.send(t, 1, contact)
	realm := regexp.MustCompile(`realm="([^"]+)"`).FindStringSubmatch(challenge)
	nonce := regexp.MustCompile(`nonce="([^"]+)"`).FindStringSubmatch(challenge)
	if realm == nil || nonce == nil {
		t.Fatalf("401 without realm and nonce: %q", challenge)
	}
	for i := 1; i <= 3; i++ {
		creds := fmt.Sprintf(`Authorization: Digest username="user1", realm=%q, nonce=%q, uri="sip:example.com", response="%032d", algorithm=MD5`+"\r\n",
			realm[1], nonce[1], i)
		if resp := at2.send(t, 1, creds+contact); status(resp) != 403 {
			t.Fatalf("wrong password %d at node 2: %q, want 403", i, firstLine(resp))
		}
	}
	if got := countIn(t, n2.logPath, regexp.MustCompile(`msg="source banned" source=127\.0\.0\.1`)); got != 1 {
		t.Fatalf("node 2 logged %d bans of 127.0.0.1, want 1", got)
	}
	// Dropped: no answer at all, as at the node that banned it, once the
	// notice has crossed the bus (within a second).
	for _, n := range []*clusterNode{n3, n2} {
		r := newRegistrar(t, n.Addr)
		for deadline := time.Now().Add(2 * time.Second); ; {
			resp, ok := answerWithin(t, r, contact, 500*time.Millisecond)
			if !ok {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s after the ban at node 2 answered %q; want the request dropped", n.Addr, firstLine(resp))
				break
			}
		}
	}
}

// answerWithin sends an unauthenticated REGISTER and waits up to d for
// its final answer.
func answerWithin(t *testing.T, r *sipRegistrar, extra string, d time.Duration) (string, bool) {
	t.Helper()
	r.seq++ // a new transaction each time, not a retransmission
	msg := fmt.Sprintf("REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-banned-%d;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:user1@example.com>;tag=b1\r\nTo: <sip:user1@example.com>\r\n"+
		"Call-ID: banned-%d\r\nCSeq: 1 REGISTER\r\n%sContent-Length: 0\r\n\r\n", r.conn.LocalAddr(), r.seq, r.seq, extra)
	if _, err := r.conn.WriteToUDP([]byte(msg), r.server); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	r.conn.SetReadDeadline(time.Now().Add(d))
	for {
		k, _, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return "", false
		}
		if resp := string(buf[:k]); !strings.HasPrefix(resp, "SIP/2.0 100") {
			return resp, true
		}
	}
}

func firstLine(msg string) string { return strings.SplitN(msg, "\r\n", 2)[0] }
