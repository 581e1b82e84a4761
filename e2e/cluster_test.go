package e2e

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/location/redisstore/redistest"
)

// clusterNode is one parley of a three-node cluster on 127.0.0.N.
type clusterNode struct {
	*parley
	admin  string // its admin listener, 127.0.0.1:PORT
	config string // its config file
}

// startCluster runs n parley nodes on 127.0.0.1 … 127.0.0.n, all on one
// port (UDP and TCP), sharing the location store in Redis at redisURL,
// each with its Path (cluster.node nN, cluster.address 127.0.0.N:PORT)
// and --trace, so a test can see which node relayed what.
func startCluster(t *testing.T, n int, redisURL string) []*clusterNode {
	t.Helper()
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = "127.0.0." + strconv.Itoa(i+1)
	}
	return startNodes(t, hosts, "storage:\n  engine: memory\n  location: redis\n  redis_url: "+redisURL+"\n", nil)
}

// startNodes runs a node on each of hosts (named n1, n2 … by position
// among 127.0.0.N: the last digit), on one port, with the YAML common to
// all and, for each node, the data directory dataDirs[i] (a fresh one
// when dataDirs is nil).
func startNodes(t *testing.T, hosts []string, common string, dataDirs []string) []*clusterNode {
	t.Helper()
	return startNodesWith(t, hosts, common, "", dataDirs)
}

// startNodesWith is startNodes with further lines of the cluster block
// (indented, each ending in a newline).
func startNodesWith(t *testing.T, hosts []string, common, clusterLines string, dataDirs []string) []*clusterNode {
	t.Helper()
	return startNodesIn(t, "example.com", hosts, common, clusterLines, dataDirs)
}

// startNodesIn is startNodesWith for the SIP domain given.
func startNodesIn(t *testing.T, domain string, hosts []string, common, clusterLines string, dataDirs []string) []*clusterNode {
	t.Helper()
	port := clusterPort(t, hosts)
	nodes := make([]*clusterNode, len(hosts))
	for i, host := range hosts {
		name := "n" + host[strings.LastIndexByte(host, '.')+1:]
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		admin := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
		cfg := writeConfig(t, fmt.Sprintf("listen: [%q, %q]\ndomains: [%s]\n%s"+
			"cluster:\n  node: %s\n  address: %q\n%sadmin:\n  listen: %s\n",
			"udp:"+addr, "tcp:"+addr, domain, common, name, addr, clusterLines, admin))
		data := t.TempDir()
		if dataDirs != nil {
			data = dataDirs[i]
		}
		nodes[i] = &clusterNode{parley: startParleyAt(t, addr, "--config", cfg, "--data-dir", data, "--trace"), admin: admin, config: cfg}
	}
	return nodes
}

// clusterPort finds a port free on UDP and TCP at each of hosts.
func clusterPort(t *testing.T, hosts []string) int {
	t.Helper()
	for range 50 {
		port := freePort(t, false)
		free := true
		for _, host := range hosts {
			if !free {
				break
			}
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
	p.cmd = exec.Command(parleyBin, append([]string{"serve", "--log-level", "debug"}, args...)...)
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
// connection. Node 1 is killed during a call between phones at nodes 2
// and 3, which goes on; bob registers at node 2 (the next
// server it knows, as SRV order would have it) and is reachable again
// from node 3. A call in progress keeps its dialog through a Redis
// outage, new registrations get 503 with Retry-After and /readyz says
// not ready; when Redis is back the nodes recover by themselves.
func TestCluster(t *testing.T) {
	requireTool(t, "baresip", baresipHint)
	requireTool(t, "sipp", sippHint)
	redis := startRedis(t)
	nodes := startCluster(t, 3, redis.URL())
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]

	account := func(n *clusterNode) string {
		return fmt.Sprintf(`<sip:bob@example.com>;outbound="sip:%s;transport=tcp";regint=600;answermode=auto`, n.Addr)
	}
	bob := startSoftphone(t, "bob", account(n1))
	bob.waitLog(reRegistered, phoneWait)

	callBob(t, n2, n1, "n1")
	callBob(t, n3, n1, "n1")

	// A call between phones at nodes 2 and 3 is up when node 1 dies;
	// it goes on, and its BYE gets through after the kill.
	carol := startSoftphone(t, "carol", fmt.Sprintf(`<sip:carol@example.com>;outbound="sip:%s;transport=udp";regint=600;answermode=auto`, n3.Addr))
	carol.waitLog(reRegistered, phoneWait)
	dave := startSoftphone(t, "dave", fmt.Sprintf(`<sip:dave@example.com>;outbound="sip:%s;transport=udp";regint=0`, n2.Addr))
	dave.command("/dial carol")
	dave.waitLog(reEstablished, phoneWait)
	carol.waitLog(reEstablished, phoneWait)

	n1.kill(t)
	byes2 := countIn(t, n2.logPath, reByeOK)
	dave.command("/hangup")
	for deadline := time.Now().Add(10 * time.Second); countIn(t, n2.logPath, reByeOK) == byes2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the call between nodes 2 and 3 could not be hung up after node 1 died")
		}
	}
	bob.command("/uanew " + account(n2))
	reRegisteredTwice := regexp.MustCompile(`(?s)\{\d+/TCP/v4\} 200 OK.*\{\d+/TCP/v4\} 200 OK`)
	bob.waitLog(reRegisteredTwice, phoneWait)
	callBob(t, n3, n2, "n2")
	// Any node's admin API shows which node holds bob's new flow.
	if code, body := httpGet(t, "http://"+n3.admin+"/api/registrations?aor=bob"); code != 200 || !strings.Contains(body, `"node":"n2"`) {
		t.Errorf("node 3's /api/registrations for bob: %d %s, want a binding held by n2", code, body)
	}

	// A call through node 3 to bob at node 2 is up when Redis dies; its
	// BYE needs no store and goes through.
	alice := startSoftphone(t, "alice", fmt.Sprintf(`<sip:alice@example.com>;outbound="sip:%s;transport=udp";regint=0`, n3.Addr))
	alice.command("/dial bob")
	alice.waitLog(reEstablished, phoneWait)
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
	dave.quit()
	carol.quit()
}

