package b2bua

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// ring makes the callee's phone answer the B leg's INVITE 180 with its
// tag: an early dialog of Parley's as UAC.
func (cl *call) ring() {
	cl.h.t.Helper()
	s := cl.bInvite()
	s.respond(reparse(cl.h.t, sip.NewResponse(s.req, 180, "Ringing", "bob-tag", "Contact", "<sip:bob@127.0.0.1:6002>")))
	if r := cl.aTx.last(); r == nil || r.StatusCode() != 180 {
		cl.h.t.Fatalf("caller got %v, want 180", r)
	}
}

// pickupInvite is the INVITE with Replaces that carol's phone sends
// to pick up a call, from sip:carol@domain.
func pickupInvite(t *testing.T, domain string, rep sip.Replaces) (*sip.Message, *transport.Incoming) {
	return pickupInviteBody(t, domain, rep, "v=0 carol o")
}

// pickupInviteBody is pickupInvite with the given body ("" for none).
func pickupInviteBody(t *testing.T, domain string, rep sip.Replaces, body string) (*sip.Message, *transport.Incoming) {
	lines := []string{"INVITE sip:bob@example.com SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:6003;branch=z9hG4bK-pick" + newID(), "Max-Forwards: 70",
		"From: <sip:carol@" + domain + ">;tag=carol-p", "To: <sip:bob@example.com>", "Call-ID: carol-pick@127.0.0.1",
		"CSeq: 1 INVITE", "Contact: <sip:carol@127.0.0.1:6003>", "Replaces: " + rep.String(),
		"Content-Type: application/sdp", "Content-Length: " + itoa(len(body)), "", body}
	if body == "" {
		lines = append(lines[:len(lines)-4], "Content-Length: 0")
	}
	inv := parse(t, lines...)
	return inv, &transport.Incoming{Msg: inv, Proto: transport.UDP, Source: carolAt, Listener: ctlListener}
}

// TestPickup: alice calls bob, bob's phone rings; carol's phone picks
// the call up with an INVITE whose Replaces names Parley's early dialog
// with bob's phone (to-tag Parley's, from-tag the phone's), or the
// caller's early dialog as bob's busy lamp shows it, with the tags
// either way round. Carol gets 200 with alice's session, alice 200 with
// carol's, bob's phone CANCEL; the call goes on between alice and carol
// past the ACK's wait, and its record says carol answered.
func TestPickup(t *testing.T) {
	names := []struct {
		name string
		rep  func(c *Call, inv *sip.Message) sip.Replaces
	}{
		{"the ringing leg", func(c *Call, _ *sip.Message) sip.Replaces {
			return sip.Replaces{CallID: c.bCallID, ToTag: c.bTag, FromTag: "bob-tag", EarlyOnly: true}
		}},
		{"the ringing leg, tags swapped", func(c *Call, _ *sip.Message) sip.Replaces {
			return sip.Replaces{CallID: c.bCallID, ToTag: "bob-tag", FromTag: c.bTag}
		}},
		{"the caller's leg, as the lamp shows it", func(c *Call, inv *sip.Message) sip.Replaces {
			return sip.Replaces{CallID: c.aCallID, ToTag: c.aTag, FromTag: inv.FromTag(), EarlyOnly: true}
		}},
		{"the caller's leg, tags swapped", func(c *Call, inv *sip.Message) sip.Replaces {
			return sip.Replaces{CallID: c.aCallID, ToTag: inv.FromTag(), FromTag: c.aTag}
		}},
	}
	for _, n := range names {
		t.Run(n.name, func(t *testing.T) { testPickup(t, n.rep) })
	}
}

func testPickup(t *testing.T, name func(c *Call, inv *sip.Message) sip.Replaces) {
	lim := calllimit.New(calllimit.Limits{PerUser: 1})
	h := newHarness(t, Control{}, Config{Limits: lim})
	cl := h.dial("alice@example.com", Plan{})
	cl.ring()
	inv, in := pickupInvite(t, "example.com", name(cl.c, cl.invite))
	ptx := &fakeTx{}
	if !h.b.replacing(&proxy.Request{Tx: ptx, In: in, Msg: inv}) {
		t.Fatal("the pickup was not taken")
	}
	toCarol := ptx.last()
	if toCarol == nil || toCarol.StatusCode() != 200 || string(toCarol.Body()) != "v=0" || toCarol.ToTag() == "" {
		t.Fatalf("carol got %v, want 200 with alice's session", toCarol)
	}
	toAlice := cl.aTx.last()
	if toAlice.StatusCode() != 200 || string(toAlice.Body()) != "v=0 carol o" || toAlice.ToTag() != cl.c.aTag {
		t.Fatalf("alice got %v, want 200 with carol's session", toAlice)
	}
	if strings.Contains(string(toAlice.AppendTo(nil)), "127.0.0.1:6003") || strings.Contains(string(toCarol.AppendTo(nil)), "127.0.0.1:6001") {
		t.Error("an address of one phone reached the other")
	}
	if n := len(h.net.requests("CANCEL", calleeAt)); n != 1 {
		t.Fatalf("bob's phone got %d CANCELs, want 1", n)
	}
	active := func(user string) int { return lim.Active(calllimit.Caller, user) }
	if active("alice@example.com") != 1 || active("bob@example.com") != 0 || active("carol@example.com") != 1 {
		t.Fatalf("limits count alice %d, bob %d, carol %d: want bob's slot carol's now",
			active("alice@example.com"), active("bob@example.com"), active("carol@example.com"))
	}
	cl.fromA("ACK", 1)
	ack := parse(t, "ACK sip:parley@127.0.0.1:5060 SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:6003;branch=z9hG4bK-pickack", "Max-Forwards: 70",
		"From: <sip:carol@example.com>;tag=carol-p", "To: "+toCarol.Header("To"), "Call-ID: carol-pick@127.0.0.1",
		"CSeq: 1 ACK", "Content-Length: 0")
	pl := h.b.leg(ack)
	if pl == nil || pl != cl.c.bl {
		t.Fatal("carol's ACK does not reach the call's B leg")
	}
	cl.c.Post(func() { cl.c.inDialog(pl, nil, ack) })
	h.clk.Advance(40 * time.Second) // past 64*T1: both ACKs came, nothing hangs up
	if h.b.Len() != 1 || len(ptx.resps) != 1 {
		t.Fatalf("%d calls, %d answers to carol: want the call up, its 2xx not sent again", h.b.Len(), len(ptx.resps))
	}
	cl.fromA("BYE", 0)
	if n := len(h.net.requests("BYE", carolAt)); n != 1 {
		t.Fatalf("carol got %d BYEs, want 1", n)
	}
	if active("alice@example.com") != 0 || active("carol@example.com") != 0 {
		t.Error("the call's slots were not all given back at its end")
	}
	if !h.b.Owns("carol-pick@127.0.0.1") {
		t.Error("carol's INVITE is not the B2BUA's: the proxy's tracker would record it as a call of its own")
	}
	rec, _ := h.record()
	if rec.AnsweredBy != "sip:carol@example.com" || rec.Callee != "sip:bob@example.com" || rec.Disposition != cdr.Answered || rec.HungUpBy != cdr.Caller {
		t.Fatalf("record %+v: want answered by carol, callee bob", rec)
	}
}

