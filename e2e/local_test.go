package e2e

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAddressedToTheServer: a desk phone configured with the server's
// address or name as its "registrar" sends REGISTER sip:ADDRESS with its
// address of record in To. The real binary, serving example.com, must
// register the To's AOR for the server's listen address, localhost and a
// configured alias alike, answer OPTIONS to them, and refuse with 420 a
// Require it does not support. Each request goes over a raw UDP socket.
func TestAddressedToTheServer(t *testing.T) {
	p := startParley(t, "--config", writeConfig(t, "aliases: [pbx.test]\n"))
	port := strconv.Itoa(p.Port)
	tests := []struct {
		name, method, ruri string
		extra              string // header lines, each ending in CRLF
		status             string // the final response's status line
		want               string // a line the response must hold
	}{
		{"REGISTER to the listen address", "REGISTER", "sip:127.0.0.1:" + port,
			"Contact: <sip:alice@127.0.0.1:40001>\r\n", "SIP/2.0 200 OK", "Contact: <sip:alice@127.0.0.1:40001>;expires=3600"},
		{"REGISTER to localhost", "REGISTER", "sip:localhost:" + port,
			"Contact: <sip:alice@127.0.0.1:40002>\r\n", "SIP/2.0 200 OK", "<sip:alice@127.0.0.1:40002>;expires=3600"},
		{"REGISTER to an alias", "REGISTER", "sip:pbx.test:" + port,
			"Contact: <sip:alice@127.0.0.1:40003>\r\n", "SIP/2.0 200 OK", "<sip:alice@127.0.0.1:40003>;expires=3600"},
		{"the AOR holds all three", "REGISTER", "sip:example.com", "", "SIP/2.0 200 OK", "<sip:alice@127.0.0.1:40001>;expires="},
		{"OPTIONS to localhost", "OPTIONS", "sip:localhost:" + port, "", "SIP/2.0 200 OK", "Supported: path"},
		{"OPTIONS to an alias", "OPTIONS", "sip:pbx.test:" + port, "", "SIP/2.0 200 OK", "Supported: path"},
		{"OPTIONS requiring an unknown extension", "OPTIONS", "sip:127.0.0.1:" + port,
			"Require: foo\r\n", "SIP/2.0 420 Bad Extension", "Unsupported: foo"},
		{"REGISTER requiring an unknown extension", "REGISTER", "sip:127.0.0.1:" + port,
			"Require: path, foo\r\nContact: <sip:alice@127.0.0.1:40004>\r\n", "SIP/2.0 420 Bad Extension", "Unsupported: foo"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := finalAnswer(t, p.Addr, func(local string) string {
				return request(tc.method, tc.ruri, "local-"+strconv.Itoa(i), tc.extra, local)
			})
			if status, _, _ := strings.Cut(resp, "\r\n"); status != tc.status || !strings.Contains(resp, tc.want) {
				t.Errorf("answer:\n%s\nwant %q with %q", resp, tc.status, tc.want)
			}
		})
	}
}

// request is a request for alice@example.com from local.
func request(method, ruri, callID, extra, local string) string {
	return method + " " + ruri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-" + callID + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:alice@example.com>\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 " + method + "\r\n" + extra + "Content-Length: 0\r\n\r\n"
}

// finalAnswer sends the request that build makes for its local address
// over UDP, resending it as a UAC would while nothing comes back, and
// returns the first final response.
func finalAnswer(t *testing.T, server string, build func(local string) string) string {
	t.Helper()
	conn, err := net.Dial("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := build(conn.LocalAddr().String())
	buf := make([]byte, 65535)
	for range 5 {
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				break
			}
			if !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 1")) {
				return string(buf[:n])
			}
		}
	}
	first, _, _ := strings.Cut(req, "\r\n")
	t.Fatalf("no final answer to %s", first)
	return ""
}
