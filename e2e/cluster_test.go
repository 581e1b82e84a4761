package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/location/redisstore/redistest"
)

// clusterNode is one parley of a three-node cluster on 127.0.0.N.
type clusterNode struct {
	*parley
	admin string // its admin listener, 127.0.0.1:PORT
}

// startCluster runs n parley nodes on 127.0.0.1 … 127.0.0.n, all on one
// port (UDP and TCP), sharing the location store in Redis at redisURL,
// each with its Path (cluster.node nN, cluster.address 127.0.0.N:PORT)
// and --trace, so a test can see which node relayed what.
func startCluster(t *testing.T, n int, redisURL string) []*clusterNode {
	t.Helper()
	port := clusterPort(t, n)
	nodes := make([]*clusterNode, n)
	for i := range nodes {
		host := "127.0.0." + strconv.Itoa(i+1)
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		admin := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
		cfg := writeConfig(t, fmt.Sprintf("listen: [%q, %q]\ndomains: [example.com]\n"+
			"storage:\n  engine: memory\n  location: redis\n  redis_url: %s\n"+
			"cluster:\n  node: n%d\n  address: %q\nadmin:\n  listen: %s\n",
			"udp:"+addr, "tcp:"+addr, redisURL, i+1, addr, admin))
		nodes[i] = &clusterNode{parley: startParleyAt(t, addr, "--config", cfg, "--trace"), admin: admin}
	}
	return nodes
}

// clusterPort finds a port free on UDP and TCP at each of 127.0.0.1 … n.
func clusterPort(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		port := freePort(t, false)
		free := true
		for i := 2; i <= n && free; i++ {
			host := "127.0.0." + strconv.Itoa(i)
			u, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
			if err == nil {
				u.Close()
			}
			l, err2 := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
			if err2 == nil {
				l.Close()
			}
			free = err == nil && err2 == nil
		}
		if free {
			return port
		}
	}
	t.Fatal("no port free on every loopback address of the cluster")
	return 0
}

// startParleyAt starts parley serve with the given config on addr (which
// the config's listen must name), as startParley does on 127.0.0.1.
func startParleyAt(t *testing.T, addr string, args ...string) *parley {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("no parley binary: %v", buildErr)
	}
	_, port, _ := net.SplitHostPort(addr)
	p := &parley{Addr: addr, exited: make(chan struct{})}
	p.Port, _ = strconv.Atoi(port)
	p.logPath = filepath.Join(t.TempDir(), "parley.log")
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(parleyBin, append([]string{"serve", "--data-dir", t.TempDir(), "--log-level", "debug"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = p.cmd.Wait(); logFile.Close(); close(p.exited) }()
	t.Cleanup(func() { p.stop(t) })
	if err := p.waitReady(10 * time.Second); err != nil {
		t.Fatalf("parley at %s: %v", addr, err)
	}
	return p
}

// relayedToFlow matches, in a node's trace, an INVITE for bob that
// another node sent along the Path of node NAME (its flow token and name
// in the Route).
func relayedToFlow(node string) *regexp.Regexp {
	return regexp.MustCompile(`msg=recv .*\\nINVITE sip:bob[^ ]* SIP/2\.0\\r\\n.*Route: <sip:ft\.[A-Za-z0-9_-]+@[0-9.:]+;lr;ob;node=` + node + `>`)
}

// countIn counts re's matches in the file at path.
func countIn(t *testing.T, path string, re *regexp.Regexp) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(re.FindAll(b, -1))
}

// callBob has a sipp UAC call bob through node, and checks that bob's
// node (holder) received the INVITE along its Path: the call did not
// reach bob's phone any other way.
func callBob(t *testing.T, via, holder *clusterNode, holderName string) {
	t.Helper()
	before := countIn(t, holder.logPath, relayedToFlow(holderName))
	if code := runSipp(t, "-sf", scenario("uac_call.xml"), "-s", "bob", via.Addr); code != 0 {
		t.Fatalf("call to bob through %s: sipp exit %d", via.Addr, code)
	}
	if got := countIn(t, holder.logPath, relayedToFlow(holderName)); got != before+1 {
		t.Errorf("%s relayed %d INVITEs from %s along its Path, want 1", holderName, got-before, via.Addr)
	}
}

