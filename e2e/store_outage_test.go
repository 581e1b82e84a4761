package e2e

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-sip/parley/auth"
)

// TestStoreOutage: PostgreSQL goes away under REGISTER load (a proxy in
// front of it is cut) and comes back. Meanwhile REGISTERs get 503 with
// Retry-After and /readyz says 503; the log says so once when it starts
// and once when it ends, in slog lines only; and every binding
// acknowledged before is still there after, in memory and in the
// database.
func TestStoreOutage(t *testing.T) {
	dsn := outageDSN(t)
	pg := startCuttableProxy(t, postgresAddr(dsn))
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
	cfg := writeConfig(t, fmt.Sprintf("storage:\n  engine: postgres\n  dsn: %q\nadmin:\n  listen: %s\n",
		strings.Replace(dsn, postgresAddr(dsn), pg.addr(), 1), admin))
	p := startParley(t, "--config", cfg, "--log-level", "info")
	phone := newRegistrar(t, p.Addr)
	ready := func() int { code, _ := httpGet(t, "http://"+admin+"/readyz"); return code }

	const acked = 20
	for i := range acked {
		if code, _ := phone.register(t, i, 300); code != 200 {
			t.Fatalf("REGISTER user%d before the outage: %d, want 200", i, code)
		}
	}
	if code := ready(); code != 200 {
		t.Fatalf("/readyz before the outage: %d, want 200", code)
	}

	pg.cut()
	refused := 0
	for i := 0; i < 400 && (refused < 50 || ready() != 503); i++ { // at most 400 REGISTERs, 20 s
		code, retryAfter := phone.register(t, acked+i%40, 300) // new users, and refreshes
		switch {
		case code == 503 && retryAfter != "":
			refused++
		case code == 503:
			t.Fatalf("503 without Retry-After")
		case code != 200:
			t.Fatalf("REGISTER during the outage: %d, want 503 (or 200 before the cut shows)", code)
		}
		if code, _ := phone.register(t, i%acked, 300); code != 503 && code != 200 {
			t.Fatalf("refresh of an acknowledged binding during the outage: %d, want 503", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if refused < 50 || ready() != 503 {
		t.Fatalf("during the outage: %d REGISTERs got 503 with Retry-After, /readyz %d; want 50 and 503", refused, ready())
	}

	t.Logf("during the outage: %d REGISTERs answered 503 with Retry-After", refused)
	pg.restore()
	deadline := time.Now().Add(15 * time.Second)
	for ready() != 200 {
		if time.Now().After(deadline) {
			t.Fatal("/readyz not 200 within 15 s of the database's return")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := range acked {
		if code, contacts := phone.query(t, i); code != 200 || contacts != 1 {
			t.Errorf("user%d after the outage: %d with %d contacts, want its acknowledged binding", i, code, contacts)
		}
	}
	if n := storedAORs(t, dsn, acked); n != acked {
		t.Errorf("%d of the %d acknowledged AORs in the database after the outage", n, acked)
	}

	log := readFile(t, p.logPath)
	for _, want := range []string{`msg="location store unavailable"`, `msg="location store available again"`} {
		if n := strings.Count(log, want); n != 1 {
			t.Errorf("%d lines with %s, want 1", n, want)
		}
	}
	if !regexp.MustCompile(`msg="location store available again" down_for=\S+ failed=[1-9]`).MatchString(log) {
		t.Errorf("the end of the outage is logged without its counts")
	}
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if !strings.HasPrefix(line, "time=") {
			t.Errorf("a log line that is not slog's: %q", line)
		}
	}
}

// outageDSN returns the DSN of a fresh schema in the test PostgreSQL
// (PARLEY_TEST_POSTGRES_DSN, or the local one), dropped at the end; it
// skips the test when there is none, except under CI.
func outageDSN(t *testing.T) string {
	t.Helper()
	base := os.Getenv("PARLEY_TEST_POSTGRES_DSN")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "parley_outage_" + hex.EncodeToString(b)
	if err := pgExec(base, "CREATE SCHEMA "+schema); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL unreachable under CI: %v", err)
		}
		t.Skipf("PostgreSQL unreachable (set PARLEY_TEST_POSTGRES_DSN): %v", err)
	}
	t.Cleanup(func() { pgExec(base, "DROP SCHEMA "+schema+" CASCADE") })
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema + "&connect_timeout=2"
}

// pgConn connects to dsn for one check of at most 5 s; done closes the
// connection.
func pgConn(t *testing.T, dsn string) (ctx context.Context, conn *pgx.Conn, done func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return ctx, conn, func() { conn.Close(ctx); cancel() }
}

func pgExec(dsn, q string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, q)
	return err
}

// postgresAddr is the host:port of a postgres:// DSN.
func postgresAddr(dsn string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		panic(err)
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}

// storedAORs counts the AORs user0..user(n-1)@example.com with a row in
// the database.
func storedAORs(t *testing.T, dsn string, n int) int {
	t.Helper()
	ctx, conn, done := pgConn(t, dsn)
	defer done()
	var aors []string
	for i := range n {
		aors = append(aors, "sip:user"+strconv.Itoa(i)+"@example.com")
	}
	var got int
	if err := conn.QueryRow(ctx, "SELECT count(DISTINCT aor) FROM bindings WHERE aor = ANY($1)", aors).Scan(&got); err != nil {
		t.Fatal(err)
	}
	return got
}

// cuttableProxy relays TCP connections to a server until cut, which
// closes them all and refuses new ones, as a stopped server does;
// restore listens again on the same port.
type cuttableProxy struct {
	t      *testing.T
	target string
	port   int

	mu    sync.Mutex
	l     net.Listener
	conns []net.Conn
}

func startCuttableProxy(t *testing.T, target string) *cuttableProxy {
	p := &cuttableProxy{t: t, target: target, port: freePort(t, false)}
	p.restore()
	t.Cleanup(p.cut)
	return p
}

func (p *cuttableProxy) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

func (p *cuttableProxy) restore() {
	l, err := net.Listen("tcp", p.addr())
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go p.accept(l)
}

func (p *cuttableProxy) accept(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() { io.Copy(s, c); s.Close() }()
		go func() { io.Copy(c, s); c.Close() }()
	}
}

