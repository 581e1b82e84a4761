package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// minTokenLength keeps admin tokens out of guessing range: the API they
// guard can list every user's devices and remove their registrations.
const minTokenLength = 16

// maxAgentID is the largest HEP capture agent ID, a 32-bit field on the wire.
const maxAgentID = 1<<32 - 1

// admin checks the admin listener block.
func (ch *checker) admin(a AdminConfig) {
	if a.Listen != "" {
		host, err := splitAddr(a.Listen, 0)
		switch {
		case err != nil:
			ch.add("admin.listen", "%v", err)
		case a.Token == "" && !IsLoopbackHost(host):
			ch.either(
				alt{"admin.token", fmt.Sprintf("must be set when admin.listen (%s) is not a loopback address, since the API shows and removes registrations", a.Listen)},
				alt{"admin.listen", fmt.Sprintf("%s is not a loopback address, so admin.token must be set", a.Listen)},
			)
		}
	}
	if a.Token != "" && len(a.Token) < minTokenLength {
		ch.add("admin.token", "must be at least %d characters, got %d", minTokenLength, len(a.Token))
	}
	if strings.ContainsAny(a.Token, " \t\r\n") {
		ch.add("admin.token", "must not contain white space, as it travels in an HTTP header")
	}
	atLeast(ch, "admin.capture_messages", a.CaptureMessages, 0)
	atLeast(ch, "admin.capture_bytes", a.CaptureBytes, 0)
}

// hep checks the HEP exporter block.
func (ch *checker) hep(h HEPConfig) {
	if h.Address != "" {
		if _, err := splitAddr(h.Address, 1); err != nil {
			ch.add("hep.address", "%v", err)
		}
	}
	if h.AgentID < 0 || h.AgentID > maxAgentID {
		ch.add("hep.agent_id", "must be between 0 and %d, got %d", maxAgentID, h.AgentID)
	}
}

// splitAddr checks a HOST:PORT for a TCP or UDP socket and returns the host.
// An empty host (":8080") means every address. minPort is 0 where the
// kernel may choose the port and 1 where a peer's port is meant.
func splitAddr(s string, minPort int) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("must be HOST:PORT, like 127.0.0.1:8080 or [::1]:8080; got %q", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < minPort || n > 65535 {
		return "", fmt.Errorf("port must be between %d and 65535, got %q", minPort, port)
	}
	if host != "" && !validHost(host) {
		return "", fmt.Errorf("%q is neither an IP address nor a host name", host)
	}
	return host, nil
}

// IsLoopbackHost reports whether host (an IP address or a name, without
// port or brackets) reaches only this machine. Only "localhost" counts
// among names: any other name could resolve anywhere.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