// TestPickupRefused: what cannot be picked up is refused with why, and a
// Replaces naming no call of the B2BUA's is left to the proxy unless
// every call is the B2BUA's.
func TestPickupRefused(t *testing.T) {
	tests := []struct {
		name   string
		all    bool
		domain string
		answer bool                                         // bob answered before the pickup
		cancel bool                                         // alice cancelled before it
		noBody bool                                         // carol's INVITE offers nothing
		busy   bool                                         // carol is in another call, at her limit
		rep    func(c *Call, inv *sip.Message) sip.Replaces // nil: an unknown dialog
		want   int                                          // 0: not taken
	}{
		{name: "another domain", domain: "other.example", want: 403,
			rep: func(c *Call, _ *sip.Message) sip.Replaces {
				return sip.Replaces{CallID: c.bCallID, ToTag: c.bTag, FromTag: "bob-tag"}
			}},
		{name: "the caller gave up", domain: "example.com", cancel: true, want: 481,
			rep: func(c *Call, inv *sip.Message) sip.Replaces {
				return sip.Replaces{CallID: c.aCallID, ToTag: c.aTag, FromTag: inv.FromTag()}
			}},
		{name: "answered, tags swapped", domain: "example.com", answer: true, want: 481,
			rep: func(c *Call, _ *sip.Message) sip.Replaces {
				return sip.Replaces{CallID: c.bCallID, ToTag: "callee-tag", FromTag: c.bTag}
			}},
		{name: "early-only after the answer", domain: "example.com", answer: true, want: 486,
			rep: func(c *Call, _ *sip.Message) sip.Replaces {
				return sip.Replaces{CallID: c.bCallID, ToTag: c.bTag, FromTag: "callee-tag", EarlyOnly: true}
			}},
		{name: "the picker's late offer", domain: "example.com", noBody: true, want: 488,
			rep: func(c *Call, _ *sip.Message) sip.Replaces {
				return sip.Replaces{CallID: c.bCallID, ToTag: c.bTag, FromTag: "bob-tag"}
			}},
		{name: "the picker at her limit", domain: "example.com", busy: true, want: 486,
			rep: func(c *Call, _ *sip.Message) sip.Replaces {
				return sip.Replaces{CallID: c.bCallID, ToTag: c.bTag, FromTag: "bob-tag"}
			}},
		{name: "unknown, b2bua mode", all: true, domain: "example.com", want: 481},
		{name: "unknown, proxied calls", domain: "example.com", want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lim := calllimit.New(calllimit.Limits{Users: map[string]int{"carol@example.com": 1}})
			if tc.busy {
				lim.Admit(calllimit.Keys{Caller: "carol@example.com"})
			}
			h := newHarness(t, Control{}, Config{All: tc.all, Limits: lim})
			cl := h.dial("alice@example.com", Plan{})
			cl.ring()
			if tc.answer {
				cl.answer()
			}
			if tc.cancel {
				cl.c.Post(cl.c.onCancel)
			}
			rep := sip.Replaces{CallID: "nobody@example.com", ToTag: "x", FromTag: "y"}
			if tc.rep != nil {
				rep = tc.rep(cl.c, cl.invite)
			}
			body := "v=0 carol o"
			if tc.noBody {
				body = ""
			}
			inv, in := pickupInviteBody(t, tc.domain, rep, body)
			ptx := &fakeTx{}
			taken := h.b.replacing(&proxy.Request{Tx: ptx, In: in, Msg: inv})
			if !taken {
				if tc.want != 0 {
					t.Fatalf("not taken, want %d", tc.want)
				}
				return
			}
			if r := ptx.last(); r == nil || r.StatusCode() != tc.want {
				t.Fatalf("got %v, want %d", r, tc.want)
			}
			if !tc.answer && !tc.cancel && (h.b.Len() != 1 || cl.c.state != stateSetup || len(h.net.requests("CANCEL", calleeAt)) != 0) {
				t.Fatalf("a refused pickup changed the call: %d calls, state %d, %d CANCELs", h.b.Len(), cl.c.state, len(h.net.requests("CANCEL", calleeAt)))
			}
		})
	}
}