func (p *cuttableProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// sipRegistrar sends REGISTERs for userN@example.com over UDP and reads
// their answers.
type sipRegistrar struct {
	conn   *net.UDPConn
	server *net.UDPAddr
	seq    int
}

func newRegistrar(t *testing.T, server string) *sipRegistrar {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	addr, _ := net.ResolveUDPAddr("udp", server)
	return &sipRegistrar{conn: conn, server: addr}
}

// register binds sip:userN@LOCAL for expires seconds and returns the
// status code and Retry-After of the answer.
func (r *sipRegistrar) register(t *testing.T, n, expires int) (int, string) {
	t.Helper()
	resp := r.send(t, n, fmt.Sprintf("Contact: <sip:user%d@%s>\r\nExpires: %d\r\n", n, r.conn.LocalAddr(), expires))
	return status(resp), header(resp, "Retry-After")
}

// query asks for userN's bindings and returns the status code and how
// many contacts the answer lists.
func (r *sipRegistrar) query(t *testing.T, n int) (int, int) {
	t.Helper()
	resp := r.send(t, n, "")
	return status(resp), strings.Count(resp, "\r\nContact: ")
}

func (r *sipRegistrar) send(t *testing.T, n int, extra string) string {
	t.Helper()
	r.seq++
	callID := fmt.Sprintf("outage-%d-%d", n, r.seq)
	local := r.conn.LocalAddr().String()
	msg := fmt.Sprintf("REGISTER sip:example.com SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-outage-%d;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:user%d@example.com>;tag=t%d\r\nTo: <sip:user%d@example.com>\r\n"+
		"Call-ID: %s\r\nCSeq: 1 REGISTER\r\n%sUser-Agent: e2e-registrar\r\nContent-Length: 0\r\n\r\n",
		local, r.seq, n, r.seq, n, callID, extra)
	return r.exchange(t, callID, msg)
}

// exchange sends msg and returns the first final response with its
// Call-ID.
func (r *sipRegistrar) exchange(t *testing.T, callID, msg string) string {
	t.Helper()
	if _, err := r.conn.WriteToUDP([]byte(msg), r.server); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		k, _, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("no answer to %s: %v", callID, err)
		}
		resp := string(buf[:k])
		if strings.Contains(resp, "\r\nCall-ID: "+callID+"\r\n") && !strings.HasPrefix(resp, "SIP/2.0 100") {
			return resp
		}
	}
}

func status(resp string) int {
	code, _ := strconv.Atoi(strings.Fields(resp)[1])
	return code
}

func header(resp, name string) string {
	for _, line := range strings.Split(resp, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			return v
		}
	}
	return ""
}