// TestClusterSharedDatabase: two nodes (127.0.0.2 and .3; the phones are
// on 127.0.0.1) with auth on share their subscribers and call records in
// one PostgreSQL schema, their registrations in Redis and one
// auth.secret. A nonce node 2 issued is accepted by node 3; bob, at node
// 2 over TCP with a password, is called by alice through node 3, which
// challenges her; node 2 trusts node 3 and does not challenge again.
// The call has one record in the shared table, by node 3, where it
// entered the cluster: node 2 got it from a node and leaves it to that
// one (issue #19).
func TestClusterSharedDatabase(t *testing.T) {
	requireTool(t, "baresip", baresipHint)
	requireTool(t, "sipp", sippHint)
	dsn := outageDSN(t)
	redis := startRedis(t)
	secret := make([]byte, 32)
	rand.Read(secret)
	dirs := []string{t.TempDir(), t.TempDir()}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "auth.secret"), secret, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	common := fmt.Sprintf("storage:\n  engine: postgres\n  dsn: %q\n  location: redis\n  redis_url: %s\n"+
		"auth:\n  enabled: true\n  methods: [REGISTER, INVITE]\ncdr:\n  enabled: true\n"+
		"security:\n  trusted: [127.0.0.2, 127.0.0.3]\n  trusted_skip_auth: true\n", dsn, redis.URL())
	nodes := startNodes(t, []string{"127.0.0.2", "127.0.0.3"}, common, dirs)
	n2, n3 := nodes[0], nodes[1]
	// A node learns of one that joined at its next read of the members,
	// within a heartbeat interval (1 s, docs/CLUSTER.md "Call records"):
	// a call relayed before that is recorded by both. baresip and sipp
	// were quick enough on a quiet machine to call 0.35 s after node 3
	// started, and node 2 wrote a second record.
	time.Sleep(1500 * time.Millisecond)
	for user, pw := range map[string]string{"alice": "alice-pw-1", "bob": "bob-pw-22", "user1": "user1-pw-3"} {
		cmd := exec.Command(parleyBin, "user", "add", "--config", n2.config, "--password-stdin", user+"@example.com")
		cmd.Stdin = strings.NewReader(pw + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("parley user add %s: %v\n%s", user, err, out)
		}
	}

	// Challenged by node 2, answered at node 3.
	phone := newRegistrar(t, n2.Addr)
	contact := fmt.Sprintf("Contact: <sip:user1@%s>\r\nExpires: 300\r\n", phone.conn.LocalAddr())
	challenge := phone.send(t, 1, contact)
	if status(challenge) != 401 {
		t.Fatalf("REGISTER without credentials at node 2: %d, want 401", status(challenge))
	}
	realm := regexp.MustCompile(`realm="([^"]+)"`).FindStringSubmatch(challenge)
	nonce := regexp.MustCompile(`nonce="([^"]+)"`).FindStringSubmatch(challenge)
	if realm == nil || nonce == nil {
		t.Fatalf("401 without realm and nonce: %q", challenge)
	}
	ha1 := fmt.Sprintf("%x", md5.Sum([]byte("user1:"+realm[1]+":user1-pw-3")))
	const cnonce, nc = "e2ecnonce", "00000001"
	digest := auth.Response("MD5", ha1, "REGISTER", "sip:example.com", nonce[1], nc, cnonce, "auth")
	phone.server, _ = net.ResolveUDPAddr("udp", n3.Addr)
	creds := fmt.Sprintf(`Authorization: Digest username="user1", realm=%q, nonce=%q, uri="sip:example.com", response=%q, algorithm=MD5, qop=auth, nc=%s, cnonce=%q`+"\r\n",
		realm[1], nonce[1], digest, nc, cnonce)
	if resp := phone.send(t, 1, creds+contact); status(resp) != 200 {
		t.Fatalf("node 2's nonce answered at node 3: %q, want 200", strings.SplitN(resp, "\r\n", 2)[0])
	}

	bob := startSoftphone(t, "bob", fmt.Sprintf(`<sip:bob@example.com>;auth_pass=bob-pw-22;outbound="sip:%s;transport=tcp";regint=600;answermode=auto`, n2.Addr))
	bob.waitLog(reRegistered, phoneWait)
	startSipp(t, "-sf", scenario("uac_call_auth.xml"), "-s", "bob", "-au", "alice", "-ap", "alice-pw-1", "-d", "300", n3.Addr).ExpectSuccess()
	if got := countIn(t, n2.logPath, relayedToFlow("n2")); got != 1 {
		t.Errorf("node 2 relayed %d INVITEs along its Path, want 1", got)
	}
	if strings.Contains(readFile(t, n2.logPath), "SIP/2.0 407") {
		t.Error("node 2 challenged a call node 3 had authenticated")
	}
	bob.quit()

	// The call passed both nodes; node 3, where it entered, records it,
	// and node 2, which got it from node 3, leaves it to node 3: one
	// record in the shared table.
	want := "n3"
	var got string
	for deadline := time.Now().Add(10 * time.Second); got != want && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got = cdrNodes(t, dsn)
	}
	// Node 2 ended the call too, and would have handed its record to the
	// writer with the log line; give a commit time to land.
	if !waitForText(n2.logPath, `msg="call ended"`, 10*time.Second, n2.exited) {
		t.Error("node 2 did not log the call's end")
	}
	time.Sleep(time.Second)
	rows := cdrRows(t, dsn)
	if got != want || len(rows) != 1 {
		t.Fatalf("call records (node source call_id) %q, want one, by node %s", rows, want)
	}
	if src := strings.Fields(rows[0])[1]; strings.HasPrefix(src, "127.0.0.2:") || strings.HasPrefix(src, "127.0.0.3:") {
		t.Errorf("the record's source is node address %s, want the caller's", src)
	}
}

