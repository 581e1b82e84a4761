package b2bua

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/sip"
)

// TestTransferRecords: alice calls bob, bob transfers her to carol. The
// call's record closes at the transfer (bob left, "transferred (blind)
// to carol"), a second record with the same call_id follows the call
// between alice and carol (transferred by bob, carol's leg as b_call_id)
// to its end; carol's slot in the limits is taken from her INVITE and
// given back when the call ends.
func TestTransferRecords(t *testing.T) {
	lim := calllimit.New(calllimit.Limits{PerUser: 3})
	h := newHarness(t, Control{}, Config{Locate: locateCarol, Limits: lim})
	cl := h.dial("alice@example.com", Plan{})
	cl.answer()
	h.clk.Advance(10 * time.Second)
	referAt := h.clk.Now()
	cl.fromB("REFER", 5, "Refer-To: <sip:carol@example.com>")
	invs := h.net.requests("INVITE", carolAt)
	if len(invs) != 1 {
		t.Fatalf("%d INVITEs to carol", len(invs))
	}
	if n := lim.Active(calllimit.Caller, "carol@example.com"); n != 1 {
		t.Fatalf("carol counts %d calls while her phone rings, want 1", n)
	}
	h.clk.Advance(time.Second)
	invs[0].respond(reparse(t, withHeaders(invs[0], 180)))
	h.clk.Advance(2 * time.Second)
	ok := withHeaders(invs[0], 200, "Contact: <sip:carol@127.0.0.1:6003>")
	invs[0].respond(reparse(t, ok))
	re := h.net.requests("INVITE", callerAt)
	re[0].respond(reparse(t, withHeaders(re[0], 200)))
	switchAt := h.clk.Now()
	if len(h.records) != 1 {
		t.Fatalf("%d records after the transfer, want the first segment's", len(h.records))
	}
	if a, b := lim.Active(calllimit.Caller, "alice@example.com"), lim.Active(calllimit.Caller, "bob@example.com"); a != 1 || b != 0 {
		t.Fatalf("after the transfer alice counts %d calls, bob %d: want bob's slot given back", a, b)
	}
	first := h.records[0]
	if first.Callee != "sip:bob@example.com" || !first.End.Equal(switchAt) || first.HungUpBy != cdr.Callee ||
		first.Reason != "transferred (blind) to sip:carol@example.com" || first.Disposition != cdr.Answered || first.TransferredBy != "" {
		t.Fatalf("first record %+v", first)
	}
	// The calls list shows who talks now, as the second record will.
	infos := h.b.Calls()
	if len(infos) != 1 {
		t.Fatalf("%d calls listed after the transfer", len(infos))
	}
	ci := infos[0]
	if ci.Caller != "sip:alice@example.com" || ci.Callee != "sip:carol@example.com" || ci.Dialled != "carol" ||
		ci.TransferredBy != "sip:bob@example.com" || !ci.Answered.Equal(switchAt) || ci.State != "answered" {
		t.Errorf("call listed after the transfer: %+v", ci)
	}
	if ci.A.Party != "sip:alice@example.com" || ci.B.Party != "sip:carol@example.com" ||
		ci.B.CallID != invs[0].req.Header("Call-ID") || ci.B.CallID == first.BCallID || ci.A.CallID != first.CallID {
		t.Errorf("legs listed after the transfer: a %+v, b %+v; want alice's and carol's", ci.A, ci.B)
	}
	h.clk.Advance(30 * time.Second)
	bye := parse(t, "BYE sip:parley@127.0.0.1:5060 SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:6003;branch=z9hG4bK-carolbye", "Max-Forwards: 70",
		"From: "+ok.Header("To"), "To: "+invs[0].req.Header("From"), "Call-ID: "+invs[0].req.Header("Call-ID"),
		"CSeq: 1 BYE", "Content-Length: 0")
	l := h.b.leg(bye)
	cl.c.Post(func() { cl.c.inDialog(l, &fakeTx{}, bye) })
	if len(h.records) != 2 {
		t.Fatalf("%d records, want two", len(h.records))
	}
	second := h.records[1]
	want := cdr.Record{CallID: first.CallID, BCallID: invs[0].req.Header("Call-ID"), Caller: "sip:alice@example.com",
		Callee: "sip:carol@example.com", Dialled: "carol", TransferredBy: "sip:bob@example.com", Source: first.Source,
		Setup: referAt, Ringing: referAt.Add(time.Second), Answered: switchAt, End: switchAt.Add(30 * time.Second),
		Disposition: cdr.Answered, HungUpBy: cdr.Callee, Status: 200, Reason: cdr.ReasonHungUp}
	if second != want {
		t.Fatalf("second record\n%+v\nwant\n%+v", second, want)
	}
	if second.Billable() != 30 || first.Billable() != 13 {
		t.Errorf("billable %d and %d, want 13 and 30", first.Billable(), second.Billable())
	}
	if n := lim.Active(calllimit.Caller, "carol@example.com"); n != 0 {
		t.Fatalf("carol still counts %d calls after the call ended", n)
	}
}

