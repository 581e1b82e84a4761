package b2bua

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

var carolAt = netip.MustParseAddrPort("127.0.0.1:6003")

// locateCarol finds carol@example.com at carolAt and nobody else.
func locateCarol(_ context.Context, u sip.URI) ([]proxy.Target, error) {
	if u.User != "carol" {
		return nil, proxy.ErrNoBinding
	}
	return []proxy.Target{{URI: "sip:carol@127.0.0.1:6003", Dest: transport.Target{Proto: transport.UDP, Addr: carolAt}}}, nil
}

// fromB sends an in-dialog request of the callee's on the B leg.
func (cl *call) fromB(method string, cseq int, extra ...string) *fakeTx {
	cl.h.t.Helper()
	inv := cl.bInvite().req
	for _, s := range cl.h.net.requests("INVITE", cl.dst) {
		if s.req.ToTag() == "" && s.req.Header("Call-ID") == cl.c.bCallID {
			inv = s.req // the initial INVITE names the dialog
			break
		}
	}
	lines := append([]string{
		method + " sip:parley@127.0.0.1:5060 SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:6002;branch=z9hG4bK-" + newID(),
		"Max-Forwards: 70",
		"From: " + inv.Header("To") + ";tag=callee-tag",
		"To: " + inv.Header("From"),
		"Call-ID: " + inv.Header("Call-ID"),
		"CSeq: " + itoa(cseq) + " " + method,
		"Contact: <sip:bob@127.0.0.1:6002>",
	}, extra...)
	lines = append(lines, "Content-Length: 0")
	req := parse(cl.h.t, lines...)
	l := cl.h.b.leg(req)
	if l == nil {
		cl.h.t.Fatalf("%s from the callee matches no leg", method)
	}
	tx := &fakeTx{}
	if cl.h.viaStage {
		in := &transport.Incoming{Msg: req, Proto: transport.UDP, Source: cl.dst, Listener: ctlListener}
		cl.h.b.serveDialog(&proxy.Request{Tx: tx, In: in, Msg: req}, func() { cl.h.t.Fatalf("%s from the callee passed on", method) })
		return tx
	}
	cl.c.Post(func() { cl.c.inDialog(l, tx, req) })
	return tx
}

// sipfrags returns the status lines of the NOTIFYs sent to addr, with
// their Subscription-State.
func (h *harness) sipfrags(to netip.AddrPort) []string {
	var out []string
	for _, s := range h.net.requests("NOTIFY", to) {
		if s.req.Header("Event") != "refer;id=5" || !strings.HasPrefix(s.req.Header("Content-Type"), "message/sipfrag") {
			h.t.Errorf("NOTIFY with Event %q, Content-Type %q", s.req.Header("Event"), s.req.ContentType())
		}
		state, _, _ := strings.Cut(s.req.Header("Subscription-State"), ";")
		out = append(out, strings.TrimSpace(string(s.req.Body()))+" "+state)
	}
	return out
}

