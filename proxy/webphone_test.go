package proxy

import (
	"strings"
	"testing"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/transport"
)

// TestWebPhoneGolden: a REGISTER and an INVITE as JsSIP 3.13.8 sends them
// over WSS (testdata/*-jssip.sip, taken from the e2e test's trace). The
// REGISTER binds alice to the connection it came on; a call from a UDP
// phone to alice goes on that connection, with Record-Route doubled
// (transport=ws on the web phone's side), never to DNS for the .invalid
// Contact; alice's INVITE to a UDP phone leaves with its Contact aliased
// to her connection, so that the callee's BYE finds her.
func TestWebPhoneGolden(t *testing.T) {
	f := newFixture(t, defaultConfig())
	wss := &transport.ListenerInfo{Proto: transport.WSS, Bound: ap("192.0.2.1:8443"), Host: "192.0.2.1", Port: 8443}
	f.tp.listeners = append(f.tp.listeners, wss)
	browser := ap("198.51.100.30:52100")
	fromBrowser := func(name string, edits ...string) *transport.Incoming {
		return &transport.Incoming{Msg: req(t, name, edits...), Proto: transport.WSS, Source: browser,
			Local: wss.Bound, Conn: 77, Listener: wss}
	}

	tx := f.serveIn(fromBrowser("register-jssip.sip"))
	if got := tx.statuses(); len(got) != 1 || !strings.HasPrefix(got[0], "200") {
		t.Fatalf("REGISTER answered %q, want 200", got)
	}
	contact := tx.responses()[0].Header("Contact")
	if !strings.Contains(contact, "ath8p9h365lj.invalid;transport=ws") || !strings.Contains(contact, "+sip.instance=") {
		t.Errorf("200's Contact %q: want the web phone's, parameters as sent", contact)
	}

	f.serve(req(t, "invite.sip", "RURI sip:alice@example.com", "To: <sip:alice@example.com>"))
	c := onlyBranch(t, f)
	if want := (transport.Target{Proto: transport.WSS, Addr: browser, Conn: 77}); !sameDst(c.dst, want) {
		t.Errorf("call to alice sent to %+v, want her connection %+v", c.dst, want)
	}
	if c.req.RequestURI() != "sip:kadvnp5k@ath8p9h365lj.invalid;transport=ws" {
		t.Errorf("Request-URI %q, want alice's Contact", c.req.RequestURI())
	}
	checkHeaders(t, "INVITE to the web phone", c.req, map[string][]string{
		"Record-Route": {"<sip:192.0.2.1:8443;transport=ws;r2=on;lr>", "<sip:192.0.2.1:5060;r2=on;lr>"},
	})

	f.bind("sip:carol@example.com", location.Binding{Contact: "sip:carol@198.51.100.7:5060", Source: ap("198.51.100.7:5060")})
	f.serveIn(fromBrowser("invite-jssip.sip"))
	var out *clientTx
	for _, b := range f.txs.all("INVITE") {
		if strings.HasPrefix(b.req.RequestURI(), "sip:carol@") {
			out = b
		}
	}
	if out == nil {
		t.Fatal("alice's INVITE to carol was not forwarded")
	}
	checkHeaders(t, "INVITE from the web phone", out.req, map[string][]string{
		"Record-Route": {"<sip:192.0.2.1:5060;r2=on;lr>", "<sip:192.0.2.1:8443;transport=ws;r2=on;lr>"},
		"Contact":      {"<sip:kadvnp5k@ath8p9h365lj.invalid;transport=ws;ob;alias=198.51.100.30~52100~wss>"},
	})
}
