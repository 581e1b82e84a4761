package server

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/sip"
)

// TestB2BUARelayTimed: in mode b2bua over UDP, the caller's INVITE, ACK
// and BYE relayed to the callee and the callee's 180 and 200 relayed to
// the caller are each counted once in parley_b2bua_relay_seconds, by
// message; the 100 Trying and the 200 to the BYE, the B2BUA's own, are
// not. The times come from the kernel's receive stamps, so only their
// bound is checked: each within a second.
func TestB2BUARelayTimed(t *testing.T) {
	cfg := testConfig(t)
	cfg.Mode = config.ModeB2BUA
	s := startServer(t, cfg)
	srv := s.Listeners()[0].Bound
	bob := listenUDP(t, "127.0.0.1")
	bobAt := bob.LocalAddr().String()
	if got := registerAs(t, srv, bob, "bob"); got != 200 {
		t.Fatalf("REGISTER answered %d", got)
	}
	alice := listenUDP(t, "127.0.0.1")
	aliceAt := alice.LocalAddr().String()
	send(t, alice, srv, "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP "+aliceAt+";branch=z9hG4bK-rl-1;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n"+
		"Call-ID: relay-test\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@"+aliceAt+">\r\nContent-Length: 0\r\n\r\n")
	inv := readMessage(t, bob, "INVITE")
	send(t, bob, srv, string(sip.NewResponse(inv, 180, "Ringing", "b1").Bytes()))
	send(t, bob, srv, string(sip.NewResponse(inv, 200, "OK", "b1", "Contact", "<sip:bob@"+bobAt+">").Bytes()))
	readMessage(t, alice, "SIP/2.0 180")
	ok := readMessage(t, alice, "SIP/2.0 200")
	to, contact := ok.Header("To"), ok.Header("Contact")
	target := strings.Trim(contact, "<>")
	inDialog := func(method string, seq int) string {
		return method + " " + target + " SIP/2.0\r\nVia: SIP/2.0/UDP " + aliceAt + ";branch=z9hG4bK-rl-" + method + ";rport\r\n" +
			"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: " + to + "\r\nCall-ID: relay-test\r\n" +
			"CSeq: " + strconv.Itoa(seq) + " " + method + "\r\nContent-Length: 0\r\n\r\n"
	}
	send(t, alice, srv, inDialog("ACK", 1))
	readMessage(t, bob, "ACK")
	send(t, alice, srv, inDialog("BYE", 2))
	bye := readMessage(t, bob, "BYE")
	send(t, bob, srv, string(sip.NewResponse(bye, 200, "OK", "").Bytes()))
	readMessage(t, alice, "SIP/2.0 200")

	_, metrics := get(t, "http://"+s.obs.admin.Addr().String()+"/metrics")
	for _, tt := range []struct {
		message string
		n       int
	}{{"INVITE", 1}, {"ACK", 1}, {"BYE", 1}, {"other", 0}, {"1xx", 1}, {"2xx", 1}, {"3xx-6xx", 0}} {
		for _, want := range []string{
			fmt.Sprintf(`parley_b2bua_relay_seconds_count{message=%q} %d`, tt.message, tt.n),
			fmt.Sprintf(`parley_b2bua_relay_seconds_bucket{message=%q,le="1"} %d`, tt.message, tt.n),
		} {
			if !strings.Contains(metrics, want+"\n") {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	}
}

// registerAs registers user's Contact at c's address and returns the
// final response's status code.
func registerAs(t *testing.T, srv netip.AddrPort, c *net.UDPConn, user string) int {
	t.Helper()
	local := c.LocalAddr().String()
	send(t, c, srv, "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP "+local+";branch=z9hG4bK-reg-"+user+";rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:"+user+"@example.com>;tag=r1\r\nTo: <sip:"+user+"@example.com>\r\n"+
		"Call-ID: reg-"+user+"\r\nCSeq: 1 REGISTER\r\nContact: <sip:"+user+"@"+local+">\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n")
	for {
		if resp := readMessage(t, c, "SIP/2.0 "); resp.StatusCode() >= 200 {
			return resp.StatusCode()
		}
	}
}

func send(t *testing.T, c *net.UDPConn, to netip.AddrPort, msg string) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort([]byte(msg), to); err != nil {
		t.Fatal(err)
	}
}

// readMessage reads c until a message starting with prefix comes (a
// method, or a status line's start), skipping others (100 Trying), and
// returns it parsed.
func readMessage(t *testing.T, c *net.UDPConn, prefix string) *sip.Message {
	t.Helper()
	buf := make([]byte, 65535)
	for {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("no %s: %v", prefix, err)
		}
		if !strings.HasPrefix(string(buf[:n]), prefix) {
			continue
		}
		m, err := sip.Parse(append([]byte(nil), buf[:n]...))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
}
