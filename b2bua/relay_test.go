package b2bua

import (
	"testing"

	"github.com/parley-sip/parley/sip"
)

// TestRelayMarks: what the B2BUA sends on one leg for a message received
// on the other carries that message's arrival (sip.Message.RelayOf), so
// that the transport times it: the B leg's INVITE, ACK and BYE, the A
// leg's 180 and 200. What it sends of its own does not: the 200 to the
// caller's BYE. Arrivals are injected, one per message.
func TestRelayMarks(t *testing.T) {
	h := newHarness(t, Control{}, Config{})
	const invite, ringing, ok, ack, bye sip.Arrival = 1001, 2002, 3003, 4004, 5005
	h.arrival = invite
	cl := h.dial("alice@example.com", Plan{})
	s := cl.bInvite()
	check := func(what string, got, want sip.Arrival) {
		t.Helper()
		if got != want {
			t.Errorf("%s carries arrival %d, want %d", what, got, want)
		}
	}
	check("the B leg's INVITE", s.req.TakeRelayed(), invite)

	r := reparse(t, sip.NewResponse(s.req, 180, "Ringing", "callee-tag", "Contact", "<sip:bob@127.0.0.1:6002>"))
	r.SetArrival(ringing)
	s.respond(r)
	check("the caller's 180", cl.aTx.last().TakeRelayed(), ringing)

	o := reparse(t, sip.NewResponse(s.req, 200, "OK", "callee-tag", "Contact", "<sip:bob@127.0.0.1:6002>"))
	o.SetArrival(ok)
	s.respond(o)
	check("the caller's 200", cl.aTx.last().TakeRelayed(), ok)

	h.arrival = ack
	cl.fromA("ACK", 1)
	if len(h.net.ackDsts) != 1 {
		t.Fatalf("%d ACKs sent, want 1", len(h.net.ackDsts))
	}
	check("the B leg's ACK", h.net.ackDsts[0].Relayed, ack)

	h.arrival = bye
	byeTx := cl.fromA("BYE", 2)
	byes := h.net.requests("BYE", calleeAt)
	if len(byes) != 1 {
		t.Fatalf("%d BYEs sent to the callee, want 1", len(byes))
	}
	check("the B leg's BYE", byes[0].req.TakeRelayed(), bye)
	if r := byeTx.last(); r == nil || r.StatusCode() != 200 {
		t.Fatalf("the caller's BYE answered %v", r)
	} else {
		check("the B2BUA's own 200 to the BYE", r.TakeRelayed(), 0)
	}
}
