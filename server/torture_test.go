package server

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/sip"
)

// TestTortureEdges runs messages of the RFC 4475 and RFC 5118 corpus (in
// ../sip/testdata) through the whole server over UDP, and checks what it
// sends back: every final response it makes carries a To tag, no request
// is left with a 100 Trying and no final response, a request whose Via
// cannot be read is answered at its source address and port (as RFC 3581
// would), and an IPv6 received written without brackets is accepted.
// Sent-by addresses of the corpus are moved to the test's loopback socket,
// so that nothing leaves the machine.
func TestTortureEdges(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = append(cfg.Listen, config.Listener{Proto: config.ProtoUDP, Host: "::1", Port: 0})
	s := startServer(t, cfg)
	server, server6 := s.Listeners()[0].Bound, s.Listeners()[1].Bound
	tests := []struct {
		name string
		ipv6 bool // sent to and from ::1
		// msg makes the request from the client's address.
		msg func(local string) []byte
		// want checks what the server sent (the probe's 200 left out).
		want func(t *testing.T, got []*sip.Message)
	}{
		{"too many headers: 513 with a To tag", false, func(local string) []byte {
			return []byte(strings.Replace(string(optionsRequest(server, "UDP", local, "big")), "Content-Length: 0\r\n",
				strings.Repeat("X-Pad: 1\r\n", sip.DefaultLimits.MaxHeaders)+"Content-Length: 0\r\n", 1))
		}, finalWithToTag(513)},
		{"insuf: no 100 Trying without a final response", false, func(local string) []byte {
			return corpus(t, "rfc4475/insuf.sip", "192.0.2.95", local+";rport")
		}, noLoneTrying},
		{"badinv01: 400 at the source address", false, func(local string) []byte {
			return corpus(t, "rfc4475/badinv01.sip")
		}, func(t *testing.T, got []*sip.Message) {
			finalWithToTag(400)(t, got)
			if len(got) == 1 && got[0].Reason() != "Malformed Via" {
				t.Errorf("reason %q, want Malformed Via", got[0].Reason())
			}
		}},
		{"IPv6 received without brackets", false, func(local string) []byte {
			return corpus(t, "rfc5118/via-received-param-no-delim.sip",
				"[2001:db8::9:1];", local+";rport;",
				"sip:[2001:db8::10]", "sip:"+server.String())
		}, finalWithToTag(200)},
		{"IPv6 received without brackets over IPv6", true, func(local string) []byte {
			return corpus(t, "rfc5118/via-received-param-no-delim.sip",
				"[2001:db8::9:1];", local+";rport;",
				"sip:[2001:db8::10]", "sip:"+server6.String())
		}, finalWithToTag(200)},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from, to := "127.0.0.1:0", server
			if tc.ipv6 {
				from, to = "[::1]:0", server6
			}
			conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(from)))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.WriteToUDPAddrPort(tc.msg(conn.LocalAddr().String()), to); err != nil {
				t.Fatal(err)
			}
			tc.want(t, answersBeforeProbe(t, conn, to, "probe-"+strconv.Itoa(i)))
		})
	}
}

// corpus reads a torture message with each old/new pair replaced.
func corpus(t *testing.T, name string, replace ...string) []byte {
	t.Helper()
	b, err := os.ReadFile("../sip/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.NewReplacer(replace...).Replace(string(b)))
}

// answersBeforeProbe sends an OPTIONS probe after whatever the test sent
// and returns every message that arrives before the probe's answer: the
// server handles one socket's datagrams in order, so by then it has
// answered the test's message, or never will.
func answersBeforeProbe(t *testing.T, conn *net.UDPConn, server netip.AddrPort, callID string) []*sip.Message {
	t.Helper()
	if _, err := conn.WriteToUDPAddrPort(optionsRequest(server, "UDP", conn.LocalAddr().String(), callID), server); err != nil {
		t.Fatal(err)
	}
	var got []*sip.Message
	buf := make([]byte, 65535)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, _, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("no answer to the probe: %v", err)
		}
		if bytes.Contains(buf[:n], []byte("Call-ID: "+callID+"\r\n")) {
			return got
		}
		m, err := sip.Parse(bytes.Clone(buf[:n]))
		if err != nil {
			t.Fatalf("the server sent a message that does not parse (%v):\n%s", err, buf[:n])
		}
		got = append(got, m)
	}
}

// finalWithToTag wants exactly one response: a final one with code and a
// To tag (§8.2.6.2).
func finalWithToTag(code int) func(t *testing.T, got []*sip.Message) {
	return func(t *testing.T, got []*sip.Message) {
		t.Helper()
		if len(got) != 1 || got[0].StatusCode() != code {
			t.Fatalf("got %s, want one %d", statuses(got), code)
		}
		if to, err := got[0].To(); err != nil || to.Tag() == "" {
			t.Errorf("%d without a To tag: To: %s", code, got[0].Header("To"))
		}
	}
}

// noLoneTrying wants nothing, or a final response after any 100.
func noLoneTrying(t *testing.T, got []*sip.Message) {
	t.Helper()
	if len(got) > 0 && got[len(got)-1].StatusCode() < 200 {
		t.Errorf("got %s: a provisional response with no final one", statuses(got))
	}
}

func statuses(ms []*sip.Message) string {
	var out []string
	for _, m := range ms {
		out = append(out, strconv.Itoa(m.StatusCode())+" "+m.Reason())
	}
	return "[" + strings.Join(out, ", ") + "]"
}
