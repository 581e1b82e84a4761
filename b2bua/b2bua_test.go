package b2bua

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// answered sets up a call alice -> bob at 203.0.113.9 that bob answered
// and alice ACKed. It returns alice's INVITE transaction, bob's INVITE
// and bob's tag.
func answered(t *testing.T, f *fixture) (*serverTx, *clientTx) {
	t.Helper()
	aTx, _ := f.call(Plan{}, "sip:bob@203.0.113.9:5060")
	invs := f.txs.all("INVITE")
	if len(invs) != 1 {
		t.Fatalf("%d B INVITEs, want 1", len(invs))
	}
	invs[0].answer(180, "bob-1")
	invs[0].answer(200, "bob-1", "Content-Type", "application/sdp")
	if got := aTx.codes(); !slices.Equal(got, []int{180, 200}) {
		t.Fatalf("alice got %v, want 180 and 200", got)
	}
	f.deliver(aRequest(t, aTx, "ACK", 10))
	if len(f.tp.sent()) != 1 {
		t.Fatalf("%d ACKs sent to bob, want 1", len(f.tp.sent()))
	}
	return aTx, invs[0]
}

// TestTopologyHidden: the B leg's INVITE carries nothing of the A leg
// but the identity, the passed headers and the body; the response alice
// gets carries nothing of bob's leg.
func TestTopologyHidden(t *testing.T) {
	f := newFixture(t)
	aTx, inv := answered(t, f)
	b := inv.req
	a := golden(t, "invite.sip")
	head, _, _ := strings.Cut(string(b.Bytes()), "\r\n\r\n") // the SDP passes as it is
	for _, leak := range []string{"alice-call-1", "alice-tag-1", "z9hG4bK-alice-1", "198.51.100.7", "AlicePhone"} {
		if strings.Contains(head, leak) {
			t.Errorf("B INVITE carries %q:\n%s", leak, b.Bytes())
		}
	}
	for _, h := range []string{"P-Asserted-Identity", "X-Account", "Supported"} {
		if b.Header(h) != a.Header(h) {
			t.Errorf("%s: %q crossed as %q", h, a.Header(h), b.Header(h))
		}
	}
	if string(b.Body()) != string(a.Body()) || b.ContentType() != "application/sdp" {
		t.Errorf("body changed: %q", b.Body())
	}
	if n, _ := b.MaxForwards(); n != 69 {
		t.Errorf("Max-Forwards %d, want 69", n)
	}
	ok := aTx.last()
	for _, leak := range []string{"bob-1", "203.0.113.9", b.Header("Call-ID"), b.FromTag()} {
		if strings.Contains(string(ok.Bytes()), leak) {
			t.Errorf("alice's 200 carries %q:\n%s", leak, ok.Bytes())
		}
	}
	if ok.Header("Contact") != "<sip:192.0.2.1:5060>" {
		t.Errorf("alice's 200 Contact %q, want Parley's", ok.Header("Contact"))
	}
}

// TestForking: two phones ring; the first 2xx wins and the other branch
// is cancelled; a 2xx that still comes from it is ACKed and hung up.
func TestForking(t *testing.T) {
	f := newFixture(t)
	aTx, _ := f.call(Plan{}, "sip:bob@203.0.113.9:5060", "sip:bob@203.0.113.10:5060")
	invs := f.txs.all("INVITE")
	if len(invs) != 2 {
		t.Fatalf("%d branches, want 2", len(invs))
	}
	invs[0].answer(180, "bob-1")
	invs[1].answer(180, "bob-2")
	invs[1].answer(200, "bob-2")
	if got := aTx.codes(); !slices.Equal(got, []int{180, 180, 200}) {
		t.Fatalf("alice got %v", got)
	}
	cancels := f.txs.all("CANCEL")
	if len(cancels) != 1 || cancels[0].dst.Addr != invs[0].dst.Addr {
		t.Fatalf("CANCELs %v, want one to the losing branch", cancels)
	}
	if cancels[0].req.Header("Via") != invs[0].req.Header("Via") {
		t.Errorf("CANCEL Via %q, want the INVITE's %q", cancels[0].req.Header("Via"), invs[0].req.Header("Via"))
	}
	invs[0].answer(200, "bob-1") // crossed the CANCEL
	acks := f.tp.sent()
	if len(acks) != 1 || acks[0].ToTag() != "bob-1" {
		t.Fatalf("ACKs %v, want one for the late 2xx", acks)
	}
	byes := f.txs.all("BYE")
	if len(byes) != 1 || byes[0].req.ToTag() != "bob-1" {
		t.Fatalf("BYEs %v, want one to the late 2xx's dialog", byes)
	}
	if len(aTx.codes()) != 3 {
		t.Errorf("the late 2xx reached alice: %v", aTx.codes())
	}
}