// TestCluster is issue 19's proof on one machine: three parley nodes on
// 127.0.0.1, .2 and .3 share their registrations in Redis (a server the
// test runs itself). baresip registers at node 1 over TCP; calls from
// phones at nodes 2 and 3 reach it through node 1, which holds its
// connection. Node 1 is killed; the phone registers at node 2 (the next
// server it knows, as SRV order would have it) and is reachable again
// from node 3. A call in progress keeps its dialog through a Redis
// outage, new registrations get 503 with Retry-After and /readyz says
// not ready; when Redis is back the nodes recover by themselves.
func TestCluster(t *testing.T) {
	requireTool(t, "baresip", baresipHint)
	requireTool(t, "sipp", sippHint)
	redis := redistest.Start(t)
	nodes := startCluster(t, 3, redis.URL())
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]

	account := func(n *clusterNode) string {
		return fmt.Sprintf(`<sip:bob@example.com>;outbound="sip:%s;transport=tcp";regint=600;answermode=auto`, n.Addr)
	}
	bob := startSoftphone(t, "bob", account(n1))
	bob.waitLog(reRegistered, 10*time.Second)

	callBob(t, n2, n1, "n1")
	callBob(t, n3, n1, "n1")

	n1.kill(t)
	bob.command("/uanew " + account(n2))
	reRegisteredTwice := regexp.MustCompile(`(?s)\{\d+/TCP/v4\} 200 OK.*\{\d+/TCP/v4\} 200 OK`)
	bob.waitLog(reRegisteredTwice, 10*time.Second)
	callBob(t, n3, n2, "n2")
	// Any node's admin API shows which node holds bob's new flow.
	if code, body := httpGet(t, "http://"+n3.admin+"/api/registrations?aor=bob"); code != 200 || !strings.Contains(body, `"node":"n2"`) {
		t.Errorf("node 3's /api/registrations for bob: %d %s, want a binding held by n2", code, body)
	}

	// A call through node 3 to bob at node 2 is up when Redis dies; its
	// BYE needs no store and goes through.
	alice := startSoftphone(t, "alice", fmt.Sprintf(`<sip:alice@example.com>;outbound="sip:%s;transport=udp";regint=0`, n3.Addr))
	alice.command("/dial bob")
	alice.waitLog(reEstablished, 10*time.Second)
	redis.Kill()
	ready := func(n *clusterNode) int { code, _ := httpGet(t, "http://"+n.admin+"/readyz"); return code }
	phone := newRegistrar(t, n2.Addr)
	refused := false
	for i := 0; i < 100 && !(refused && ready(n2) == 503 && ready(n3) == 503); i++ { // at most 100 tries, 10 s
		code, retryAfter := phone.register(t, 1, 300)
		refused = code == 503 && retryAfter != ""
		time.Sleep(100 * time.Millisecond)
	}
	if !refused || ready(n2) != 503 || ready(n3) != 503 {
		t.Fatalf("with Redis down: REGISTER refused with 503 and Retry-After %v, /readyz %d and %d; want true, 503 and 503", refused, ready(n2), ready(n3))
	}
	// bob's 200 to the BYE, relayed by node 3 to alice: the hang-up went
	// through both nodes to bob's flow and back.
	byes := countIn(t, n3.logPath, reByeOK)
	alice.command("/hangup")
	for deadline := time.Now().Add(10 * time.Second); countIn(t, n3.logPath, reByeOK) == byes; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no 200 to alice's BYE within 10 s of her hang-up with Redis down")
		}
	}

	redis.Restart() // empty: this Redis keeps nothing on disk
	deadline := time.Now().Add(15 * time.Second)
	for ready(n2) != 200 || ready(n3) != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz %d and %d 15 s after Redis's return, want 200", ready(n2), ready(n3))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _ := phone.register(t, 1, 300); code != 200 {
		t.Fatalf("REGISTER after Redis's return: %d, want 200", code)
	}
	for _, n := range []*clusterNode{n2, n3} {
		log := readFile(t, n.logPath)
		if down, up := strings.Count(log, `msg="location store unavailable"`), strings.Count(log, `msg="location store available again"`); down != 1 || up != 1 {
			t.Errorf("%s logged the outage %d times and its end %d times, want once each", n.Addr, down, up)
		}
	}
	alice.quit()
	bob.quit()
}