// TestBlindTransfer: alice calls bob through Parley; bob REFERs her to
// carol. Parley answers 202, calls carol with alice's session, reports
// carol's progress to bob in NOTIFYs, re-INVITEs alice with carol's
// session once carol answers, and hangs bob up. Alice and carol then talk
// in the same call, and a BYE from carol ends it for alice.
func TestBlindTransfer(t *testing.T) {
	h := newHarness(t, Control{}, Config{Locate: locateCarol})
	cl := h.dial("alice@example.com", Plan{})
	cl.answer()

	tx := cl.fromB("REFER", 5, "Refer-To: <sip:carol@example.com>", "Referred-By: <sip:bob@example.com>")
	if r := tx.last(); r == nil || r.StatusCode() != 202 {
		t.Fatalf("REFER answered %v", r)
	}
	invs := h.net.requests("INVITE", carolAt)
	if len(invs) != 1 {
		t.Fatalf("%d INVITEs to carol", len(invs))
	}
	inv := invs[0].req
	if string(inv.Body()) != "v=0" || !strings.Contains(inv.Header("From"), "sip:alice@example.com") ||
		inv.Header("Referred-By") != "<sip:bob@example.com>" {
		t.Fatalf("carol's INVITE: From %q Referred-By %q body %q", inv.Header("From"), inv.Header("Referred-By"), inv.Body())
	}
	for _, leak := range []string{cl.invite.Header("Call-ID"), "6001", "6002"} {
		if strings.Contains(string(inv.AppendTo(nil)), leak) {
			t.Errorf("carol's INVITE carries %q", leak)
		}
	}
	invs[0].respond(reparse(t, withHeaders(invs[0], 180)))
	ok := withHeaders(invs[0], 200, "Contact: <sip:carol@127.0.0.1:6003>")
	ok.SetBody("application/sdp", []byte("v=0 carol"))
	invs[0].respond(reparse(t, ok))
	if len(h.net.acks) == 0 || h.net.acks[len(h.net.acks)-1].Header("Call-ID") != inv.Header("Call-ID") {
		t.Fatal("carol's 2xx not ACKed")
	}
	re := h.net.requests("INVITE", callerAt)
	if len(re) != 1 || string(re[0].req.Body()) != "v=0 carol" {
		t.Fatalf("alice was not re-INVITEd with carol's session: %d", len(re))
	}
	if len(h.net.requests("BYE", calleeAt)) != 0 {
		t.Fatal("bob hung up before alice took carol's session")
	}
	re[0].respond(reparse(t, withHeaders(re[0], 200)))
	if got, want := h.sipfrags(calleeAt), []string{"SIP/2.0 100 Trying active", "SIP/2.0 180 Ringing active", "SIP/2.0 200 OK terminated"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("NOTIFYs to bob %q, want %q", got, want)
	}
	if len(h.net.requests("BYE", calleeAt)) != 1 {
		t.Fatal("bob was not hung up after the transfer")
	}
	// bob's own BYE, as phones send after a transfer, ends only his leg.
	if r := cl.fromB("BYE", 6).last(); r == nil || r.StatusCode() != 200 {
		t.Fatalf("bob's BYE answered %v", r)
	}
	if h.b.Len() != 1 || len(h.net.requests("BYE", callerAt)) != 0 {
		t.Fatal("the call ended with bob's leg")
	}
	// carol hangs up: alice gets BYE, the call ends.
	byeReq := parse(t, "BYE sip:parley@127.0.0.1:5060 SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:6003;branch=z9hG4bK-carolbye", "Max-Forwards: 70",
		"From: "+ok.Header("To"), "To: "+inv.Header("From"), "Call-ID: "+inv.Header("Call-ID"),
		"CSeq: 1 BYE", "Content-Length: 0")
	l := h.b.leg(byeReq)
	if l == nil {
		t.Fatal("carol's BYE matches no leg")
	}
	btx := &fakeTx{}
	cl.c.Post(func() { cl.c.inDialog(l, btx, byeReq) })
	if len(h.net.requests("BYE", callerAt)) != 1 {
		t.Fatal("alice not hung up when carol hung up")
	}
	if r, ok := h.record(); !ok || r.HungUpBy != cdr.Callee || r.Disposition != cdr.Answered {
		t.Fatalf("record %+v", r)
	}
}

// TestBlindTransferFails: carol is busy; bob hears so in the final NOTIFY
// and alice and bob stay connected.
func TestBlindTransferFails(t *testing.T) {
	h := newHarness(t, Control{}, Config{Locate: locateCarol})
	cl := h.dial("alice@example.com", Plan{})
	cl.answer()
	cl.fromB("REFER", 5, "Refer-To: sip:carol@example.com")
	invs := h.net.requests("INVITE", carolAt)
	invs[0].respond(reparse(t, withHeaders(invs[0], 486)))
	if got := h.sipfrags(calleeAt); len(got) != 2 || got[1] != "SIP/2.0 486 Busy Here terminated" {
		t.Fatalf("NOTIFYs %q", got)
	}
	if h.b.Len() != 1 || len(h.net.requests("BYE", calleeAt)) != 0 || len(h.net.requests("INVITE", callerAt)) != 0 {
		t.Fatal("a failed transfer changed the call")
	}
	// A second REFER is taken now the first is over.
	if r := cl.fromB("REFER", 6, "Refer-To: <sip:dave@example.com>").last(); r == nil || r.StatusCode() != 202 {
		t.Fatalf("second REFER answered %v", r)
	}
}

