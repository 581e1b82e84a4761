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
// address; with proxy.relay: open the same INVITE is forwarded there. The
// foreign address is 127.0.0.2, a loopback address parley does not listen
// on (so it is not one of its own names), where the test listens itself.
func TestRelayDenied(t *testing.T) {
	openCfg := writeConfig(t, "proxy:\n  relay: open\n")
	tests := []struct {
		name      string
		domains   []string
		args      []string
		forwarded bool
		logged    string // the startup line that says which policy is in force
	}{
		{name: "domain example.com", domains: []string{"example.com"},
			logged: `relay=domains served="configured domains" domains=[example.com]`},
		{name: "no domains configured", domains: nil,
			logged: `relay=domains served="own names (no domains configured)" domains="[127.0.0.1 `},
		{name: "relay open", domains: []string{"example.com"}, args: []string{"--config", openCfg}, forwarded: true,
			logged: `relay policy: open, requests between any domains are forwarded (proxy.relay: open)" relay=open`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startParleyServing(t, tt.domains, tt.args...)
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
				t.Errorf("relay open: answer %q and %d INVITEs reached %s; want it forwarded and the 486 relayed back", status, arrived, far.addr)
			}
			// Our own users still call out, whatever the policy: of
			// example.com, or of parley's own address when it has no domains.
			alice := "alice@example.com"
			if tt.domains == nil {
				alice = "alice@127.0.0.1"
			}
			if status := sendInvite(t, p.Addr, alice, ruri); status != "486 Busy Here" || far.invitesFrom(alice) == 0 {
				t.Errorf("%s calling out: answer %q, want the far end's 486", alice, status)
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
