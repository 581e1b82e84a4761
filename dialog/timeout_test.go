package dialog

import (
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// lossySender loses every request, counting them.
type lossySender struct{ sent atomic.Int32 }

func (s *lossySender) Send(transport.Target, []byte) error { s.sent.Add(1); return nil }

// noCore is a transaction user that never gets anything here.
type noCore struct{}

func (noCore) ServeRequest(*transaction.ServerTx, *transport.Incoming) {}
func (noCore) ServeACK(*transport.Incoming)                            {}
func (noCore) ServeStrayResponse(*transport.Incoming)                  {}

// TestTimeoutEndsUsage: an in-dialog request that is never answered ends
// with Timer F (non-INVITE) or Timer B (re-INVITE) after 64*T1; the
// transaction layer hands the dialog its local 408, which ends the usage
// (§12.2.1.2), and with it the dialog.
func TestTimeoutEndsUsage(t *testing.T) {
	for _, tt := range []struct {
		method string
		timer  string
	}{{"BYE", "F"}, {"INFO", "F"}, {"INVITE", "B"}} {
		t.Run(tt.method, func(t *testing.T) {
			clk := clock.NewFake(epoch)
			sender := &lossySender{}
			layer := transaction.New(transaction.Config{Clock: clk}, sender, noCore{})
			p := newPair(t)
			req, err := p.alice.NewRequest(tt.method, "SIP/2.0/UDP 192.0.2.1;branch="+transaction.NewBranch())
			if err != nil {
				t.Fatal(err)
			}
			var timedOut atomic.Bool
			dst := transport.Target{Proto: transport.UDP, Addr: netip.MustParseAddrPort("192.0.2.20:5060")}
			_, err = layer.Request(req, dst, func(resp *sip.Message, err error) {
				timedOut.Store(errors.Is(err, transaction.ErrTimeout))
				p.alice.ReceiveResponse(resp)
			})
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(64*500*time.Millisecond - time.Millisecond)
			if p.alice.State() != Confirmed {
				t.Fatalf("ended before Timer %s: %s", tt.timer, p.alice.State())
			}
			clk.Advance(time.Millisecond)
			if !timedOut.Load() || p.alice.State() != Terminated {
				t.Errorf("after Timer %s: timed out %v, dialog %s", tt.timer, timedOut.Load(), p.alice.State())
			}
			if sender.sent.Load() < 2 {
				t.Errorf("%d sends: the request was not retransmitted", sender.sent.Load())
			}
			equalLines(t, "events", p.aliceRec.take(), []string{
				"a usage-ended confirmed invite " + tt.method + " 408",
				"a terminated terminated " + tt.method + " 408",
			})
		})
	}
}