// TestReferRefused answers REFERs Parley will not act on, each with a
// reason naming why.
func TestReferRefused(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		header []string
		code   int
		reason string
	}{
		{"no Refer-To", Config{Locate: locateCarol}, nil, 400, "Missing Refer-To"},
		{"two Refer-To", Config{Locate: locateCarol}, []string{"Refer-To: <sip:a@x>", "Refer-To: <sip:b@x>"}, 400, "Multiple Refer-To Headers"},
		{"not INVITE", Config{Locate: locateCarol}, []string{"Refer-To: <sip:carol@example.com;method=BYE>"}, 403, "Only INVITE Can Be Referred"},
		{"attended, no such dialog", Config{Locate: locateCarol}, []string{"Refer-To: <sip:carol@example.com?Replaces=a%3Bto-tag%3D1%3Bfrom-tag%3D2>"}, 481, "Replaced Dialog Does Not Exist"},
		{"no locator", Config{}, []string{"Refer-To: <sip:carol@example.com>"}, 501, "Transfers Not Available"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Control{}, tt.cfg)
			cl := h.dial("alice@example.com", Plan{})
			cl.answer()
			r := cl.fromB("REFER", 5, tt.header...).last()
			if r == nil || r.StatusCode() != tt.code || r.Reason() != tt.reason {
				t.Fatalf("got %v, want %d %s", r, tt.code, tt.reason)
			}
		})
	}
}

// TestBlindTransferThroughDialPlan: bob transfers alice to a number the
// dial plan sends to a gateway; the new leg goes there.
func TestBlindTransferThroughDialPlan(t *testing.T) {
	h := newHarness(t, Control{}, Config{Locate: locateCarol, Router: numberRouter})
	cl := h.dial("alice@example.com", Plan{})
	cl.answer()
	if r := cl.fromB("REFER", 5, "Refer-To: <sip:+15551234@example.com>").last(); r == nil || r.StatusCode() != 202 {
		t.Fatalf("REFER answered %v", r)
	}
	invs := h.net.requests("INVITE", gatewayAt)
	if len(invs) != 1 || invs[0].req.RequestURI() != "sip:+15551234@127.0.0.1:6009" {
		t.Fatalf("%d INVITEs to the gateway", len(invs))
	}
}

// numberRouter sends the numbers starting +1 to gatewayAt through the
// trunk provider; no route takes anything else.
func numberRouter(_ context.Context, req *sip.Message) (Plan, bool) {
	u, _ := req.RequestURIParsed()
	if !strings.HasPrefix(u.User, "+1") {
		return Plan{}, false
	}
	return Plan{Trunk: "provider", Destinations: []Destination{{URI: "sip:" + u.User + "@" + gatewayAt.String(), Trunk: "provider"}}}, true
}

var gatewayAt = netip.MustParseAddrPort("127.0.0.1:6009")

