package proxy

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// phoneAddrTilde is phone i's source address as an alias value.
func phoneAddrTilde(i int) string {
	return strings.Replace(phoneAddr(i), ":", "~", 1) + "~udp"
}

// TestNATContactAlias: a dialog-creating request or response whose Contact
// is not the address it came from gets that address as an alias (nat.go);
// one whose Contact is its source, or that came through another proxy, is
// left alone.
func TestNATContactAlias(t *testing.T) {
	tests := []struct {
		name    string
		edits   []string
		contact string
	}{
		{"contact is the source", nil, "<sip:alice@198.51.100.7:5060>"},
		{"private contact", []string{"Contact: <sip:alice@10.0.0.5:5060>"}, "<sip:alice@10.0.0.5:5060;alias=198.51.100.7~5060~udp>"},
		{"private contact with display name and parameters", []string{"Contact: \"A\" <sip:alice@192.168.1.7:5070;transport=udp>;+sip.instance=\"<urn:x>\""},
			"\"A\" <sip:alice@192.168.1.7:5070;transport=udp;alias=198.51.100.7~5060~udp>;+sip.instance=\"<urn:x>\""},
		// A phone that listens on another port than it sends from, or a
		// registration for another device: the Contact is reachable.
		{"public contact, other port", []string{"Contact: <sip:alice@198.51.100.7:5070>"}, "<sip:alice@198.51.100.7:5070>"},
		{"public contact, other address", []string{"Contact: <sip:alice@203.0.113.40>"}, "<sip:alice@203.0.113.40>"},
		{"came through a proxy", []string{"Contact: <sip:alice@10.0.0.5>", "+Via: SIP/2.0/UDP 203.0.113.9;branch=z9hG4bKup"}, "<sip:alice@10.0.0.5>"},
		{"host name", []string{"Contact: <sip:alice@pbx.example.net>"}, "<sip:alice@pbx.example.net>"},
		// RFC 7118 §5: a web phone's Contact host can never be resolved.
		{"web phone under .invalid", []string{"Contact: <sip:h7kj3l@df7jal23ls0d.invalid;transport=ws>;+sip.ice"},
			"<sip:h7kj3l@df7jal23ls0d.invalid;transport=ws;alias=198.51.100.7~5060~udp>;+sip.ice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, defaultConfig())
			f.bind("sip:bob@example.com", location.Binding{Contact: phoneContact(0), Source: ap(phoneAddr(0))})
			f.serve(req(t, "invite.sip", tc.edits...))
			sent := f.txs.all("INVITE")
			if len(sent) != 1 {
				t.Fatalf("%d INVITEs forwarded, want 1", len(sent))
			}
			if got := sent[0].req.Header("Contact"); got != tc.contact {
				t.Errorf("Contact = %q, want %q", got, tc.contact)
			}
		})
	}
}

// TestNATAliasRouting: an in-dialog request whose Request-URI carries our
// alias goes to the alias address, without the parameter.
func TestNATAliasRouting(t *testing.T) {
	f := newFixture(t, defaultConfig())
	f.serve(req(t, "bye.sip", "RURI sip:bob@10.0.1.1;alias=198.51.100.21~40000~tcp"))
	sent := f.txs.all("BYE")
	if len(sent) != 1 {
		t.Fatalf("%d BYEs forwarded, want 1", len(sent))
	}
	if got := sent[0].req.RequestURI(); got != "sip:bob@10.0.1.1" {
		t.Errorf("Request-URI = %q, want the alias removed", got)
	}
	if want := target(transport.TCP, "198.51.100.21:40000"); !sameDst(sent[0].dst, want) {
		t.Errorf("sent to %+v, want %+v", sent[0].dst, want)
	}
}

// TestStreamContactAlias: a dialog-creating request that came on a TCP or
// TLS connection whose Contact names another address than the
// connection's far end gets the connection as its alias: baresip over TLS
// connects from an ephemeral port and accepts no TLS at its Contact, so
// the callee's BYE reaches it only over its connection.
func TestStreamContactAlias(t *testing.T) {
	tests := []struct {
		name    string
		contact string
		want    string
	}{
		{"contact on another port than the connection", "Contact: <sip:alice@198.51.100.7:35071;transport=tls>",
			"<sip:alice@198.51.100.7:35071;transport=tls;alias=198.51.100.7~40001~tcp>"},
		{"contact with no port", "Contact: <sip:alice@198.51.100.7;transport=tcp>",
			"<sip:alice@198.51.100.7;transport=tcp;alias=198.51.100.7~40001~tcp>"},
		{"contact is the connection", "Contact: <sip:alice@198.51.100.7:40001;transport=tcp>",
			"<sip:alice@198.51.100.7:40001;transport=tcp>"},
		{"host name", "Contact: <sip:alice@phone.example.net;transport=tcp>",
			"<sip:alice@phone.example.net;transport=tcp>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, defaultConfig())
			f.bind("sip:bob@example.com", location.Binding{Contact: phoneContact(0), Source: ap(phoneAddr(0))})
			f.serveIn(aliceFlow(req(t, "invite.sip", tc.contact, "Via: SIP/2.0/TCP 198.51.100.7:35071;branch=z9hG4bKuac1")))
			sent := f.txs.all("INVITE")
			if len(sent) != 1 {
				t.Fatalf("%d INVITEs forwarded, want 1", len(sent))
			}
			if got := sent[0].req.Header("Contact"); got != tc.want {
				t.Errorf("Contact = %q, want %q", got, tc.want)
			}
		})
	}
}

