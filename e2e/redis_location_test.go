package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRedisLocation: parley with its registrations in Redis (a
// redis-server the test runs itself). REGISTERs are acknowledged and
// found again, a binding's expiry is logged; when Redis dies, REGISTERs
// get 503 with Retry-After and /readyz says 503; when it is back, parley
// takes REGISTERs again without a restart. The outage is logged once when
// it starts and once when it ends.
func TestRedisLocation(t *testing.T) {
	redis := startRedis(t)
	admin := "127.0.0.1:" + strconv.Itoa(freePort(t, false))
	cfg := writeConfig(t, fmt.Sprintf("storage:\n  engine: memory\n  location: redis\n  redis_url: %s\n"+
		"registrar:\n  min_expires: 1s\nadmin:\n  listen: %s\n", redis.URL(), admin))
	p := startParley(t, "--config", cfg, "--log-level", "info")
	phone := newRegistrar(t, p.Addr)
	ready := func() int { code, _ := httpGet(t, "http://"+admin+"/readyz"); return code }

	const acked = 10
	for i := range acked {
		if code, _ := phone.register(t, i, 300); code != 200 {
			t.Fatalf("REGISTER user%d: %d, want 200", i, code)
		}
	}
	for i := range acked {
		if code, contacts := phone.query(t, i); code != 200 || contacts != 1 {
			t.Fatalf("query of user%d: %d with %d contacts, want 200 with 1", i, code, contacts)
		}
	}
	if code, _ := phone.register(t, 99, 1); code != 200 {
		t.Fatalf("REGISTER for 1 s: %d, want 200", code)
	}
	expired := regexp.MustCompile(`level=INFO msg="registration expired" aor=sip:user99@example.com contact=sip:user99@127\.0\.0\.1:\d+ source=127\.0\.0\.1 user_agent=e2e-registrar transport=udp`)
	for deadline := time.Now().Add(5 * time.Second); !expired.MatchString(readFile(t, p.logPath)); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no registration expired line within 5 s of the binding's expiry")
		}
	}
	if code := ready(); code != 200 {
		t.Fatalf("/readyz with Redis up: %d, want 200", code)
	}

	redis.Kill()
	refused := 0
	for i := 0; i < 200 && (refused < 10 || ready() != 503); i++ { // at most 200 REGISTERs, 10 s and their answers
		code, retryAfter := phone.register(t, i%acked, 300)
		switch {
		case code == 503 && retryAfter != "":
			refused++
		case code != 503:
			t.Fatalf("REGISTER with Redis down: %d, want 503", code)
		default:
			t.Fatal("503 without Retry-After")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if refused < 10 || ready() != 503 {
		t.Fatalf("with Redis down: %d REGISTERs got 503 with Retry-After, /readyz %d; want 10 and 503", refused, ready())
	}
	if resp := phone.invite(t, 0); status(resp) != 503 || header(resp, "Retry-After") == "" {
		t.Errorf("INVITE to a registered user with Redis down: %q, want 503 with Retry-After", strings.SplitN(resp, "\r\n", 2)[0])
	}

	redis.Restart() // empty: this Redis keeps nothing on disk
	deadline := time.Now().Add(15 * time.Second)
	for ready() != 200 {
		if time.Now().After(deadline) {
			t.Fatal("/readyz not 200 within 15 s of Redis's return")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := range acked {
		if code, _ := phone.register(t, i, 300); code != 200 {
			t.Errorf("REGISTER user%d after Redis's return: %d, want 200", i, code)
		}
	}
	if code, contacts := phone.query(t, 0); code != 200 || contacts != 1 {
		t.Errorf("query of user0 after Redis's return: %d with %d contacts", code, contacts)
	}
	log := readFile(t, p.logPath)
	for _, want := range []string{`msg="location store unavailable"`, `msg="location store available again"`} {
		if n := strings.Count(log, want); n != 1 {
			t.Errorf("%d lines with %s, want 1", n, want)
		}
	}
}

// invite sends an INVITE from alice to userN and returns the first final
// response (the 100 Trying is skipped).
func (r *sipRegistrar) invite(t *testing.T, n int) string {
	t.Helper()
	r.seq++
	callID := fmt.Sprintf("invite-%d-%d", n, r.seq)
	local := r.conn.LocalAddr().String()
	msg := fmt.Sprintf("INVITE sip:user%d@example.com SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-invite-%d;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a%d\r\nTo: <sip:user%d@example.com>\r\n"+
		"Call-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@%s>\r\nContent-Length: 0\r\n\r\n",
		n, local, r.seq, r.seq, n, callID, local)
	return r.exchange(t, callID, msg)
}