// TestTransferLimits: a transfer to a user at the concurrent call limit
// is refused before her phone rings (the referrer hears why in the final
// NOTIFY), and a transfer that fails gives her slot back.
func TestTransferLimits(t *testing.T) {
	tests := []struct {
		name     string
		busy     bool // carol is at her limit already
		answer   int  // carol's answer when she rings
		wantFrag string
	}{
		{name: "at the limit", busy: true, wantFrag: "SIP/2.0 486 Callee Call Limit Reached terminated"},
		{name: "refused by the phone", answer: 486, wantFrag: "SIP/2.0 486 Busy Here terminated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lim := calllimit.New(calllimit.Limits{Users: map[string]int{"carol@example.com": 1}})
			h := newHarness(t, Control{}, Config{Locate: locateCarol, Limits: lim})
			cl := h.dial("alice@example.com", Plan{})
			cl.answer()
			held := 0
			if tc.busy {
				if _, refused := lim.Admit(calllimit.Keys{Callee: "carol@example.com"}); refused != nil {
					t.Fatal(refused)
				}
				held = 1
			}
			cl.fromB("REFER", 5, "Refer-To: <sip:carol@example.com>")
			invs := h.net.requests("INVITE", carolAt)
			if tc.busy != (len(invs) == 0) {
				t.Fatalf("%d INVITEs to carol", len(invs))
			}
			if len(invs) > 0 {
				invs[0].respond(reparse(t, withHeaders(invs[0], tc.answer)))
			}
			frags := h.sipfrags(calleeAt)
			if len(frags) == 0 || frags[len(frags)-1] != tc.wantFrag {
				t.Fatalf("NOTIFYs %q, want the last %q", frags, tc.wantFrag)
			}
			if n := lim.Active(calllimit.Caller, "carol@example.com"); n != held {
				t.Fatalf("carol counts %d calls, want %d", n, held)
			}
			if h.b.Len() != 1 || len(h.records) != 0 || cl.c.segment() != nil {
				t.Fatal("a failed transfer changed the call or its record")
			}
		})
	}
}

// TestTransferLimitsTrunk: a transfer to a number the dial plan sends out
// through a trunk counts against the trunk, and the trunk at its limit
// refuses it (503, reported in the final NOTIFY) before any INVITE.
func TestTransferLimitsTrunk(t *testing.T) {
	gateway := netip.MustParseAddrPort("127.0.0.1:6009")
	router := func(_ context.Context, req *sip.Message) (Plan, bool) {
		u, _ := req.RequestURIParsed()
		return Plan{Route: "out", Trunk: "provider", Destinations: []Destination{{URI: "sip:" + u.User + "@" + gateway.String(), Trunk: "provider"}}}, true
	}
	lim := calllimit.New(calllimit.Limits{Trunks: map[string]int{"provider": 1}, RetryAfter: 5 * time.Second})
	h := newHarness(t, Control{}, Config{Router: router, Limits: lim})
	cl := h.dial("alice@example.com", Plan{})
	cl.answer()
	cl.fromB("REFER", 5, "Refer-To: <sip:+15551234@example.com>")
	if n := lim.Active(calllimit.Trunk, "provider"); n != 1 || len(h.net.requests("INVITE", gateway)) != 1 {
		t.Fatalf("trunk holds %d calls, want the transfer's", n)
	}
	transferRefused(t, h, "503 Trunk Call Limit Reached")
	if n := len(h.net.requests("INVITE", gateway)); n != 1 {
		t.Fatalf("%d INVITEs to the gateway, want the first transfer's alone", n)
	}
}