// openConns is the fake transport with open connections by peer address.
type openConns struct {
	*fakeTransport
	byPeer map[netip.AddrPort]transport.ConnID
}

func (o openConns) ConnTo(_ transport.Proto, addr netip.AddrPort) transport.ConnID {
	return o.byPeer[addr]
}

// TestStreamAliasRouting: an in-dialog request to a Contact aliased to a
// connection goes over that connection while it is open; once it has
// closed, to a public Contact (the phone may listen there; nothing
// listens on the ephemeral port it connected from), and to the alias for
// a private one, which cannot be reached.
func TestStreamAliasRouting(t *testing.T) {
	tests := []struct {
		name string
		ruri string
		open map[netip.AddrPort]transport.ConnID
		want transport.Target
	}{
		{"connection open", "sip:alice@198.51.100.7:35071;transport=tcp;alias=198.51.100.7~40001~tcp",
			map[netip.AddrPort]transport.ConnID{ap("198.51.100.7:40001"): 7},
			transport.Target{Proto: transport.TCP, Addr: ap("198.51.100.7:35071"), Conn: 7}},
		{"connection closed: the public contact", "sip:alice@198.51.100.7:35071;transport=tcp;alias=198.51.100.7~40001~tcp", nil,
			transport.Target{Proto: transport.TCP, Addr: ap("198.51.100.7:35071")}},
		{"connection closed, private contact: the alias", "sip:alice@10.0.0.5:5060;transport=tcp;alias=198.51.100.7~40001~tcp", nil,
			target(transport.TCP, "198.51.100.7:40001")},
		{"UDP: the alias", "sip:alice@10.0.0.5:5060;alias=198.51.100.7~40001~udp",
			map[netip.AddrPort]transport.ConnID{ap("198.51.100.7:40001"): 7},
			target(transport.UDP, "198.51.100.7:40001")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, defaultConfig())
			f.p.tp = openConns{f.tp, tc.open}
			f.serve(req(t, "bye.sip", "RURI "+tc.ruri))
			sent := f.txs.all("BYE")
			if len(sent) != 1 {
				t.Fatalf("%d BYEs forwarded, want 1", len(sent))
			}
			if got := sent[0].req.RequestURI(); strings.Contains(got, "alias=") {
				t.Errorf("Request-URI = %q, want the alias removed", got)
			}
			if !sameDst(sent[0].dst, tc.want) {
				t.Errorf("sent to %+v, want %+v", sent[0].dst, tc.want)
			}
		})
	}
}

// TestBindingDestination: which address a call to a binding goes to.
func TestBindingDestination(t *testing.T) {
	tests := []struct {
		name    string
		binding location.Binding
		want    transport.Target
	}{
		{"private contact: the registering flow",
			location.Binding{Contact: "sip:bob@10.0.1.1:5060", Source: ap("198.51.100.21:40000"), Transport: "udp"},
			target(transport.UDP, "198.51.100.21:40000")},
		{"public contact registered from elsewhere: the contact",
			location.Binding{Contact: "sip:bob@203.0.113.50:5090", Source: ap("198.51.100.9:5081"), Transport: "udp"},
			target(transport.UDP, "203.0.113.50:5090")},
		{"TCP: the registering connection, the contact to redial",
			location.Binding{Contact: "sip:bob@203.0.113.50:5090;transport=tcp", Source: ap("203.0.113.50:41234"), Transport: "tcp", ConnID: 7},
			transport.Target{Proto: transport.TCP, Addr: ap("203.0.113.50:5090"), Conn: 7}},
		{"WebSocket: the registering connection, never DNS on .invalid",
			location.Binding{Contact: "sip:bob@df7jal23ls0d.invalid;transport=ws", Source: ap("198.51.100.21:52100"), Transport: "ws", ConnID: 9},
			transport.Target{Proto: transport.WS, Addr: ap("198.51.100.21:52100"), Conn: 9}},
		{"WSS, .invalid in upper case with a root dot",
			location.Binding{Contact: "sip:bob@X.INVALID.;transport=wss", Source: ap("198.51.100.21:52101"), Transport: "wss", ConnID: 10},
			transport.Target{Proto: transport.WSS, Addr: ap("198.51.100.21:52101"), Conn: 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, defaultConfig())
			for _, p := range []transport.Proto{transport.WS, transport.WSS} {
				f.tp.listeners = append(f.tp.listeners, &transport.ListenerInfo{Proto: p, Bound: ap("192.0.2.1:8443"), Host: "192.0.2.1", Port: 8443})
			}
			f.bind("sip:bob@example.com", tc.binding)
			f.serve(req(t, "invite.sip"))
			sent := f.txs.all("INVITE")
			if len(sent) != 1 {
				t.Fatalf("%d INVITEs forwarded, want 1", len(sent))
			}
			if !sameDst(sent[0].dst, tc.want) {
				t.Errorf("sent to %+v, want %+v", sent[0].dst, tc.want)
			}
		})
	}
}

