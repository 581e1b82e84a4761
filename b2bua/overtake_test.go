package b2bua

import (
	"slices"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// ackSpy is the B2BUA's Sender: it notes how many requests of method
// had gone out when each ACK went, so that a test sees their order
// across the two fakes.
type ackSpy struct {
	f      *fixture
	method string
	at     []int
}

func (s *ackSpy) Send(dst transport.Target, b []byte) error {
	s.at = append(s.at, len(s.f.txs.all(s.method)))
	return s.f.tp.Send(dst, b)
}

// TestOvertakenACK: bob's re-INVITE is answered by alice's 2xx, and a
// request arrives before bob's ACK (UDP reorders, the stage's workers
// too). One of bob's was sent after his ACK: it waits for the ACK and
// goes to alice after it, an UPDATE as no glare; with no ACK it gets 481
// when the call ends. An UPDATE of alice's waits when the re-INVITE
// carried the offer and her 2xx the answer (the exchange is complete,
// RFC 3311 §5.2), and is glare (491) when her 2xx carried the offer.
func TestOvertakenACK(t *testing.T) {
	tests := []struct {
		name    string
		offer   bool   // the re-INVITE carries SDP
		alice   bool   // the overtaking request is alice's, not bob's
		method  string // of the overtaking request
		ack     bool   // bob's ACK comes
		want    []int
		relayed int   // overtaking requests relayed
		at      []int // relayed when each ACK went
	}{
		{"bob's UPDATE, offer in the INVITE", true, false, "UPDATE", true, []int{200}, 1, []int{0, 0}},
		{"bob's UPDATE, no ACK", true, false, "UPDATE", false, []int{481}, 0, []int{0, 0}},
		{"bob's UPDATE, offer in the 2xx", false, false, "UPDATE", true, []int{200}, 1, []int{0, 0}},
		{"bob's INFO", true, false, "INFO", true, []int{200}, 1, []int{0, 0}},
		{"alice's UPDATE, offer in the INVITE", true, true, "UPDATE", true, []int{200}, 1, []int{0, 0}},
		{"alice's UPDATE, offer in the 2xx", false, true, "UPDATE", true, []int{491}, 0, []int{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spy := &ackSpy{method: tt.method}
			f := newFixture(t, func(cfg *Config) { cfg.Sender = spy })
			spy.f = f
			aTx, inv := answered(t, f)
			reinv := bRequest(t, inv.req, "bob-1", "INVITE", 1)
			if tt.offer {
				reinv.SetBody("application/sdp", []byte("v=0 bob"))
			}
			bTx := f.deliver(reinv)
			toAlice := f.txs.all("INVITE")
			if len(toAlice) != 2 {
				t.Fatalf("bob's re-INVITE not relayed: %d INVITEs", len(toAlice))
			}
			ok := sip.NewResponse(toAlice[1].req, 200, "OK", "", "Contact", "<sip:alice@198.51.100.7:5060>")
			ok.SetBody("application/sdp", []byte("v=0 alice"))
			toAlice[1].onResponse(ok)
			if got := bTx.codes(); !slices.Equal(got, []int{200}) {
				t.Fatalf("bob's re-INVITE got %v, want 200", got)
			}
			req := bRequest(t, inv.req, "bob-1", tt.method, 2)
			if tt.alice {
				req = aRequest(t, aTx, tt.method, 11)
			}
			if tt.method == "UPDATE" {
				req.SetBody("application/sdp", []byte("v=0 again"))
			}
			tx := f.deliver(req)
			if n := len(f.txs.all(tt.method)); n != 0 {
				t.Fatalf("%s relayed before the ACK", tt.method)
			}
			if tt.ack {
				f.deliver(bRequest(t, inv.req, "bob-1", "ACK", 1))
			} else {
				for range 40 { // past 64*T1: the 2xx's retransmissions end the call
					f.clk.Advance(time.Second)
				}
			}
			out := f.txs.all(tt.method)
			if len(out) != tt.relayed {
				t.Fatalf("%d %ss relayed, want %d", len(out), tt.method, tt.relayed)
			}
			for _, o := range out {
				o.answer(200, "")
			}
			if got := tx.codes(); !slices.Equal(got, tt.want) {
				t.Errorf("the %s got %v, want %v", tt.method, got, tt.want)
			}
			if !slices.Equal(spy.at, tt.at) {
				t.Errorf("%ss relayed when each ACK went: %v, want %v (the ACK first)", tt.method, spy.at, tt.at)
			}
		})
	}
}

// TestByeOvertakesACK: alice's BYE arrives before her ACK of the 2xx
// (UDP reorders them). Bob's 2xx is ACKed before his BYE goes, so that
// bob's dialog is confirmed and his 2xx is not retransmitted into a call
// that has ended.
func TestByeOvertakesACK(t *testing.T) {
	spy := &ackSpy{method: "BYE"}
	f := newFixture(t, func(cfg *Config) { cfg.Sender = spy })
	spy.f = f
	aTx, _ := f.call(Plan{}, "sip:bob@203.0.113.9:5060")
	inv := f.txs.all("INVITE")[0]
	inv.answer(200, "bob-1", "Content-Type", "application/sdp")
	bye := f.deliver(aRequest(t, aTx, "BYE", 11))
	if got := bye.codes(); !slices.Equal(got, []int{200}) {
		t.Errorf("alice's BYE got %v, want 200", got)
	}
	if n := len(f.txs.all("BYE")); n != 1 {
		t.Fatalf("%d BYEs to bob, want 1", n)
	}
	if !slices.Equal(spy.at, []int{0}) {
		t.Errorf("BYEs sent when each ACK went to bob: %v, want [0] (one ACK, before the BYE)", spy.at)
	}
	if sent := f.tp.sent(); len(sent) != 1 || sent[0].Method() != "ACK" {
		t.Errorf("sent to bob outside transactions: %d messages, want his ACK", len(sent))
	}
}