// TestTransferOutNeedsAccountable: with passwords off everyone is
// vouched for, so a stranger could call a local user and REFER the call
// to a number the dial plan sends out through a trunk: toll fraud. Only
// a party someone answers for (Config.Accountable: a password checked, a
// gateway's or a trusted network's source) has a transfer dialled out
// through gateways: the caller as its INVITE was, a callee as its REFER
// is, or any callee when passwords are on (it proved one on
// registering). The others get 403 and nothing is dialled; transfers to
// local users are as before.
func TestTransferOutNeedsAccountable(t *testing.T) {
	trusted := netip.MustParseAddrPort("10.0.0.9:5060")
	tests := []struct {
		name      string
		src, dst  netip.AddrPort // the caller's and the callee's
		passwords bool
		fromA     bool
		to        string
		want      int
	}{
		{name: "stranger caller out", src: callerAt, dst: calleeAt, fromA: true, to: "+15551234", want: 403},
		{name: "stranger caller to a user", src: callerAt, dst: calleeAt, fromA: true, to: "carol", want: 202},
		{name: "trusted caller out", src: trusted, dst: calleeAt, fromA: true, to: "+15551234", want: 202},
		{name: "stranger callee out", src: trusted, dst: calleeAt, to: "+15551234", want: 403},
		{name: "stranger callee to a user", src: callerAt, dst: calleeAt, to: "carol", want: 202},
		{name: "trusted callee out", src: callerAt, dst: trusted, to: "+15551234", want: 202},
		{name: "callee out, passwords on", src: callerAt, dst: calleeAt, passwords: true, to: "+15551234", want: 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Control{}, Config{Locate: locateCarol, Router: numberRouter,
				Accountable: func(r *proxy.Request) bool { return r.In.Source == trusted },
				Passwords:   func() bool { return tt.passwords }})
			h.viaStage = true
			cl := h.dialAt("alice@example.com", tt.src, tt.dst, Plan{})
			cl.answer()
			send := cl.fromB
			if tt.fromA {
				send = cl.fromA
			}
			r := send("REFER", 5, "Refer-To: <sip:"+tt.to+"@example.com>").last()
			if r == nil || r.StatusCode() != tt.want {
				t.Fatalf("got %v, want %d", r, tt.want)
			}
			dialled := len(h.net.requests("INVITE", gatewayAt)) + len(h.net.requests("INVITE", carolAt))
			if tt.want == 403 && (r.Reason() != reasonTransferUnproved || dialled != 0) {
				t.Fatalf("refused %q, %d INVITEs out", r.Reason(), dialled)
			}
			if tt.want == 202 && dialled != 1 {
				t.Fatalf("%d INVITEs to the target, want 1", dialled)
			}
		})
	}
}

// TestReferFromUnprovedCaller: a caller the auth stage let in without
// proof (another domain's, passwords on) may not transfer: a REFER has
// Parley place a call at the referrer's word, through the dial plan's
// trunks too, so it would be a free way out. Its REFER is refused 403
// and nothing is dialled; the callee (our user's phone) still may
// transfer, and so may a caller who proved who it is.
func TestReferFromUnprovedCaller(t *testing.T) {
	tests := []struct {
		name     string
		unproved bool
		fromA    bool
		want     int
	}{
		{name: "unproved caller", unproved: true, fromA: true, want: 403},
		{name: "proved caller", fromA: true, want: 202},
		{name: "callee of an unproved caller", unproved: true, want: 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Control{}, Config{Locate: locateCarol})
			cl := h.dial("mallory@evil.example", Plan{unproved: tt.unproved})
			cl.answer()
			send := cl.fromB
			if tt.fromA {
				send = cl.fromA
			}
			r := send("REFER", 5, "Refer-To: <sip:carol@example.com>").last()
			if r == nil || r.StatusCode() != tt.want {
				t.Fatalf("got %v, want %d", r, tt.want)
			}
			if tt.want == 403 && (r.Reason() != reasonTransferUnproved || len(h.net.requests("INVITE", carolAt)) != 0) {
				t.Fatalf("refused %q, %d INVITEs to carol", r.Reason(), len(h.net.requests("INVITE", carolAt)))
			}
		})
	}
}

