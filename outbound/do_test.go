package outbound

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// uas is a UDP server on loopback that answers every request with code
// and counts what it got.
func uas(t *testing.T, code int) (netip.AddrPort, <-chan string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	got := make(chan string, 16)
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			m, err := sip.Parse(append([]byte(nil), buf[:n]...))
			if err != nil || !m.IsRequest() {
				continue
			}
			got <- m.Method()
			_, _ = pc.WriteTo(sip.NewResponse(m, code, "", "uas").Bytes(), from)
		}
	}()
	return netip.MustParseAddrPort(pc.LocalAddr().String()), got
}

// ignoreCore is the transaction layer's core of a node that only sends.
type ignoreCore struct{}

func (ignoreCore) ServeRequest(*transaction.ServerTx, *transport.Incoming) {}
func (ignoreCore) ServeACK(*transport.Incoming)                            {}
func (ignoreCore) ServeStrayResponse(*transport.Incoming)                  {}

// stack is a real transport and transaction layer on a loopback port.
func stack(t *testing.T, res Resolver) *Service {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	var txs *transaction.Layer
	tp, err := transport.New(transport.Config{
		Listeners: []transport.ListenerConfig{{Proto: transport.UDP, Host: "127.0.0.1"}},
		Logger:    log,
	}, transport.HandlerFunc(func(in *transport.Incoming) { txs.HandleMessage(in) }))
	if err != nil {
		t.Fatal(err)
	}
	txs = transaction.New(transaction.Config{T1: 50 * time.Millisecond, Logger: log}, tp, ignoreCore{})
	if err := tp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	return New(Config{Transport: tp, Transactions: FromLayer(txs), Resolver: res, Log: log})
}

// TestDoOptionsFailover is what a gateway ping does: an OPTIONS
// originated by Parley to a name whose first server answers 503 ends at
// the second server's 200, over real sockets on loopback.
func TestDoOptionsFailover(t *testing.T) {
	busy, busyGot := uas(t, 503)
	ok, okGot := uas(t, 200)
	res := &fakeResolver{dsts: []transport.Target{{Proto: transport.UDP, Addr: busy}, {Proto: transport.UDP, Addr: ok}}}
	s := stack(t, res)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.Do(ctx, Request{Msg: options(t, "sip:gw.example.net")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != 200 {
		t.Fatalf("Do = %d %s, want the second server's 200", resp.StatusCode(), resp.Reason())
	}
	for name, ch := range map[string]<-chan string{"503 server": busyGot, "200 server": okGot} {
		select {
		case m := <-ch:
			if m != "OPTIONS" {
				t.Errorf("%s got %s, want OPTIONS", name, m)
			}
		case <-time.After(time.Second):
			t.Errorf("%s got nothing", name)
		}
	}
}

// TestDoFails: when no destination answers with more than 503, Do
// returns the last answer; a name without address is an error.
func TestDoFails(t *testing.T) {
	busy, _ := uas(t, 503)
	s := stack(t, &fakeResolver{dsts: []transport.Target{{Proto: transport.UDP, Addr: busy}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.Do(ctx, Request{Msg: options(t, "sip:gw.example.net")})
	if err != nil || resp.StatusCode() != 503 {
		t.Errorf("Do = %v, %v; want the only server's 503", resp, err)
	}
	s = stack(t, &fakeResolver{})
	if _, err := s.Do(ctx, Request{Msg: options(t, "sip:nowhere.example.net")}); err == nil {
		t.Error("Do to a name without address succeeded")
	}
}
