package proxy

import (
	"testing"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/transport"
)

// TestDuplicateURIParams: §19.1.1 forbids a URI parameter twice, but
// phones send it (baresip 1.0 dialling sip:bob@HOST;transport=udp writes
// ";transport=udp;transport=udp" into the Request-URI and To). Headers
// Parley only forwards go through byte for byte, never a 400; in a
// Request-URI or Route that Parley acts on, the first occurrence counts.
func TestDuplicateURIParams(t *testing.T) {
	tests := []struct {
		name   string
		edits  []string
		ruri   string // forwarded Request-URI
		dst    transport.Target
		route  []string          // forwarded Route lines
		intact map[string]string // headers that must leave as they came
	}{
		{
			name:  "To with a repeated transport",
			edits: []string{"To: <sip:bob@example.com;transport=udp;transport=udp>"},
			ruri:  "sip:bob@10.0.0.5:5062", dst: target(transport.UDP, "198.51.100.20:40000"),
			intact: map[string]string{"To": "<sip:bob@example.com;transport=udp;transport=udp>"},
		},
		{
			name:  "From with a repeated lr and a repeated header parameter",
			edits: []string{"From: Alice <sip:alice@example.com;lr;lr>;tag=a1;x=1;x=2"},
			ruri:  "sip:bob@10.0.0.5:5062", dst: target(transport.UDP, "198.51.100.20:40000"),
			intact: map[string]string{"From": "Alice <sip:alice@example.com;lr;lr>;tag=a1;x=1;x=2"},
		},
		{
			name:  "Contact and a forwarded-only header with repeats",
			edits: []string{"Contact: <sip:alice@198.51.100.7:5060;transport=udp;transport=udp;ob;ob>", "Refer-To: <sip:carol@example.com;user=phone;user=phone>"},
			ruri:  "sip:bob@10.0.0.5:5062", dst: target(transport.UDP, "198.51.100.20:40000"),
			intact: map[string]string{
				"Contact":  "<sip:alice@198.51.100.7:5060;transport=udp;transport=udp;ob;ob>",
				"Refer-To": "<sip:carol@example.com;user=phone;user=phone>",
			},
		},
		{
			name: "Request-URI of our domain with a repeated transport",
			edits: []string{"RURI sip:bob@example.com;transport=udp;transport=udp",
				"To: <sip:bob@example.com;transport=udp;transport=udp>"},
			ruri: "sip:bob@10.0.0.5:5062", dst: target(transport.UDP, "198.51.100.20:40000"),
			intact: map[string]string{"To": "<sip:bob@example.com;transport=udp;transport=udp>"},
		},
		{
			name:  "foreign Request-URI: the first transport picks TCP",
			edits: []string{"RURI sip:carol@203.0.113.50;transport=tcp;transport=udp"},
			ruri:  "sip:carol@203.0.113.50;transport=tcp;transport=udp", dst: target(transport.TCP, "203.0.113.50:5060"),
		},
		{
			name:  "our Route with a repeated lr is removed",
			edits: []string{"RURI sip:carol@203.0.113.50", "Route: <sip:192.0.2.1;lr;lr>"},
			ruri:  "sip:carol@203.0.113.50", dst: target(transport.UDP, "203.0.113.50:5060"),
		},
		{
			name:  "a foreign Route with repeats is followed and kept as it came",
			edits: []string{"RURI sip:carol@203.0.113.50", "Route: <sip:203.0.113.9:5080;transport=udp;transport=tcp;lr;lr>"},
			ruri:  "sip:carol@203.0.113.50", dst: target(transport.UDP, "203.0.113.9:5080"),
			route: []string{"<sip:203.0.113.9:5080;transport=udp;transport=tcp;lr;lr>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, defaultConfig())
			f.bind("sip:bob@example.com", location.Binding{Contact: "sip:bob@10.0.0.5:5062", Source: ap("198.51.100.20:40000")})
			c := forwardedOnce(t, f, req(t, "invite.sip", tt.edits...), tt.dst, tt.ruri)
			want := map[string][]string{"Route": tt.route}
			for name, value := range tt.intact {
				want[name] = []string{value}
			}
			checkHeaders(t, "forwarded", c.req, want)
		})
	}
}

// TestDuplicateURIParamsRegister: a REGISTER whose To, From and Contact
// repeat a parameter is a registration like any other; the AOR ignores
// URI parameters, and the first transport of the Contact is the binding's.
func TestDuplicateURIParamsRegister(t *testing.T) {
	f := newFixture(t, defaultConfig())
	m := req(t, "register.sip",
		"RURI sip:example.com;transport=udp;transport=udp",
		"From: <sip:carol@example.com;transport=udp;transport=udp>;tag=r1",
		"To: <sip:carol@example.com;transport=udp;transport=udp>",
		"Contact: <sip:carol@198.51.100.7:5060;transport=udp;transport=udp>")
	tx := f.serve(m)
	if got := tx.statuses(); len(got) != 1 || got[0] != "200 OK" {
		t.Fatalf("responses = %q, want 200 OK", got)
	}
	bs, err := f.store.Lookup(t.Context(), "sip:carol@example.com", t0)
	if err != nil || len(bs) != 1 {
		t.Fatalf("bindings of carol = %+v, %v; want one", bs, err)
	}
	if bs[0].Contact != "sip:carol@198.51.100.7:5060;transport=udp;transport=udp" {
		t.Errorf("binding contact = %q, want it as registered", bs[0].Contact)
	}
}

// TestBaresipDialledInvite is the INVITE baresip 1.0 sends when its account
// is <sip:alice@SERVER;transport=udp> and the user dials
// sip:bob@SERVER;transport=udp (testdata/invite-baresip-dup-transport.sip,
// as captured, with documentation addresses): with every domain served it
// reaches bob's binding, and its To, From and body leave as they came.
func TestBaresipDialledInvite(t *testing.T) {
	cfg := defaultConfig()
	cfg.Domains = func(string) bool { return true }
	f := newFixture(t, cfg)
	f.bind("sip:bob@192.0.2.1", location.Binding{Contact: "sip:bob-0x5643098c6a70@198.51.100.20:47120", Source: ap("198.51.100.20:47120")})
	in := req(t, "invite-baresip-dup-transport.sip")
	c := forwardedOnce(t, f, in, target(transport.UDP, "198.51.100.20:47120"), "sip:bob-0x5643098c6a70@198.51.100.20:47120")
	checkHeaders(t, "forwarded", c.req, map[string][]string{
		"To":   {"<sip:bob@192.0.2.1:5060;transport=udp;transport=udp>"},
		"From": {"<sip:alice@192.0.2.1:5060>;tag=725e63ab5eaaf3b5"},
	})
	if string(c.req.Body()) != string(in.Body()) {
		t.Errorf("body changed in forwarding")
	}
}