// TestBlindTransferThroughTrunkIdentity: a transfer's new leg out
// through a trunk speaks as the trunk's account, as a call's B leg does:
// the provider sees the account's From and its identity header, not
// the extension of the party who stays (nor an identity that party's
// phone claimed).
func TestBlindTransferThroughTrunkIdentity(t *testing.T) {
	gateway := netip.MustParseAddrPort("127.0.0.1:6009")
	router := func(_ context.Context, req *sip.Message) (Plan, bool) {
		u, _ := req.RequestURIParsed()
		return Plan{Trunk: "provider", Destinations: []Destination{{URI: "sip:" + u.User + "@" + gateway.String(), Trunk: "provider"}}}, true
	}
	trunks := func(name string) (TrunkAccount, bool) {
		return TrunkAccount{FromUser: "4930123456", FromHost: "sip.provider.example", IdentityHeader: HeaderPAI, IdentityUser: "4930123400"}, name == "provider"
	}
	h := newHarness(t, Control{}, Config{Locate: locateCarol, Router: router, Trunks: trunks})
	cl := h.dial("alice@example.com", Plan{})
	cl.answer()
	if r := cl.fromB("REFER", 5, "Refer-To: <sip:+15551234@example.com>").last(); r == nil || r.StatusCode() != 202 {
		t.Fatalf("REFER answered %v", r)
	}
	invs := h.net.requests("INVITE", gateway)
	if len(invs) != 1 {
		t.Fatalf("%d INVITEs to the gateway", len(invs))
	}
	inv := invs[0].req
	from, err := inv.From()
	if err != nil || from.URI.AOR() != "sip:4930123456@sip.provider.example" {
		t.Errorf("From %q, want the account's", inv.Header("From"))
	}
	if to := inv.Header("To"); to != "<sip:+15551234@127.0.0.1>" {
		t.Errorf("To %q, want the number at the gateway, as the dial plan wrote it", to)
	}
	if got := inv.Header(HeaderPAI); !strings.Contains(got, "<sip:4930123400@sip.provider.example>") {
		t.Errorf("P-Asserted-Identity %q, want the account's number", got)
	}
}

// trunkRouter sends every number to 203.0.113.1 through trunk gw1, and
// to 203.0.113.2 through gw2 after it when failover is set.
func trunkRouter(failover bool) func(context.Context, *sip.Message) (Plan, bool) {
	return func(_ context.Context, req *sip.Message) (Plan, bool) {
		u, _ := req.RequestURIParsed()
		p := Plan{Route: "out", Trunk: "gw1", Destinations: []Destination{{URI: "sip:" + u.User + "@203.0.113.1", Trunk: "gw1"}}}
		if failover {
			p.Destinations = append(p.Destinations, Destination{URI: "sip:" + u.User + "@203.0.113.2", Trunk: "gw2"})
		}
		return p, true
	}
}

// TestBlindTransferTrunkChallenge: bob transfers alice to a number the
// dial plan sends out through a trunk whose provider challenges the new
// leg's INVITE. Parley answers the challenge once with the trunk's
// credentials, as for a call's B leg (a new INVITE of the same dialog
// with the next CSeq), and the final NOTIFY to bob tells the outcome:
// 200 once alice is reconnected, or the 403 naming why Parley could not
// answer (no credentials, or a second challenge: the credentials were
// refused), or the provider's own failure. A failed transfer leaves the
// call as it was and gives the trunk's slot back.
func TestBlindTransferTrunkChallenge(t *testing.T) {
	gw := netip.MustParseAddrPort("203.0.113.1:5060")
	tests := []struct {
		name     string
		creds    bool
		answers  []int
		invites  int
		lastFrag string
		authName string
	}{
		{"401 answered", true, []int{401, 200}, 2, "SIP/2.0 200 OK terminated", "Authorization"},
		{"407 answered", true, []int{407, 200}, 2, "SIP/2.0 200 OK terminated", "Proxy-Authorization"},
		{"second challenge", true, []int{407, 407}, 2, "SIP/2.0 403 Trunk Refused Credentials terminated", "Proxy-Authorization"},
		{"busy after the answer", true, []int{401, 486}, 2, "SIP/2.0 486 Busy Here terminated", "Authorization"},
		{"no credentials", false, []int{401}, 1, "SIP/2.0 403 Trunk Needs Credentials terminated", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := calllimit.New(calllimit.Limits{Trunks: map[string]int{"gw1": 5}})
			trunks := func(name string) (TrunkAccount, bool) {
				if name != "gw1" || !tt.creds {
					return TrunkAccount{}, false
				}
				return TrunkAccount{Username: "4930123456", Password: "secret"}, true
			}
			h := newHarness(t, Control{}, Config{Router: trunkRouter(false), Trunks: trunks, Limits: lim})
			cl := h.dial("alice@example.com", Plan{})
			cl.answer()
			if r := cl.fromB("REFER", 5, "Refer-To: <sip:4930999@example.com>").last(); r == nil || r.StatusCode() != 202 {
				t.Fatalf("REFER answered %v", r)
			}
			for i, code := range tt.answers {
				invs := h.net.requests("INVITE", gw)
				if len(invs) != i+1 {
					t.Fatalf("after %d answers, %d INVITEs to the provider", i, len(invs))
				}
				invs[i].respond(reparse(t, challengeOrAnswer(invs[i], code)))
			}
			invs := h.net.requests("INVITE", gw)
			if len(invs) != tt.invites {
				t.Fatalf("%d INVITEs to the provider, want %d", len(invs), tt.invites)
			}
			if tt.invites == 2 {
				checkRetry(t, invs[0].req, invs[1].req, tt.authName)
			}
			answered := tt.lastFrag == "SIP/2.0 200 OK terminated"
			if answered {
				re := h.net.requests("INVITE", callerAt)
				if len(re) != 1 {
					t.Fatalf("alice re-INVITEd %d times, want once with the new party's session", len(re))
				}
				re[0].respond(reparse(t, withHeaders(re[0], 200)))
			}
			frags := h.sipfrags(calleeAt)
			if len(frags) < 2 || frags[0] != "SIP/2.0 100 Trying active" || frags[len(frags)-1] != tt.lastFrag {
				t.Fatalf("NOTIFYs to bob %q, want 100 Trying first and %q last", frags, tt.lastFrag)
			}
			if answered {
				checkTrunkTransferred(t, h, "gw1", lim)
				return
			}
			if h.b.Len() != 1 || len(h.records) != 0 || len(h.net.requests("BYE", calleeAt)) != 0 || len(h.net.requests("INVITE", callerAt)) != 0 {
				t.Fatal("a failed transfer changed the call")
			}
			if n := lim.Active(calllimit.Trunk, "gw1"); n != 0 {
				t.Fatalf("the trunk holds %d calls after the transfer failed, want 0", n)
			}
		})
	}
}

