package b2bua

import (
	"net/url"
	"strings"
	"testing"

	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// TestAttendedTransfer: alice calls bob (call 1); bob calls carol (call
// 2); bob transfers alice to carol with a REFER on call 1 whose Refer-To
// replaces his dialog in call 2. Both are Parley's legs: call 2 hands
// carol's leg over and ends (BYE to bob there), Parley fetches an offer
// from carol with a re-INVITE without a body, gives it to alice, ACKs
// carol with alice's answer, tells bob it worked and hangs him up. Alice
// and carol then talk in call 1, whose second record bills call 2's
// route and trunk (carol reached through a trunk), and carol's slot in
// the limits moves to call 1.
func TestAttendedTransfer(t *testing.T) {
	for _, plan := range []Plan{{}, {Route: "out", Trunk: "gw1"}} {
		t.Run("trunk "+plan.Trunk, func(t *testing.T) { attendedTransfer(t, plan) })
	}
}

// attendedTransfer is TestAttendedTransfer with call 2 placed by plan.
func attendedTransfer(t *testing.T, plan Plan) {
	lim := calllimit.New(calllimit.Limits{Trunks: map[string]int{"gw1": 5}})
	h := newHarness(t, Control{}, Config{Locate: locateCarol, Limits: lim})
	call1 := h.dial("alice@example.com", Plan{})
	call1.answer()
	call2 := h.dialAt("bob@example.com", calleeAt, carolAt, plan)
	call2.answer()

	rep := call2.invite.Header("Call-ID") + ";to-tag=" + call2.c.aTag + ";from-tag=" + call2.invite.FromTag()
	refer := "Refer-To: <sip:carol@example.com?Replaces=" + url.QueryEscape(rep) + ">"
	if r := call1.fromB("REFER", 5, refer).last(); r == nil || r.StatusCode() != 202 {
		t.Fatalf("REFER answered %v", r)
	}
	if rec, _ := h.record(); rec.CallID != call2.invite.Header("Call-ID") || rec.Reason != reasonTransferred || rec.HungUpBy != cdr.Caller {
		t.Fatalf("call 2's record %+v", rec)
	}
	toCarol := h.net.requests("INVITE", carolAt)
	if len(toCarol) != 2 || len(toCarol[1].req.Body()) != 0 || toCarol[1].req.ToTag() == "" {
		t.Fatalf("carol got %d INVITEs; want her leg re-INVITEd without a body", len(toCarol))
	}
	okC := withHeaders(toCarol[1], 200)
	okC.SetBody("application/sdp", []byte("v=0 carol offer"))
	toCarol[1].respond(reparse(t, okC))
	toAlice := h.net.requests("INVITE", callerAt)
	if len(toAlice) != 1 || string(toAlice[0].req.Body()) != "v=0 carol offer" {
		t.Fatalf("alice not given carol's offer: %d", len(toAlice))
	}
	okA := withHeaders(toAlice[0], 200)
	okA.SetBody("application/sdp", []byte("v=0 alice answer"))
	toAlice[0].respond(reparse(t, okA))
	var carolACK bool
	for _, a := range h.net.acks {
		if a.Header("Call-ID") == toCarol[1].req.Header("Call-ID") && string(a.Body()) == "v=0 alice answer" {
			carolACK = true
		}
	}
	if !carolACK {
		t.Fatal("carol's 2xx not ACKed with alice's answer")
	}
	if got := h.sipfrags(calleeAt); len(got) != 2 || got[1] != "SIP/2.0 200 OK terminated" {
		t.Fatalf("NOTIFYs to bob %q", got)
	}
	byes := h.net.requests("BYE", calleeAt)
	if len(byes) != 2 {
		t.Fatalf("bob got %d BYEs, want one on each of his dialogs", len(byes))
	}
	if h.b.Len() != 1 {
		t.Fatalf("%d calls, want call 1 alone", h.b.Len())
	}
	want := 0
	if plan.Trunk != "" {
		want = 1 // carol's slot, now call 1's
	}
	if lim.Active(calllimit.Trunk, "gw1") != want {
		t.Fatalf("trunk gw1 holds %d calls after the transfer, want %d", lim.Active(calllimit.Trunk, "gw1"), want)
	}
	// carol hangs up her (moved) leg: alice gets BYE, call 1 ends.
	inv := toCarol[0].req
	bye := parse(t, "BYE sip:parley@127.0.0.1:5060 SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:6003;branch=z9hG4bK-carolbye2", "Max-Forwards: 70",
		"From: "+inv.Header("To")+";tag=callee-tag", "To: "+inv.Header("From"), "Call-ID: "+inv.Header("Call-ID"),
		"CSeq: 7 BYE", "Content-Length: 0")
	l := h.b.leg(bye)
	if l == nil || l.call != call1.c {
		t.Fatal("carol's BYE does not reach call 1")
	}
	tx := &fakeTx{}
	call1.c.Post(func() { call1.c.inDialog(l, tx, bye) })
	if r := tx.last(); r == nil || r.StatusCode() != 200 || len(h.net.requests("BYE", callerAt)) != 1 {
		t.Fatal("carol's BYE did not end the call for alice")
	}
	if rec, _ := h.record(); rec.CallID != call1.invite.Header("Call-ID") || rec.HungUpBy != cdr.Callee {
		t.Fatalf("call 1's record %+v", rec)
	}
	// Call 1 has two records: alice with bob until the transfer, then
	// alice with carol, transferred by bob.
	var segs []cdr.Record
	for _, r := range h.records {
		if r.CallID == call1.invite.Header("Call-ID") {
			segs = append(segs, r)
		}
	}
	if len(segs) != 2 || segs[0].Reason != "transferred (attended) to sip:carol@example.com" || segs[0].Callee != "sip:bob@example.com" ||
		segs[1].TransferredBy != "sip:bob@example.com" || segs[1].Callee != "sip:carol@example.com" || segs[1].Caller != "sip:alice@example.com" {
		t.Fatalf("call 1's records %+v", segs)
	}
	if segs[1].Trunk != plan.Trunk || segs[1].Route != plan.Route {
		t.Errorf("the joined call's record names trunk %q, route %q; want call 2's, %q and %q", segs[1].Trunk, segs[1].Route, plan.Trunk, plan.Route)
	}
	if strings.Contains(string(toAlice[0].req.AppendTo(nil)), "6003") {
		t.Error("carol's address reached alice")
	}
}

// TestInviteReplaces: alice talks to bob; carol's phone sends an INVITE
// with Replaces naming Parley's dialog with bob (to-tag Parley's, from-tag
// bob's). Alice is re-INVITEd with carol's offer, carol gets alice's
// answer, bob gets BYE, and carol's ACK crosses to alice: carol has taken
// bob's place in the call.
func TestInviteReplaces(t *testing.T) {
	h := newHarness(t, Control{}, Config{})
	cl := h.dial("alice@example.com", Plan{})
	cl.answer()
	rep := sip.Replaces{CallID: cl.c.bCallID, ToTag: cl.c.bTag, FromTag: "callee-tag"}
	inv := parse(t, "INVITE sip:parley@127.0.0.1:5060 SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:6003;branch=z9hG4bK-carolrep", "Max-Forwards: 70",
		"From: <sip:carol@example.com>;tag=carol-1", "To: <sip:bob@example.com>", "Call-ID: carol-rep@127.0.0.1",
		"CSeq: 1 INVITE", "Contact: <sip:carol@127.0.0.1:6003>", "Replaces: "+rep.String(),
		"Content-Type: application/sdp", "Content-Length: 11", "", "v=0 carol o")
	l := h.b.legByReplaces(rep)
	if l == nil || l != cl.c.bl {
		t.Fatal("Replaces does not find bob's leg")
	}
	ctx := &fakeTx{}
	in := &transport.Incoming{Msg: inv, Proto: transport.UDP, Source: carolAt, Listener: ctlListener}
	cl.c.Post(func() { cl.c.replaceLeg(l, rep, ctx, in) })
	toAlice := h.net.requests("INVITE", callerAt)
	if len(toAlice) != 1 || string(toAlice[0].req.Body()) != "v=0 carol o" {
		t.Fatalf("alice not re-INVITEd with carol's offer (%d)", len(toAlice))
	}
	okA := withHeaders(toAlice[0], 200)
	okA.SetBody("application/sdp", []byte("v=0 alice a"))
	toAlice[0].respond(reparse(t, okA))
	r := ctx.last()
	if r == nil || r.StatusCode() != 200 || string(r.Body()) != "v=0 alice a" || r.ToTag() == "" {
		t.Fatalf("carol got %v", r)
	}
	if strings.Contains(string(r.AppendTo(nil)), "6001") {
		t.Error("alice's address reached carol")
	}
	if len(h.net.requests("BYE", calleeAt)) != 1 {
		t.Fatal("bob was not hung up")
	}
	ack := parse(t, "ACK sip:parley@127.0.0.1:5060 SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:6003;branch=z9hG4bK-carolack", "Max-Forwards: 70",
		"From: <sip:carol@example.com>;tag=carol-1", "To: "+r.Header("To"), "Call-ID: carol-rep@127.0.0.1",
		"CSeq: 1 ACK", "Content-Length: 0")
	nl := h.b.leg(ack)
	if nl == nil {
		t.Fatal("carol's ACK matches no leg")
	}
	before := len(h.net.acks)
	cl.c.Post(func() { cl.c.inDialog(nl, nil, ack) })
	if len(h.net.acks) != before+1 || h.net.acks[len(h.net.acks)-1].Header("Call-ID") != cl.invite.Header("Call-ID") {
		t.Fatal("carol's ACK did not cross to alice")
	}
	// Another INVITE with the same Replaces: bob's dialog is gone.
	tx2 := &fakeTx{}
	cl.c.Post(func() { cl.c.replaceLeg(l, rep, tx2, in) })
	if r := tx2.last(); r == nil || r.StatusCode() != 481 {
		t.Fatalf("second replace got %v", r)
	}
	// early-only on a confirmed dialog is refused (RFC 3891 §3).
	rep2 := sip.Replaces{CallID: cl.invite.Header("Call-ID"), ToTag: cl.c.aTag, FromTag: cl.invite.FromTag(), EarlyOnly: true}
	tx3 := &fakeTx{}
	cl.c.Post(func() { cl.c.replaceLeg(cl.c.a, rep2, tx3, in) })
	if r := tx3.last(); r == nil || r.StatusCode() != 486 {
		t.Fatalf("early-only got %v", r)
	}
}

// TestReplacesNeedsVouch: a sender the auth stage let in without proof
// (another domain's caller with passwords on) may neither take an
// answered leg over nor pick a ringing call up: the dialog's identifiers
// are no secret, so the INVITE is refused 403 and the call is left as it
// was. A sender vouched for goes on as before.
func TestReplacesNeedsVouch(t *testing.T) {
	tests := []struct {
		name    string
		answer  bool
		vouched bool
		want    int
	}{
		{name: "takeover, unvouched", answer: true, want: 403},
		{name: "pickup, unvouched", want: 403},
		{name: "takeover, vouched", answer: true, vouched: true},
		{name: "pickup, vouched", vouched: true, want: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Control{}, Config{All: true, Vouched: func(*proxy.Request) bool { return tc.vouched }})
			cl := h.dial("alice@example.com", Plan{})
			cl.ring()
			if tc.answer {
				cl.answer()
			}
			rep := sip.Replaces{CallID: cl.c.bCallID, ToTag: cl.c.bTag, FromTag: "callee-tag"}
			if !tc.answer {
				rep.FromTag = "bob-tag"
			}
			inv, in := pickupInviteBody(t, "example.com", rep, "v=0 carol o")
			tx := &fakeTx{}
			if !h.b.replacing(&proxy.Request{Tx: tx, In: in, Msg: inv}) {
				t.Fatal("the INVITE with Replaces was not taken")
			}
			r := tx.last()
			if tc.want == 0 {
				// Vouched for, the takeover re-INVITEs alice with carol's offer.
				if r != nil || len(h.net.requests("INVITE", callerAt)) != 1 {
					t.Fatalf("vouched takeover: answered %v, %d re-INVITEs to alice", r, len(h.net.requests("INVITE", callerAt)))
				}
				return
			}
			if r == nil || r.StatusCode() != tc.want {
				t.Fatalf("got %v, want %d", r, tc.want)
			}
			if tc.want == 403 && (r.Reason() != reasonUnvouched || len(h.net.requests("BYE", calleeAt)) != 0 ||
				len(h.net.requests("CANCEL", calleeAt)) != 0 || len(h.net.requests("INVITE", callerAt)) != 0) {
				t.Fatalf("refused %q, but the call was touched", r.Reason())
			}
		})
	}
}
