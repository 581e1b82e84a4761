package proxy

import (
	"net/netip"
	"testing"

	"github.com/parley-sip/parley/location"
)

// TestRelayCheck: with the relay closed (the default), an initial request
// is forwarded only when it comes from or goes to one of our domains, or
// comes from a trusted source; anything else gets 403 and goes nowhere.
func TestRelayCheck(t *testing.T) {
	mallory := "From: <sip:mallory@evil.example>;tag=m1"
	tests := []struct {
		name    string
		file    string
		edits   []string
		open    bool
		trusted bool
		auth    bool   // passwords on: a From of our domain is proved before it relays
		want    string // the answer upstream; "" when the request is forwarded
	}{
		{name: "a stranger calling a stranger is refused", file: "invite.sip",
			edits: []string{mallory, "RURI sip:5551234@203.0.113.9"}, want: "403 Relaying Denied"},
		{name: "an open relay forwards it", file: "invite.sip",
			edits: []string{mallory, "RURI sip:5551234@203.0.113.9"}, open: true},
		{name: "a trusted source may relay", file: "invite.sip",
			edits: []string{mallory, "RURI sip:5551234@203.0.113.9"}, trusted: true},
		{name: "our user may call out, once the password is asked", file: "invite.sip", auth: true,
			edits: []string{"RURI sip:5551234@203.0.113.9"}, want: "407 Proxy Authentication Required"},
		{name: "with passwords off a From of ours is only a claim", file: "invite.sip",
			edits: []string{"RURI sip:5551234@203.0.113.9"}, want: "403 Relaying Denied"},
		{name: "with passwords off a trusted source may call out", file: "invite.sip", trusted: true,
			edits: []string{"RURI sip:5551234@203.0.113.9"}},
		{name: "an OPTIONS no password guards does not relay on its From", file: "options.sip", auth: true,
			edits: []string{"RURI sip:203.0.113.9"}, want: "403 Relaying Denied"},
		{name: "a stranger may call our user", file: "invite.sip",
			edits: []string{mallory}},
		{name: "a stranger may not preload a route past us", file: "invite.sip",
			edits: []string{mallory, "Route: <sip:203.0.113.9;lr>"}, want: "403 Relaying Denied"},
		{name: "our user may preload a route, once the password is asked", file: "invite.sip", auth: true,
			edits: []string{"Route: <sip:203.0.113.9;lr>"}, want: "407 Proxy Authentication Required"},
		{name: "a MESSAGE between strangers is refused too", file: "message.sip",
			edits: []string{mallory, "RURI sip:eve@203.0.113.9"}, want: "403 Relaying Denied"},
		{name: "a stranger's OPTIONS to the server is answered", file: "options.sip",
			edits: []string{mallory, "RURI sip:192.0.2.1:5060"}, want: "200 OK"},
		{name: "a REGISTER for a foreign domain is refused", file: "register.sip",
			edits: []string{"RURI sip:evil.example", mallory, "To: <sip:mallory@evil.example>"}, want: "403 Domain Not Served Here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			if tt.auth {
				cfg = authConfig(t)
			}
			cfg.OpenRelay = func() bool { return tt.open }
			cfg.RelayTrusted = func(src netip.Addr) bool { return tt.trusted && src == uacAddr.Addr() }
			f := newFixture(t, cfg)
			f.bind("sip:bob@example.com", location.Binding{Contact: phoneContact(0), Source: ap(phoneAddr(0))})
			got := f.serve(req(t, tt.file, tt.edits...)).statuses()
			sent := f.txs.all("")
			switch {
			case tt.want == "" && (len(got) != 0 || len(sent) != 1):
				t.Errorf("answered %q, forwarded %d; want forwarded once, unanswered", got, len(sent))
			case tt.want != "" && (len(got) != 1 || got[0] != tt.want || len(sent) != 0):
				t.Errorf("answered %q, forwarded %d; want [%s] and nothing forwarded", got, len(sent), tt.want)
			}
		})
	}
}

// TestRelayCheckStatelessACK: a stateless proxy forwards an ACK with a To
// tag through the stages (it may be a non-2xx ACK taking its INVITE's
// path), so the relay check must hold for it too; an ACK is never
// answered, only dropped.
func TestRelayCheckStatelessACK(t *testing.T) {
	cfg := statelessConfig()
	cfg.RelayTrusted = nil
	f := newFixture(t, cfg)
	f.serve(req(t, "ack-2xx.sip", "-Route", "From: <sip:mallory@evil.example>;tag=m1", "RURI sip:5551234@203.0.113.9"))
	if msgs := f.tp.messages(); len(msgs) != 0 {
		t.Errorf("sent %d messages, want none: %+v", len(msgs), msgs)
	}
}