// TestBlindTransferTrunkFailoverChallenge: the first trunk fails (503),
// the second challenges and takes the call once answered: its credentials
// answer it (not the first trunk's), and the second record bills it.
func TestBlindTransferTrunkFailoverChallenge(t *testing.T) {
	first, second := netip.MustParseAddrPort("203.0.113.1:5060"), netip.MustParseAddrPort("203.0.113.2:5060")
	trunks := func(name string) (TrunkAccount, bool) {
		return TrunkAccount{Username: name + "-user", Password: name + "-pw"}, true
	}
	lim := calllimit.New(calllimit.Limits{Trunks: map[string]int{"gw1": 5}})
	h := newHarness(t, Control{}, Config{Router: trunkRouter(true), Trunks: trunks, Limits: lim})
	cl := h.dial("alice@example.com", Plan{})
	cl.answer()
	cl.fromB("REFER", 5, "Refer-To: <sip:4930999@example.com>")
	inv := h.net.requests("INVITE", first)[0]
	inv.respond(reparse(t, withHeaders(inv, 503)))
	for i, code := range []int{407, 200} {
		invs := h.net.requests("INVITE", second)
		if len(invs) != i+1 {
			t.Fatalf("%d INVITEs to the second trunk, want %d", len(invs), i+1)
		}
		invs[i].respond(reparse(t, challengeOrAnswer(invs[i], code)))
	}
	retry := h.net.requests("INVITE", second)[1].req
	if got := retry.Header("Proxy-Authorization"); !strings.Contains(got, `username="gw2-user"`) {
		t.Fatalf("the second trunk's challenge answered with %q, want its own account", got)
	}
	re := h.net.requests("INVITE", callerAt)
	if len(re) != 1 {
		t.Fatalf("alice re-INVITEd %d times", len(re))
	}
	re[0].respond(reparse(t, withHeaders(re[0], 200)))
	checkTrunkTransferred(t, h, "gw2", lim)
}

