package e2e

import (
	"crypto/md5"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/auth"
)

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
