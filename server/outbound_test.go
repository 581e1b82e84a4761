package server

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
)

// flowTimerOf registers an outbound flow over UDP and returns the
// Flow-Timer of the 200.
func flowTimerOf(t *testing.T, srv netip.AddrPort, seq int) string {
	t.Helper()
	c := listenUDP(t, "127.0.0.1")
	local := c.LocalAddr().String()
	id := "flow-" + strconv.Itoa(seq)
	req := "REGISTER sip:example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-" + id + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=" + id + "\r\nTo: <sip:alice@example.com>\r\n" +
		"Call-ID: " + id + "\r\nCSeq: 1 REGISTER\r\nSupported: outbound\r\n" +
		`Contact: <sip:alice@` + local + `;ob>;+sip.instance="<urn:uuid:00000000-0000-4000-8000-000000000001>";reg-id=1` + "\r\n" +
		"Expires: 600\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.WriteToUDPAddrPort([]byte(req), srv); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("no 200 to REGISTER: %v", err)
		}
		msg := string(buf[:n])
		if !strings.HasPrefix(msg, "SIP/2.0 200") {
			continue
		}
		for _, l := range strings.Split(msg, "\r\n") {
			if v, ok := strings.CutPrefix(l, "Flow-Timer: "); ok {
				return v
			}
		}
		return ""
	}
}

// registrar.flow_timer is live: a reload changes the next 200's
// Flow-Timer, and a domain override wins over it.
func TestReloadFlowTimer(t *testing.T) {
	s, srv, _ := reloadServer(t, func(*config.Config) {})
	if got := flowTimerOf(t, srv, 1); got != "25" {
		t.Fatalf("Flow-Timer over UDP by default %q, want 25", got)
	}
	for i, step := range []struct {
		name string
		edit func(*config.Config)
		want string
	}{
		{"registrar.flow_timer", func(c *config.Config) { c.Registrar.FlowTimer = config.Duration(40 * time.Second) }, "40"},
		{"domain_overrides", func(c *config.Config) {
			c.Registrar.FlowTimer = config.Duration(40 * time.Second)
			c.DomainOverrides = map[string]config.RegistrarOverride{"example.com": {FlowTimer: ptr(config.Duration(15 * time.Second))}}
		}, "15"},
	} {
		next := config.Default()
		next.Listen, next.DataDir, next.Admin.Listen = s.Config().Listen, s.Config().DataDir, ""
		next.Domains = []string{"example.com"}
		step.edit(next)
		if err := s.Reload(next); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := flowTimerOf(t, srv, i+2); got != step.want {
			t.Errorf("%s: Flow-Timer %q, want %q", step.name, got, step.want)
		}
	}
}