// TestFailover: a plan's destinations are tried in order on 5xx and 408,
// and a 486 ends the search and goes back to alice.
func TestFailover(t *testing.T) {
	tests := []struct {
		name    string
		answers []int
		tried   int
		final   int
		trunk   string
	}{
		{"first answers", []int{200}, 1, 200, "gw1"},
		{"503 then 200", []int{503, 200}, 2, 200, "gw2"},
		{"408 then 500 then busy", []int{408, 500, 486}, 3, 486, "gw3"},
		{"busy is final", []int{486}, 1, 486, "gw1"},
		{"all fail", []int{503, 503, 503}, 3, 503, "gw3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			plan := Plan{Route: "out", DialledUser: "4930123", Destinations: []Destination{
				{URI: "sip:4930123@203.0.113.1", Trunk: "gw1"}, {URI: "sip:4930123@203.0.113.2", Trunk: "gw2"}, {URI: "sip:4930123@203.0.113.3", Trunk: "gw3"}}}
			aTx := f.dialPlan(plan)
			for i, code := range tt.answers {
				invs := f.txs.all("INVITE")
				if len(invs) != i+1 {
					t.Fatalf("after %d answers, %d INVITEs", i, len(invs))
				}
				if got := invs[i].req.Header("To"); got != "<sip:4930123@203.0.113."+string(rune('1'+i))+">" {
					t.Errorf("To %q, want the dialled number", got)
				}
				invs[i].answer(code, "gw")
			}
			if n := len(f.txs.all("INVITE")); n != tt.tried {
				t.Errorf("%d destinations tried, want %d", n, tt.tried)
			}
			if last := aTx.last(); last == nil || last.StatusCode() != tt.final {
				t.Fatalf("alice got %v, want %d", aTx.codes(), tt.final)
			}
			if tt.final != 200 {
				if len(f.records) != 1 || f.records[0].Trunk != tt.trunk || f.records[0].Dialled != "4930123" {
					t.Errorf("records %+v, want one for trunk %s", f.records, tt.trunk)
				}
			}
		})
	}
}

func aIncoming(t *testing.T) *transport.Incoming {
	return &transport.Incoming{Msg: golden(t, "invite.sip"), Proto: transport.UDP, Source: aliceAddr, Listener: listener}
}

// TestGlare: while alice's re-INVITE waits for bob, bob's own re-INVITE
// gets 491 and a second one of alice's 500 with Retry-After; after the
// ACK a new offer goes through.
func TestGlare(t *testing.T) {
	f := newFixture(t)
	aTx, inv := answered(t, f)
	f.deliver(aRequest(t, aTx, "INVITE", 11))
	reinv := f.txs.all("INVITE")
	if len(reinv) != 2 {
		t.Fatalf("re-INVITE not relayed: %d INVITEs", len(reinv))
	}
	bTx := f.deliver(bRequest(t, inv.req, "bob-1", "INVITE", 1))
	if got := bTx.codes(); !slices.Equal(got, []int{491}) {
		t.Errorf("bob's crossing re-INVITE got %v, want 491", got)
	}
	a2 := f.deliver(aRequest(t, aTx, "INVITE", 12))
	if got := a2.codes(); !slices.Equal(got, []int{500}) || a2.last().Header("Retry-After") == "" {
		t.Errorf("alice's second re-INVITE got %v, want 500 with Retry-After", got)
	}
	reinv[1].answer(200, "")
	f.deliver(aRequest(t, aTx, "ACK", 11))
	if n := len(f.tp.sent()); n != 2 {
		t.Fatalf("%d ACKs to bob, want 2 (the call's and the re-INVITE's)", n)
	}
	bTx = f.deliver(bRequest(t, inv.req, "bob-1", "UPDATE", 2))
	if ups := f.txs.all("UPDATE"); len(ups) != 1 {
		t.Errorf("bob's UPDATE after the ACK not relayed (%v)", bTx.codes())
	}
}