// TestSubscriberStoreOutage is docs/CLUSTER.md's "PostgreSQL unreachable"
// row on a node with subscribers in PostgreSQL and registrations in
// Redis: while the database is cut, a phone whose subscriber the node
// has read goes on registering (from the node's cache), one it never
// read gets 503 with Retry-After, and the outage is logged once each
// way. Before the fix the cache failed every lookup on its version
// check, so every phone got 503 a second into the outage.
func TestSubscriberStoreOutage(t *testing.T) {
	dsn := outageDSN(t)
	pg := startCuttableProxy(t, postgresAddr(dsn))
	redis := startRedis(t)
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
	cfg := writeConfig(t, fmt.Sprintf("storage:\n  engine: postgres\n  dsn: %q\n  location: redis\n  redis_url: %s\n"+
		"auth:\n  enabled: true\nadmin:\n  listen: %s\n",
		strings.Replace(dsn, postgresAddr(dsn), pg.addr(), 1), redis.URL(), admin))
	for _, user := range []string{"user1", "user2"} {
		cmd := exec.Command(parleyBin, "user", "add", "--config", cfg, "--password-stdin", user+"@example.com")
		cmd.Stdin = strings.NewReader(user + "-pw\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("parley user add %s: %v\n%s", user, err, out)
		}
	}
	p := startParley(t, "--config", cfg, "--log-level", "info")
	phone := newRegistrar(t, p.Addr)

	if code, _ := registerWithPassword(t, phone, 1); code != 200 {
		t.Fatalf("user1 before the outage: %d, want 200", code)
	}
	pg.cut()
	time.Sleep(1500 * time.Millisecond) // past the cache's version check interval
	for range 2 {
		if code, _ := registerWithPassword(t, phone, 1); code != 200 {
			t.Errorf("user1, read before the outage, during it: %d, want 200 (the node's cache)", code)
		}
		if code, retryAfter := registerWithPassword(t, phone, 2); code != 503 || retryAfter == "" {
			t.Errorf("user2, never read, during the outage: %d with Retry-After %q, want 503 with one", code, retryAfter)
		}
	}
	pg.restore()
	deadline := time.Now().Add(15 * time.Second)
	for code, _ := registerWithPassword(t, phone, 2); code != 200; code, _ = registerWithPassword(t, phone, 2) {
		if time.Now().After(deadline) {
			t.Fatalf("user2 after the database's return: %d, want 200 within 15 s", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
	log := readFile(t, p.logPath)
	for _, want := range []string{`msg="subscriber store unavailable"`, `msg="subscriber store available again"`} {
		if n := strings.Count(log, want); n != 1 {
			t.Errorf("%d lines with %s, want 1:\n%s", n, want, tail(p.logPath, 3000))
		}
	}
}

// registerWithPassword registers userN (password userN-pw) for 300 s,
// answering the 401, and returns the final status and Retry-After.
func registerWithPassword(t *testing.T, phone *sipRegistrar, n int) (int, string) {
	t.Helper()
	contact := fmt.Sprintf("Contact: <sip:user%d@%s>\r\nExpires: 300\r\n", n, phone.conn.LocalAddr())
	challenge := phone.send(t, n, contact)
	if status(challenge) != 401 {
		return status(challenge), header(challenge, "Retry-After")
	}
	realm := regexp.MustCompile(`realm="([^"]+)"`).FindStringSubmatch(challenge)
	nonce := regexp.MustCompile(`nonce="([^"]+)"`).FindStringSubmatch(challenge)
	if realm == nil || nonce == nil {
		t.Fatalf("401 without realm and nonce: %q", challenge)
	}
	user := "user" + strconv.Itoa(n)
	ha1 := fmt.Sprintf("%x", md5.Sum([]byte(user+":"+realm[1]+":"+user+"-pw")))
	const cnonce, nc = "e2ecnonce", "00000001"
	digest := auth.Response("MD5", ha1, "REGISTER", "sip:example.com", nonce[1], nc, cnonce, "auth")
	creds := fmt.Sprintf(`Authorization: Digest username=%q, realm=%q, nonce=%q, uri="sip:example.com", response=%q, algorithm=MD5, qop=auth, nc=%s, cnonce=%q`+"\r\n",
		user, realm[1], nonce[1], digest, nc, cnonce)
	resp := phone.send(t, n, creds+contact)
	return status(resp), header(resp, "Retry-After")
}
