package e2e

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRelayDenied: out of the box, with authentication off, parley is not
// an open relay. An INVITE from mallory@evil.example to a number at a
// foreign address gets 403 Relaying Denied and nothing reaches that
// address; with proxy.relay: open the same INVITE is forwarded there.
// With passwords off even a From of our own domain lets nothing out (anyone
// can write it): our users call out once they prove who they are, or from
// a trusted network. The foreign address is 127.0.0.2, a loopback address parley does not listen
// on (so it is not one of its own names), where the test listens itself.
func TestRelayDenied(t *testing.T) {
	openCfg := writeConfig(t, "proxy:\n  relay: open\n")
	trustedCfg := writeConfig(t, "security:\n  trusted: [127.0.0.1/32]\n")
	authCfg := writeConfig(t, "auth:\n  enabled: true\n")
	tests := []struct {
		name      string
		domains   []string
		args      []string
		forwarded bool   // mallory's INVITE reaches the far end
		alice     string // what our own user calling out is answered
		logged    string // the startup line that says which policy is in force
	}{
		// With passwords off a From of ours is only a claim: anyone could
		// write it, so it lets nothing out.
		{name: "domain example.com", domains: []string{"example.com"}, alice: "403 Relaying Denied",
			logged: `relay=domains served="configured domains" domains=[example.com]`},
		{name: "no domains configured", domains: nil, alice: "403 Relaying Denied",
			logged: `relay=domains served="own names (no domains configured)" domains="[127.0.0.1 `},
		// With passwords on, our user calling out is asked to prove it.
		{name: "passwords on", domains: []string{"example.com"}, args: []string{"--config", authCfg},
			alice: "407 Proxy Authentication Required", logged: `relay=domains served="configured domains"`},
		// An office without passwords trusts its own network instead.
		{name: "trusted network", domains: []string{"example.com"}, args: []string{"--config", trustedCfg},
			forwarded: true, alice: "486 Busy Here", logged: `trusted=[127.0.0.1/32]`},
		{name: "relay open", domains: []string{"example.com"}, args: []string{"--config", openCfg}, forwarded: true,
			alice: "486 Busy Here", logged: `relay policy: open, requests between any domains are forwarded (proxy.relay: open)" relay=open`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startParleyServing(t, tt.domains, tt.args...)
			waitForText(p.logPath, "relay policy:", 5*time.Second, nil)
			if log := tail(p.logPath, 1<<20); strings.Count(log, "relay policy:") != 1 || !strings.Contains(log, tt.logged) {
				t.Errorf("the startup log does not say once which relay policy is in force (want %s)", tt.logged)
			}
			far := startFarEnd(t, "127.0.0.2")
			ruri := "sip:5551234@" + far.addr
			status := sendInvite(t, p.Addr, "mallory@evil.example", ruri)
			time.Sleep(300 * time.Millisecond) // anything forwarded would be there by now
			arrived := far.invitesFrom("mallory@evil.example")
			switch {
			case !tt.forwarded && (status != "403 Relaying Denied" || arrived != 0):
				t.Errorf("answer %q and %d INVITEs reached %s; want 403 Relaying Denied and none", status, arrived, far.addr)
			case tt.forwarded && (status != "486 Busy Here" || arrived == 0):
				t.Errorf("answer %q and %d INVITEs reached %s; want it forwarded and the 486 relayed back", status, arrived, far.addr)
			}
			// Our own user calling out: of example.com, or of parley's own
			// address when it has no domains.
			alice := "alice@example.com"
			if tt.domains == nil {
				alice = "alice@127.0.0.1"
			}
			status = sendInvite(t, p.Addr, alice, ruri)
			time.Sleep(300 * time.Millisecond)
			reached := far.invitesFrom(alice) > 0
			if status != tt.alice || reached != (tt.alice == "486 Busy Here") {
				t.Errorf("%s calling out: answer %q (reached the far end: %v), want %q", alice, status, reached, tt.alice)
			}
		})
	}
}

// sendInvite sends an INVITE from→ruri over UDP and returns its final
// answer's status ("" if none comes within 3 s).
func sendInvite(t *testing.T, server, from, ruri string) string {
	t.Helper()
	conn, err := net.Dial("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	id := strconv.FormatInt(time.Now().UnixNano(), 36)
	req := "INVITE " + ruri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + conn.LocalAddr().String() + ";branch=z9hG4bK-relay-" + id + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:" + from + ">;tag=r" + id + "\r\nTo: <" + ruri + ">\r\n" +
		"Call-ID: relay-" + id + "\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:caller@" + conn.LocalAddr().String() + ">\r\nContent-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return ""
		}
		if line, _, _ := bytes.Cut(buf[:n], []byte("\r\n")); !bytes.HasPrefix(line, []byte("SIP/2.0 1")) {
			return strings.TrimPrefix(string(line), "SIP/2.0 ")
		}
	}
}

// farEnd is a UDP endpoint standing for a foreign server: it answers
// every INVITE 486 Busy Here (so that parley's transactions end and it
// can stop at once) and records who sent them.
type farEnd struct {
	addr string
	conn net.PacketConn

	mu      sync.Mutex
	invites []string // the From header of each INVITE received
}

func startFarEnd(t *testing.T, host string) *farEnd {
	t.Helper()
	c, err := net.ListenPacket("udp4", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	f := &farEnd{addr: c.LocalAddr().String(), conn: c}
	done := make(chan struct{})
	go func() { defer close(done); f.serve() }()
	t.Cleanup(func() { c.Close(); <-done })
	return f
}

func (f *farEnd) serve() {
	buf := make([]byte, 65535)
	for {
		n, src, err := f.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		req := string(buf[:n])
		if !strings.HasPrefix(req, "INVITE ") {
			continue // the ACKs for our 486s
		}
		resp := "SIP/2.0 486 Busy Here\r\n"
		for _, line := range strings.Split(req, "\r\n") {
			name, value, _ := strings.Cut(line, ":")
			switch strings.ToLower(name) {
			case "from":
				f.mu.Lock()
				f.invites = append(f.invites, value)
				f.mu.Unlock()
				resp += line + "\r\n"
			case "via", "call-id", "cseq":
				resp += line + "\r\n"
			case "to":
				resp += line + ";tag=busy\r\n"
			}
		}
		f.conn.WriteTo([]byte(resp+"Content-Length: 0\r\n\r\n"), src)
	}
}

// invitesFrom counts the INVITEs (retransmissions included) whose From
// names user.
func (f *farEnd) invitesFrom(user string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, from := range f.invites {
		if strings.Contains(from, "sip:"+user+">") {
			n++
		}
	}
	return n
}