// TestCancel: alice's CANCEL before bob rang waits for his provisional
// (§9.1), then cancels; bob's 487 ends the call with 487 to alice.
func TestCancel(t *testing.T) {
	f := newFixture(t)
	aTx, _ := f.call(Plan{}, "sip:bob@203.0.113.9:5060")
	c := f.b.setup(cancelKey(golden(t, "invite.sip")))
	if c == nil {
		t.Fatal("no call for the CANCEL to find")
	}
	c.Post(c.onCancel)
	if n := len(f.txs.all("CANCEL")); n != 0 {
		t.Fatalf("CANCEL sent before any provisional")
	}
	inv := f.txs.all("INVITE")[0]
	inv.answer(100, "")
	if n := len(f.txs.all("CANCEL")); n != 1 {
		t.Fatalf("%d CANCELs after the 100, want 1", n)
	}
	inv.answer(487, "bob-1")
	if got := aTx.codes(); !slices.Equal(got, []int{487}) {
		t.Errorf("alice got %v, want 487", got)
	}
	if len(f.records) != 1 || f.records[0].Disposition != cdr.Cancelled || f.records[0].HungUpBy != cdr.Caller {
		t.Errorf("records %+v, want one cancelled by the caller", f.records)
	}
	if f.b.Len() != 0 || f.b.table.Len() != 0 {
		t.Errorf("%d calls and %d dialogs left", f.b.Len(), f.b.table.Len())
	}
}

// TestByeAndRecord: bob's BYE is answered and passed to alice as a BYE
// of the A leg; the record has both Call-IDs, the times and the party.
func TestByeAndRecord(t *testing.T) {
	f := newFixture(t)
	aTx, inv := answered(t, f)
	f.clk.Advance(61500 * time.Millisecond)
	bTx := f.deliver(bRequest(t, inv.req, "bob-1", "BYE", 1))
	if got := bTx.codes(); !slices.Equal(got, []int{200}) {
		t.Errorf("bob's BYE got %v", got)
	}
	byes := f.txs.all("BYE")
	if len(byes) != 1 || byes[0].req.Header("Call-ID") != "alice-call-1@198.51.100.7" || byes[0].dst.Addr != aliceAddr {
		t.Fatalf("BYEs %v, want one to alice on the A leg", byes)
	}
	if got := byes[0].req.ToTag(); got != "alice-tag-1" {
		t.Errorf("BYE To tag %q", got)
	}
	if len(f.records) != 1 {
		t.Fatalf("%d records", len(f.records))
	}
	r := f.records[0]
	if r.CallID != "alice-call-1@198.51.100.7" || r.BCallID != inv.req.Header("Call-ID") || r.HungUpBy != cdr.Callee ||
		r.Disposition != cdr.Answered || r.Billable() != 62 || r.Caller != "sip:alice@example.com" || r.Callee != "sip:bob@example.com" {
		t.Errorf("record %+v (billable %d)", r, r.Billable())
	}
	_ = aTx
	if f.b.Len() != 0 || f.b.table.Len() != 0 {
		t.Errorf("%d calls and %d dialogs left", f.b.Len(), f.b.table.Len())
	}
	if !f.b.Owns("alice-call-1@198.51.100.7") {
		t.Error("Owns forgot the A leg's Call-ID at once")
	}
}

