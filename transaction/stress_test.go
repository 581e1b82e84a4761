package transaction

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// syncLink is a Sender that hands each message straight to another
// layer on the sending goroutine, dropping a share of UDP datagrams: the
// whole exchange then runs on one stack, which deadlocks if the layer
// ever calls out while holding a lock.
type syncLink struct {
	mu   sync.Mutex
	rng  *rand.Rand
	loss float64
	to   *Layer
	src  transport.Target
}

func (s *syncLink) Send(dst transport.Target, b []byte) error {
	s.mu.Lock()
	drop := s.rng.Float64() < s.loss
	s.mu.Unlock()
	if drop {
		return nil
	}
	m, err := sip.Parse(bytes.Clone(b))
	if err != nil {
		return err
	}
	s.to.HandleMessage(&transport.Incoming{Msg: m, Proto: transport.UDP, Source: s.src.Addr})
	return nil
}

// TestConcurrentStress runs many transactions from several goroutines
// between two layers on the real timing wheel, with synchronous delivery
// and 10% loss, under the race detector. Every transaction must end and
// every table must drain.
func TestConcurrentStress(t *testing.T) {
	w := clock.NewWheel(time.Millisecond)
	defer w.Stop()
	cfg := Config{Clock: w, T1: 20 * time.Millisecond, T2: 80 * time.Millisecond, T4: 100 * time.Millisecond, TimerD: 200 * time.Millisecond}
	ab := &syncLink{rng: rand.New(rand.NewPCG(1, 2)), loss: 0.1, src: transport.Target{Addr: proxyAddr}}
	ba := &syncLink{rng: rand.New(rand.NewPCG(3, 4)), loss: 0.1, src: transport.Target{Addr: uasAddr}}
	far := &uas2{}
	a := New(cfg, ab, &fakeCore{})
	b := New(cfg, ba, far)
	ab.to, ba.to = b, a

	const goroutines, each = 8, 40
	var finals, local atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				method := [...]string{"INVITE", "OPTIONS"}[i%2]
				req := rq{method: method, branch: NewBranch(), sentBy: "192.0.2.10:5060", callID: fmt.Sprintf("%d-%d", g, i)}.msg(t)
				done := make(chan struct{})
				var once sync.Once
				_, err := a.Request(req, udpTarget, func(resp *sip.Message, err error) {
					if resp.StatusCode() < 200 {
						return
					}
					if err != nil {
						local.Add(1)
					}
					once.Do(func() { finals.Add(1); close(done) })
				})
				if err != nil {
					t.Error(err)
					return
				}
				<-done
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for a.Stats().ClientActive+b.Stats().ServerActive > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if finals.Load() != goroutines*each {
		t.Fatalf("%d finals, want %d", finals.Load(), goroutines*each)
	}
	if sa, sb := a.Stats(), b.Stats(); sa.ClientActive != 0 || sb.ServerActive != 0 {
		t.Fatalf("tables did not drain: client %+v server %+v", sa, sb)
	}
	t.Logf("%d transactions, %d ended by a local 408/503", finals.Load(), local.Load())
}

// uas2 answers INVITE with 486 and anything else with 200.
type uas2 struct{}

func (uas2) ServeRequest(tx *ServerTx, in *transport.Incoming) {
	code := 200
	if tx.Method() == "INVITE" {
		code = 486
	}
	tx.Respond(sip.NewResponse(in.Msg, code, "", "uas"))
}
func (uas2) ServeACK(*transport.Incoming)           {}
func (uas2) ServeStrayResponse(*transport.Incoming) {}

// TestOverloadLog: reaching the bound logs one warning, not one per 503.
func TestOverloadLog(t *testing.T) {
	var buf bytes.Buffer
	h := newHarness(t, Config{MaxTransactions: 1, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	for i := range 5 {
		h.l.HandleMessage(rq{method: "OPTIONS", branch: fmt.Sprintf("z9hG4bK-%d", i)}.in(t))
	}
	if n := strings.Count(buf.String(), "bound reached"); n != 1 || h.l.Stats().Rejected != 4 {
		t.Fatalf("%d warnings for %d rejections:\n%s", n, h.l.Stats().Rejected, buf.String())
	}
}