// cdrRows lists the shared cdrs table's records as "node source call_id".
func cdrRows(t *testing.T, dsn string) []string {
	t.Helper()
	ctx, conn, done := pgConn(t, dsn)
	defer done()
	rows, err := conn.Query(ctx, "SELECT node || ' ' || source || ' ' || call_id FROM cdrs ORDER BY node")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// cdrNodes lists the nodes with a record in the shared cdrs table.
func cdrNodes(t *testing.T, dsn string) string {
	t.Helper()
	ctx, conn, done := pgConn(t, dsn)
	defer done()
	rows, err := conn.Query(ctx, "SELECT DISTINCT node FROM cdrs ORDER BY node")
	if err != nil {
		return "" // the table is made when a node starts; not yet, or failing
	}
	nodes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(nodes, " ")
}

// TestClusterVisibility measures how soon a binding registered at one
// node is seen at another: after each of 200 REGISTERs at node 1 is
// acknowledged, node 2 is asked (a REGISTER without Contact, which reads
// through its cache) until it lists the binding. The figures are logged
// for docs/PERFORMANCE.md; the test fails only when a binding is not seen
// within a second, which is incoherence rather than slowness. The nodes
// find Redis through a Sentinel, as a deployment with failover would.
func TestClusterVisibility(t *testing.T) {
	sentinel, _, _ := redistest.StartSentinel(t, "parley", 0)
	nodes := startNodes(t, []string{"127.0.0.1", "127.0.0.2"}, "storage:\n  engine: memory\n  location: redis\n  redis_url: '"+sentinel+"'\n", nil)
	at1, at2 := newRegistrar(t, nodes[0].Addr), newRegistrar(t, nodes[1].Addr)
	const rounds = 200
	lags := make([]time.Duration, 0, rounds)
	for i := range rounds {
		if code, _ := at2.query(t, i); code != 200 { // node 2 has read (and cached) the empty set
			t.Fatalf("query of user%d at node 2: %d", i, code)
		}
		if code, _ := at1.register(t, i, 300); code != 200 {
			t.Fatalf("REGISTER user%d at node 1: %d", i, code)
		}
		acked := time.Now()
		for {
			_, n := at2.query(t, i)
			if n == 1 {
				break
			}
			if time.Since(acked) > time.Second {
				t.Fatalf("user%d's binding not seen at node 2 within 1 s of node 1's 200", i)
			}
		}
		lags = append(lags, time.Since(acked))
	}
	slices.Sort(lags)
	t.Logf("binding visible at the other node after node 1's 200 (including one query's round trip): p50 %v, p99 %v, max %v",
		lags[rounds/2], lags[rounds*99/100], lags[rounds-1])
}

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