// TestNoACK: a 2xx alice never ACKs is retransmitted at T1, 2T1, … up to
// T2, and after 64*T1 both legs get a BYE.
func TestNoACK(t *testing.T) {
	f := newFixture(t)
	aTx, _ := f.call(Plan{}, "sip:bob@203.0.113.9:5060")
	f.txs.all("INVITE")[0].answer(200, "bob-1")
	f.clk.Advance(3600 * time.Millisecond) // 0.5 + 1 + 2 s: three retransmissions
	if n := len(aTx.codes()); n != 4 {
		t.Errorf("%d copies of the 2xx after 3.6 s, want 4", n)
	}
	for i := 0; i < 40; i++ {
		f.clk.Advance(time.Second)
	}
	if n := len(f.txs.all("BYE")); n != 2 {
		t.Errorf("%d BYEs after 64*T1 without ACK, want 2", n)
	}
	if f.b.Len() != 0 || len(f.records) != 1 || f.records[0].HungUpBy != cdr.System {
		t.Errorf("call not ended by the system: %d calls, records %+v", f.b.Len(), f.records)
	}
}

// TestPRACK: a reliable 183 is renumbered for alice, and her PRACK goes
// to bob with his RSeq and INVITE CSeq.
func TestPRACK(t *testing.T) {
	f := newFixture(t)
	aTx, _ := f.call(Plan{}, "sip:bob@203.0.113.9:5060")
	inv := f.txs.all("INVITE")[0]
	inv.answer(183, "bob-1", "Require", "100rel", "RSeq", "4711")
	inv.answer(183, "bob-1", "Require", "100rel", "RSeq", "4711") // retransmitted
	resps := aTx.codes()
	if !slices.Equal(resps, []int{183, 183}) || aTx.last().Header("RSeq") != "1" || aTx.last().Header("Require") != "100rel" {
		t.Fatalf("alice got %v, RSeq %q", resps, aTx.last().Header("RSeq"))
	}
	p := f.deliver(aRequest(t, aTx, "PRACK", 11, "RAck", "1 10 INVITE"))
	pracks := f.txs.all("PRACK")
	if len(pracks) != 1 || pracks[0].req.Header("RAck") != "4711 1 INVITE" {
		t.Fatalf("PRACKs %v", pracks)
	}
	pracks[0].answer(200, "")
	if !slices.Equal(p.codes(), []int{200}) {
		t.Errorf("alice's PRACK got %v", p.codes())
	}
	bad := f.deliver(aRequest(t, aTx, "PRACK", 12, "RAck", "9 10 INVITE"))
	if !slices.Equal(bad.codes(), []int{481}) {
		t.Errorf("PRACK of an unknown RSeq got %v, want 481", bad.codes())
	}
}

// TestPassHeaders: which headers cross.
func TestPassHeaders(t *testing.T) {
	b := New(Config{PassHeaders: []string{"P-Asserted-Identity"}, PassXHeaders: true})
	for name, want := range map[string]bool{
		"P-Asserted-Identity": true, "p-asserted-identity": true, "X-Account": true, "x-a": true,
		"X-": false, "User-Agent": false, "Via": false, "Contact": false, "Record-Route": false,
	} {
		if got := b.passes(name); got != want {
			t.Errorf("passes(%q) = %v, want %v", name, got, want)
		}
	}
	if New(Config{}).passes("X-Account") {
		t.Error("X- headers pass without PassXHeaders")
	}
	if !New(Config{}).passes("Supported") || New(Config{}).passes("User-Agent") {
		t.Error("the default list is not DefaultPassHeaders")
	}
}

