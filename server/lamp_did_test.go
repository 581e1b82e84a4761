package server

import (
	"testing"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/observe"
)

// TestLampCallDID: a provider's call to a DID lights the lamp of the
// user the number rings, whether the number is in its Request-URI or
// only in its To; a number that is no DID, and a call from anywhere but
// a gateway, are shown as they came.
func TestLampCallDID(t *testing.T) {
	cfg := testConfig(t)
	cfg.Domains = []string{"office.example"}
	cfg.Gateways = []config.GatewayConfig{{Name: "provider", Address: "sip:192.0.2.50:5060"}}
	cfg.DIDs = map[string]string{"+4930123456": "201", "4930123457": "202@office.example"}
	s := startServer(t, cfg)
	tests := []struct {
		name, source, ruri, callee, want string
		lamp                             string // the resource lit, "" for none
	}{
		{"number in the Request-URI", "192.0.2.50:5060", "sip:+4930123456@192.0.2.1", "<sip:+4930123456@192.0.2.1>",
			"<sip:201@office.example>", "201@office.example"},
		{"number in To, display kept", "192.0.2.50:5060", "sip:office@192.0.2.1", `"Office" <sip:+4930123457@sip.provider.example>`,
			`"Office" <sip:202@office.example>`, "202@office.example"},
		{"no Request-URI, as the B2BUA reports its calls", "192.0.2.50:5060", "", "<sip:+4930123456@sip.provider.example>",
			"<sip:201@office.example>", "201@office.example"},
		{"no DID", "192.0.2.50:5060", "sip:office@192.0.2.1", "<sip:+4930999@192.0.2.1>", "<sip:+4930999@192.0.2.1>", ""},
		{"not from a gateway", "192.0.2.9:5060", "sip:+4930123456@192.0.2.1", "<sip:+4930123456@192.0.2.1>",
			"<sip:+4930123456@192.0.2.1>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := observe.Call{CallID: "c1", Source: tt.source, RequestURI: tt.ruri, Callee: tt.callee}
			got := s.lampCall(c)
			if got.Callee != tt.want {
				t.Errorf("callee %q, want %q", got.Callee, tt.want)
			}
			ev, ok := lampEvent(observe.CallAlerting, &got)
			if !ok {
				t.Fatal("not told")
			}
			if r, ok := s.lampResource(ev.Callee.Party.Identity); r != tt.lamp && (ok || tt.lamp != "") {
				t.Errorf("the lamp lit is %q (%v), want %q", r, ok, tt.lamp)
			}
		})
	}
}