// challengeOrAnswer is a provider's response to s: a 401 or 407 with a
// digest challenge, or code as it is (a 2xx with a Contact).
func challengeOrAnswer(s *sent, code int) *sip.Message {
	switch code {
	case 401:
		return withHeaders(s, code, "WWW-Authenticate: "+trunkChallenge)
	case 407:
		return withHeaders(s, code, "Proxy-Authenticate: "+trunkChallenge)
	case 200:
		ok := withHeaders(s, code, "Contact: <sip:gw@"+s.dst.Addr.String()+">")
		ok.SetBody("application/sdp", []byte("v=0 gw"))
		return ok
	}
	return withHeaders(s, code)
}

// checkTrunkTransferred checks a call bob transferred out through trunk:
// bob hung up, the first record closed, the call listed between alice
// and the number on that trunk, and the transfer's slot (counted against
// the trunk that carries it, as a call's is) held until the call ends.
func checkTrunkTransferred(t *testing.T, h *harness, trunk string, lim *calllimit.Limiter) {
	t.Helper()
	if len(h.net.requests("BYE", calleeAt)) != 1 || len(h.records) != 1 {
		t.Fatalf("bob got %d BYEs, %d records: want bob hung up and his part of the call recorded",
			len(h.net.requests("BYE", calleeAt)), len(h.records))
	}
	infos := h.b.Calls()
	if len(infos) != 1 || infos[0].Trunk != trunk || infos[0].Route != "out" || infos[0].Dialled != "4930999" ||
		infos[0].TransferredBy != "sip:bob@example.com" {
		t.Fatalf("calls listed %+v, want alice's call on trunk %s, route out, transferred by bob", infos, trunk)
	}
	if n := lim.Active(calllimit.Trunk, trunk); n != 1 {
		t.Fatalf("trunk %s holds %d calls, want the transfer's", trunk, n)
	}
	if n := lim.Active(calllimit.Trunk, "gw1") + lim.Active(calllimit.Trunk, "gw2"); n != 1 {
		t.Fatalf("the trunks hold %d calls, want the transfer's alone", n)
	}
}

// TestTakeoverSetsStranger: a phone that takes the caller's leg over
// with Replaces becomes the party whose transfers Parley judges, so the
// call's verdict on the caller (Config.Accountable) becomes the new
// phone's: a stranger's takeover of a trusted caller's leg may not
// transfer out through gateways, a trusted phone's takeover of a
// stranger's leg may.
func TestTakeoverSetsStranger(t *testing.T) {
	for _, tt := range []struct {
		name          string
		wasStranger   bool
		from          netip.AddrPort
		wantsStranger bool
	}{
		{name: "stranger takes a trusted caller's leg", from: carolAt, wantsStranger: true},
		{name: "trusted phone takes a stranger's leg", wasStranger: true, from: gatewayAt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Control{}, Config{Accountable: func(r *proxy.Request) bool { return r.In.Source == gatewayAt }})
			cl := h.dial("alice@example.com", Plan{stranger: tt.wasStranger})
			cl.answer()
			rep := sip.Replaces{CallID: cl.c.aCallID, ToTag: cl.c.aTag, FromTag: cl.invite.FromTag()}
			inv, in := pickupInviteBody(t, "example.com", rep, "v=0 carol o")
			in.Source = tt.from
			tx := &fakeTx{}
			if !h.b.replacing(&proxy.Request{Tx: tx, In: in, Msg: inv}) {
				t.Fatal("the INVITE with Replaces was not taken")
			}
			toBob := h.net.requests("INVITE", calleeAt)
			if len(toBob) != 2 {
				t.Fatalf("%d INVITEs to bob, want the call's and the takeover's", len(toBob))
			}
			ok := withHeaders(toBob[1], 200)
			ok.SetBody("application/sdp", []byte("v=0 bob a"))
			toBob[1].respond(reparse(t, ok))
			if r := tx.last(); r == nil || r.StatusCode() != 200 {
				t.Fatalf("the new phone got %v", r)
			}
			if cl.c.aStranger != tt.wantsStranger {
				t.Fatalf("aStranger %v after the takeover, want %v", cl.c.aStranger, tt.wantsStranger)
			}
		})
	}
}