// TestLateOffer: bob's offer in his 2xx reaches alice, and her answer in
// the ACK reaches bob in his ACK, which waits for hers.
func TestLateOffer(t *testing.T) {
	f := newFixture(t)
	aTx, _ := f.call(Plan{}, "sip:bob@203.0.113.9:5060")
	inv := f.txs.all("INVITE")[0]
	ok := sip.NewResponse(inv.req, 200, "", "bob-1", "Contact", "<sip:bob@203.0.113.9:5060>")
	ok.SetBody("application/sdp", []byte("v=0\r\no=bob offer\r\n"))
	inv.onResponse(ok)
	if got := string(aTx.last().Body()); got != "v=0\r\no=bob offer\r\n" {
		t.Fatalf("alice's 2xx body %q", got)
	}
	if n := len(f.tp.sent()); n != 0 {
		t.Fatalf("bob ACKed before alice: %d ACKs", n)
	}
	ack := aRequest(t, aTx, "ACK", 10)
	ack.SetBody("application/sdp", []byte("v=0\r\no=alice answer\r\n"))
	f.deliver(ack)
	f.deliver(aRequest(t, aTx, "ACK", 10)) // retransmitted: nothing more
	acks := f.tp.sent()
	if len(acks) != 1 || string(acks[0].Body()) != "v=0\r\no=alice answer\r\n" || acks[0].ContentType() != "application/sdp" {
		t.Fatalf("ACKs to bob %v", acks)
	}
	inv.onResponse(ok) // bob did not get it: his 2xx again, the same ACK again
	if acks = f.tp.sent(); len(acks) != 2 || acks[1].Header("Via") != acks[0].Header("Via") {
		t.Errorf("2xx retransmission: ACKs %v", acks)
	}
}

// TestUnreachable: a target refused at once does not end the call while
// the other targets of its group, or the next destinations, remain.
func TestUnreachable(t *testing.T) {
	f := newFixture(t)
	f.txs.fail = map[netip.Addr]bool{netip.MustParseAddr("203.0.113.9"): true}
	aTx, _ := f.call(Plan{}, "sip:bob@203.0.113.9:5060", "sip:bob@203.0.113.10:5060")
	invs := f.txs.all("INVITE")
	if len(invs) != 1 || aTx.last() != nil {
		t.Fatalf("%d branches under way, alice got %v; want the reachable one ringing", len(invs), aTx.codes())
	}
	invs[0].answer(200, "bob-2")
	if got := aTx.codes(); !slices.Equal(got, []int{200}) {
		t.Errorf("alice got %v", got)
	}

	f = newFixture(t)
	f.txs.fail = map[netip.Addr]bool{netip.MustParseAddr("203.0.113.1"): true}
	aTx = &serverTx{}
	plan := Plan{Destinations: []Destination{{URI: "sip:1@203.0.113.1"}, {URI: "sip:1@203.0.113.2"}}}
	f.b.takeCall(t.Context(), aTx, aIncoming(t), plan, []target{{uri: "sip:1@203.0.113.1"}, {uri: "sip:1@203.0.113.2"}})
	if invs := f.txs.all("INVITE"); len(invs) != 1 || invs[0].dst.Addr.Addr().String() != "203.0.113.2" {
		t.Fatalf("INVITEs %v, want the second destination's", invs)
	}

	f = newFixture(t)
	f.txs.fail = map[netip.Addr]bool{netip.MustParseAddr("203.0.113.9"): true}
	aTx, _ = f.call(Plan{}, "sip:bob@203.0.113.9:5060")
	if last := aTx.last(); last == nil || last.StatusCode() != 503 || f.b.Len() != 0 {
		t.Errorf("alice got %v with the only target unreachable, want 503", aTx.codes())
	}
}

// TestLegSend: a request Parley originates on a leg goes out in its
// dialog and its final response comes back to the sender.
func TestLegSend(t *testing.T) {
	f := newFixture(t)
	_, inv := answered(t, f)
	c := f.b.Calls()[0]
	call := f.b.Call(c.ID)
	var got *sip.Message
	call.Post(func() {
		if err := call.B().Send("UPDATE", "", nil, func(r *sip.Message) { got = r }, "Session-Expires", "1800;refresher=uac"); err != nil {
			t.Error(err)
		}
	})
	ups := f.txs.all("UPDATE")
	if len(ups) != 1 || ups[0].req.Header("Call-ID") != inv.req.Header("Call-ID") || ups[0].req.Header("Session-Expires") == "" || ups[0].req.ToTag() != "bob-1" {
		t.Fatalf("UPDATEs %v", ups)
	}
	ups[0].answer(200, "")
	if got == nil || got.StatusCode() != 200 {
		t.Errorf("sender got %v", got)
	}
}