// TestNoOpenRelay: requests that did not come through our Record-Route,
// or that carry a route past us, do not skip the stages that guard the
// server (routeStage).
func TestNoOpenRelay(t *testing.T) {
	f := newFixture(t, defaultConfig())
	tx := f.serve(req(t, "bye.sip", "-Route"))
	if got := tx.statuses(); len(got) != 1 || got[0] != "404 Not Here" {
		t.Errorf("in-dialog BYE without our Route: upstream = %q, want [404 Not Here]", got)
	}
	if n := len(f.txs.all("")); n != 0 {
		t.Errorf("%d requests forwarded, want none", n)
	}
	// A preloaded route to elsewhere is followed, but only after the
	// stages: an unknown Max-Forwards-0 request is still refused.
	tx = f.serve(req(t, "invite.sip", "Route: <sip:203.0.113.7;lr>", "Max-Forwards: 0"))
	if got := tx.statuses(); len(got) != 1 || got[0] != "483 Too Many Hops" {
		t.Errorf("preloaded route with Max-Forwards 0: upstream = %q, want [483 Too Many Hops]", got)
	}
	f.serve(req(t, "invite.sip", "Route: <sip:203.0.113.7;lr>"))
	sent := f.txs.all("INVITE")
	if len(sent) != 1 || !sameDst(sent[0].dst, target(transport.UDP, "203.0.113.7:5060")) {
		t.Fatalf("preloaded route: forwarded %d INVITEs, want 1 to 203.0.113.7:5060", len(sent))
	}
	if got := sent[0].req.RequestURI(); got != "sip:bob@example.com" {
		t.Errorf("preloaded route: Request-URI = %q, want it untouched by the location service", got)
	}
}

// fakeResolver answers every name with the same destinations.
type fakeResolver struct{ dsts []transport.Target }

func (f fakeResolver) Resolve(context.Context, *sip.URI) ([]transport.Target, error) {
	return append([]transport.Target(nil), f.dsts...), nil
}

func (f fakeResolver) ResolveHost(context.Context, string) (netip.Addr, error) {
	return f.dsts[0].Addr.Addr(), nil
}

// TestFailover is RFC 3263 §4.3: a request for another domain whose first
// server answers 503, or none at all, goes on to the next address DNS
// gave; the caller sees only the final outcome.
func TestFailover(t *testing.T) {
	first, second := target(transport.UDP, "203.0.113.1:5060"), target(transport.UDP, "203.0.113.2:5060")
	for _, code := range []int{503, 408} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			f := newFixture(t, defaultConfig())
			f.useResolver(fakeResolver{dsts: []transport.Target{first, second}})
			tx := f.serve(req(t, "invite.sip", "RURI sip:carol@other.net"))
			sent := f.waitTxs("INVITE", 1)
			if len(sent) != 1 || !sameDst(sent[0].dst, first) {
				t.Fatalf("first attempt: %d INVITEs, want 1 to %v", len(sent), first.Addr)
			}
			sent[0].deliver(t, code, "")
			sent = f.txs.all("INVITE")
			if len(sent) != 2 || !sameDst(sent[1].dst, second) {
				t.Fatalf("after %d: %d INVITEs, want a second to %v", code, len(sent), second.Addr)
			}
			if got := tx.statuses(); len(got) != 0 {
				t.Fatalf("upstream = %q before the last destination answered", got)
			}
			sent[1].deliver(t, 200, "t2")
			if got := tx.statuses(); len(got) != 1 || got[0] != "200 OK" {
				t.Errorf("upstream = %q, want [200 OK]", got)
			}
		})
	}
	t.Run("all fail", func(t *testing.T) {
		f := newFixture(t, defaultConfig())
		f.useResolver(fakeResolver{dsts: []transport.Target{first, second}})
		tx := f.serve(req(t, "invite.sip", "RURI sip:carol@other.net"))
		f.waitTxs("INVITE", 1)[0].deliver(t, 503, "")
		f.txs.all("INVITE")[1].deliver(t, 503, "")
		if got := tx.statuses(); len(got) != 1 || got[0] != "500 Server Internal Error" {
			t.Errorf("upstream = %q, want [500 Server Internal Error] (§16.7 step 6)", got)
		}
	})
}
