package transaction

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// link delivers what a sender sends to layer dst 5 ms later, as received
// over UDP from src.
func link(t *testing.T, clk *clock.Fake, dst *Layer, src, local netip.AddrPort) func(transport.Target, []byte) {
	return func(_ transport.Target, b []byte) {
		clk.AfterFunc(5*time.Millisecond, func() {
			m, err := sip.Parse(b)
			if err != nil {
				t.Errorf("unparsable: %v", err)
				return
			}
			dst.HandleMessage(&transport.Incoming{Msg: m, Proto: transport.UDP, Source: src, Local: local})
		})
	}
}

// uas is the Core of the far layer: it answers each request by the kind
// its Call-ID names and, for a 2xx to an INVITE, retransmits the 2xx
// itself until the ACK comes, as a UAS core must (§13.3.1.4).
type uas struct {
	clk      *clock.Fake
	mu       sync.Mutex
	acked    map[string]bool
	failures map[string]error
	seen     map[string]bool
}

func (u *uas) ServeRequest(tx *ServerTx, in *transport.Incoming) {
	callID, _ := in.Msg.CallID()
	u.mu.Lock()
	u.seen[callID] = true
	u.mu.Unlock()
	tx.OnFailure(func(err error) {
		u.mu.Lock()
		u.failures[callID] = err
		u.mu.Unlock()
	})
	switch {
	case strings.HasPrefix(callID, "reject"):
		tx.Respond(sip.NewResponse(in.Msg, 180, "", "uas"))
		tx.Respond(sip.NewResponse(in.Msg, 486, "", "uas"))
	case strings.HasPrefix(callID, "accept"):
		ok := sip.NewResponse(in.Msg, 200, "", "uas")
		tx.Respond(ok)
		u.retransmit2xx(tx, ok, callID, 500*time.Millisecond)
	default:
		tx.Respond(sip.NewResponse(in.Msg, 200, "", "uas"))
	}
}

func (u *uas) retransmit2xx(tx *ServerTx, ok *sip.Message, callID string, interval time.Duration) {
	u.clk.AfterFunc(interval, func() {
		u.mu.Lock()
		done := u.acked[callID]
		u.mu.Unlock()
		if done || tx.Respond(ok) != nil {
			return
		}
		u.retransmit2xx(tx, ok, callID, min(2*interval, 4*time.Second))
	})
}

func (u *uas) ServeACK(in *transport.Incoming) {
	callID, _ := in.Msg.CallID()
	u.mu.Lock()
	u.acked[callID] = true
	u.mu.Unlock()
}

func (u *uas) ServeStrayResponse(*transport.Incoming) {}

// ackFor2xx is the ACK a UAC core sends for a 2xx: a new branch, end to
// end (§13.2.2.4).
func ackFor2xx(resp *sip.Message) []byte {
	cseq, _ := resp.CSeq()
	callID, _ := resp.CallID()
	m, _ := sip.NewRequestBuilder("ACK", "sip:bob@example.com").
		Header("Via", "SIP/2.0/UDP 192.0.2.10:5060;branch="+NewBranch()).
		Header("Max-Forwards", "70").
		Header("From", resp.Header("From")).
		Header("To", resp.Header("To")).
		Header("Call-ID", callID).
		Header("CSeq", fmt.Sprintf("%d ACK", cseq.Seq)).
		Message("", nil)
	return m.Bytes()
}

// TestLossyNetwork wires a client layer and a server layer through a
// network that drops 20% of datagrams each way, and runs 200
// transactions through it: INVITEs rejected with 486 (ACKed by the
// transactions), INVITEs accepted with 200 (2xx and ACK end to end) and
// MESSAGEs. Every one completes through retransmissions.
func TestLossyNetwork(t *testing.T) {
	clk := clock.NewFake(epoch)
	sa, sb := newFakeSender(clk), newFakeSender(clk)
	sa.lossy(0.2, 1)
	sb.lossy(0.2, 2)
	far := &uas{clk: clk, acked: map[string]bool{}, failures: map[string]error{}, seen: map[string]bool{}}
	a := New(Config{Clock: clk}, sa, &fakeCore{})
	b := New(Config{Clock: clk}, sb, far)
	sa.deliver = link(t, clk, b, proxyAddr, uasAddr)
	sb.deliver = link(t, clk, a, uasAddr, proxyAddr)

	const n = 200
	kinds := []struct{ prefix, method string }{{"reject", "INVITE"}, {"accept", "INVITE"}, {"message", "MESSAGE"}}
	finals := make([]int, n)
	for i := range n {
		kind := kinds[i%len(kinds)]
		callID := fmt.Sprintf("%s-%d", kind.prefix, i)
		clk.AfterFunc(time.Duration(i)*20*time.Millisecond, func() {
			req := rq{method: kind.method, branch: NewBranch(), sentBy: "192.0.2.10:5060", callID: callID}.msg(t)
			_, err := a.Request(req, udpTarget, func(resp *sip.Message, err error) {
				if err != nil {
					t.Errorf("%s: local %d: %v", callID, resp.StatusCode(), err)
					return
				}
				if resp.StatusCode() >= 200 {
					finals[i] = resp.StatusCode()
				}
				if kind.prefix == "accept" && resp.StatusCode() == 200 {
					sa.Send(udpTarget, ackFor2xx(resp))
				}
			})
			if err != nil {
				t.Errorf("%s: %v", callID, err)
			}
		})
	}
	clk.Advance(3 * time.Minute)

	for i, code := range finals {
		want := map[string]int{"reject": 486, "accept": 200, "message": 200}[kinds[i%len(kinds)].prefix]
		if code != want {
			t.Errorf("transaction %d ended with %d, want %d", i, code, want)
		}
	}
	far.mu.Lock()
	for i := range n {
		callID := fmt.Sprintf("%s-%d", kinds[i%len(kinds)].prefix, i)
		if err := far.failures[callID]; err != nil {
			t.Errorf("%s: server transaction failed: %v", callID, err)
		}
		if strings.HasPrefix(callID, "accept") && !far.acked[callID] {
			t.Errorf("%s: 2xx never ACKed", callID)
		}
	}
	far.mu.Unlock()
	if sa, sb := a.Stats(), b.Stats(); sa.ClientActive != 0 || sb.ServerActive != 0 || sa.ClientCreated != n || sb.ServerCreated != n {
		t.Errorf("stats at the end: client %+v server %+v", sa, sb)
	}
	var sent, dropped int
	for _, m := range append(sa.all(), sb.all()...) {
		sent++
		if m.dropped {
			dropped++
		}
	}
	share := float64(dropped) / float64(sent)
	if share < 0.15 || share > 0.25 {
		t.Errorf("dropped %d of %d datagrams (%.0f%%), want about 20%%", dropped, sent, 100*share)
	}
	t.Logf("%d datagrams, %d dropped (%.1f%%); %d requests sent for %d transactions",
		sent, dropped, 100*share, sa.count(func(m *sip.Message) bool { return m.IsRequest() && m.Method() != "ACK" }), n)
}