// TestAdmit: a call Admit refuses is answered with its status, never
// reaches the callee, and does not count as ended for OnEnd.
func TestAdmit(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Admit = func(context.Context, *Call) error { return &sip.Error{Code: 486, Reason: "Too Many Calls For User"} }
	})
	aTx, _ := f.call(Plan{}, "sip:bob@203.0.113.9:5060")
	if last := aTx.last(); last == nil || last.StatusCode() != 486 || last.Reason() != "Too Many Calls For User" {
		t.Fatalf("alice got %v", aTx.codes())
	}
	if len(f.txs.all("INVITE")) != 0 || len(f.ended) != 0 || len(f.records) != 1 {
		t.Errorf("INVITEs %d, OnEnd %d, records %d; want 0, 0, 1", len(f.txs.all("INVITE")), len(f.ended), len(f.records))
	}
}

// TestStop: stopping the server hangs up an answered call on both legs
// and refuses one still ringing with 503; both records say interrupted.
func TestStop(t *testing.T) {
	f := newFixture(t)
	answered(t, f)
	aTx, _ := f.call(Plan{}, "sip:carol@203.0.113.11:5060")
	f.txs.all("INVITE")[1].answer(180, "carol-1")
	f.b.Stop()
	if n := len(f.txs.all("BYE")); n != 2 {
		t.Errorf("%d BYEs, want one on each leg of the answered call", n)
	}
	if last := aTx.last(); last.StatusCode() != 503 || len(f.txs.all("CANCEL")) != 1 {
		t.Errorf("ringing call: alice got %v, %d CANCELs", aTx.codes(), len(f.txs.all("CANCEL")))
	}
	if f.b.Len() != 0 || len(f.records) != 2 {
		t.Fatalf("%d calls, %d records", f.b.Len(), len(f.records))
	}
	for _, r := range f.records {
		if r.Disposition != cdr.Interrupted || r.HungUpBy != cdr.System {
			t.Errorf("record %+v, want interrupted by the system", r)
		}
	}
}

// TestReinviteRetransmitted2xx: bob's 2xx to alice's re-INVITE, sent
// again after alice's ACK crossed, is ACKed again and goes no further.
func TestReinviteRetransmitted2xx(t *testing.T) {
	f := newFixture(t)
	aTx, _ := answered(t, f)
	re := f.deliver(aRequest(t, aTx, "INVITE", 11))
	reinv := f.txs.all("INVITE")[1]
	ok := reinv.answer(200, "")
	f.deliver(aRequest(t, aTx, "ACK", 11))
	reinv.onResponse(ok)
	f.clk.Advance(10 * time.Second)
	if got := re.codes(); !slices.Equal(got, []int{200}) {
		t.Errorf("alice got %v for her re-INVITE, want one 200", got)
	}
	if n := len(f.tp.sent()); n != 3 {
		t.Errorf("%d ACKs to bob, want 3 (the call's, the re-INVITE's and its resend)", n)
	}
	f.clk.Advance(time.Minute)
	reinv.onResponse(ok) // past 64*T1: nothing kept, nothing sent
	if n := len(f.tp.sent()); n != 3 {
		t.Errorf("%d ACKs after 64*T1", n)
	}
}

// TestAgent: with server_header set, Parley names itself on its legs
// (Server, User-Agent) and the far ends' own stay behind.
func TestAgent(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Agent = func() string { return "Parley" } })
	aTx, inv := answered(t, f)
	if got := inv.req.HeaderValues("User-Agent"); len(got) != 1 || got[0] != "Parley" {
		t.Errorf("B INVITE User-Agent %q", got)
	}
	if got := aTx.last().Header("Server"); got != "Parley" {
		t.Errorf("alice's 200 Server %q", got)
	}
	if New(Config{}).agent(true, nil) != nil {
		t.Error("no Agent still names Parley")
	}
}

