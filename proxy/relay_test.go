package proxy

import (
	"context"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// blockingResolver answers like fakeResolver once release is closed.
type blockingResolver struct {
	fakeResolver
	release chan struct{}
}

func (b blockingResolver) Resolve(ctx context.Context, u *sip.URI) ([]transport.Target, error) {
	<-b.release
	return b.fakeResolver.Resolve(ctx, u)
}

// TestSlowDNSBlocksNoReader: a request for a name whose DNS has not
// answered yet does not hold up the goroutine that serves it (a UDP
// reader), in stateful and stateless mode; it leaves once DNS answers.
func TestSlowDNSBlocksNoReader(t *testing.T) {
	dst := target(transport.UDP, "203.0.113.1:5060")
	for _, stateless := range []bool{false, true} {
		t.Run(map[bool]string{false: "stateful", true: "stateless"}[stateless], func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Stateless = stateless
			f := newFixture(t, cfg)
			res := blockingResolver{fakeResolver{dsts: []transport.Target{dst}}, make(chan struct{})}
			f.useResolver(res)
			served := make(chan struct{})
			go func() {
				f.serve(req(t, "invite.sip", "RURI sip:carol@slow.example.net"))
				close(served)
			}()
			select {
			case <-served:
			case <-time.After(5 * time.Second):
				close(res.release)
				t.Fatal("serving the request waited for DNS")
			}
			close(res.release)
			sent := func() int {
				if stateless {
					return len(f.tp.messages())
				}
				return len(f.txs.all("INVITE"))
			}
			for deadline := time.Now().Add(5 * time.Second); sent() == 0; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the INVITE never left after DNS answered")
				}
			}
		})
	}
}