// TestWatch: Watch hears each call's steps once and in order, with what
// the observer shows of the call by then; a refused call only starts and
// ends.
func TestWatch(t *testing.T) {
	type seen struct {
		step     Step
		state    string
		ringing  bool
		aCallID  string
		received string
	}
	var steps []seen
	var refuse bool
	f := newFixture(t, func(c *Config) {
		c.Watch = func(c *Call, step Step) {
			s := seen{step: step}
			if step != Started { // on the call's queue
				ci := c.Current()
				s.state, s.ringing, s.aCallID, s.received = ci.State, !ci.Ringing.IsZero(), ci.A.CallID, ci.Source
			}
			steps = append(steps, s)
		}
		c.Admit = func(context.Context, *Call) error {
			if refuse {
				return &sip.Error{Code: 486, Reason: "Busy Here"}
			}
			return nil
		}
	})
	aTx, inv := answered(t, f)
	f.deliver(bRequest(t, inv.req, "bob-1", "BYE", 1))
	src := aliceAddr.String()
	want := []seen{{step: Started}, {Ringing, "ringing", true, "alice-call-1@198.51.100.7", src},
		{Answered, "answered", true, "alice-call-1@198.51.100.7", src}, {Ended, "ended", true, "alice-call-1@198.51.100.7", src}}
	if !slices.Equal(steps, want) {
		t.Errorf("steps\n%+v, want\n%+v", steps, want)
	}
	if aTx.last().StatusCode() != 200 {
		t.Fatalf("alice's last answer %d", aTx.last().StatusCode())
	}
	steps, refuse = nil, true
	f.call(Plan{}, "sip:bob@203.0.113.9:5060")
	if len(steps) != 2 || steps[0].step != Started || steps[1].step != Ended || steps[1].state != "ended" {
		t.Errorf("a refused call's steps %+v", steps)
	}
}

// TestAnsweredKeepsNoSetup: a held call lives for hours, so what only
// its setup needed goes at the answer.
func TestAnsweredKeepsNoSetup(t *testing.T) {
	f := newFixture(t)
	answered(t, f)
	c := f.b.Call(f.b.Calls()[0].ID)
	ran := false
	c.Post(func() {
		ran = true
		for what, kept := range map[string]bool{
			"its setup (ring timer, CANCEL key)": c.su != nil,
			"the caller's INVITE":                c.aInvite != nil,
			"a snapshot mark (no OnChange)":      c.mark != nil,
			"moved legs (no transfer, pickup)":   c.moved != nil,
		} {
			if kept {
				t.Errorf("the answered call keeps %s", what)
			}
		}
	})
	if !ran {
		t.Fatal("the call's queue did not run the check")
	}
	f.b.mu.Lock()
	setups := len(f.b.setups)
	f.b.mu.Unlock()
	if setups != 0 {
		t.Errorf("%d setups kept for CANCELs after the answer", setups)
	}
}

// TestGRUUCallee: a callee reached by its registered URI (no flow) that
// answers with a GRUU of ours as Contact, as Linphone does, gets the
// dialog's requests (the ACK, a BYE) at the address the INVITE reached
// it, with the GRUU as Request-URI: resolving the GRUU's domain by DNS
// would lose them, and the phone would hang up for want of an ACK.
func TestGRUUCallee(t *testing.T) {
	h := newHarness(t, Control{}, Config{})
	h.noFlow = true
	cl := h.dial("alice@example.com", Plan{})
	const gr = "sip:bob@example.com;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
	cl.answer("Contact", "<"+gr+">")
	var acked bool
	for _, a := range h.net.acks {
		acked = acked || a.Header("Call-ID") == cl.c.bCallID && a.RequestURI() == gr
	}
	if !acked {
		t.Fatal("the callee's 2xx was not ACKed at its GRUU")
	}
	cl.fromA("BYE", 2)
	byes := h.net.requests("BYE", calleeAt)
	if len(byes) != 1 || byes[0].req.RequestURI() != gr {
		t.Fatalf("%d BYEs reached the callee's address, want one to its GRUU", len(byes))
	}
}
