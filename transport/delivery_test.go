package transport

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
)

var injectFrom = Incoming{Proto: UDP, Source: netip.MustParseAddrPort("192.0.2.1:5060")}

// A handler that kept what it released finds it poisoned in checked
// builds: the Incoming has no message, the Message panics on use, and a
// string taken from it reads as the poison byte.
func TestReleasedDeliveryPoisoned(t *testing.T) {
	if !sip.CheckReleased {
		t.Skip("only checked builds poison: run with -race or -tags sipcheck")
	}
	var (
		kept    *Incoming
		msg     *sip.Message
		callID  string
		release = true
	)
	h := HandlerFunc(func(in *Incoming) {
		kept, msg = in, in.Msg
		callID, _ = in.Msg.CallID()
		if release {
			in.Release()
		}
	})
	if err := Inject(h, sip.DefaultLimits, request(UDP, "192.0.2.1:5060", ""), injectFrom); err != nil {
		t.Fatal(err)
	}
	if kept.Msg != nil {
		t.Error("a released Incoming still has its Message")
	}
	if callID != strings.Repeat(string(rune(poisonByte)), len(callID)) {
		t.Errorf("a Call-ID kept from a released message reads %q, want it poisoned", callID)
	}
	func() {
		defer func() {
			if r := recover(); r != sip.ErrReleased {
				t.Errorf("Method of a released Message: recovered %v, want ErrReleased", r)
			}
		}()
		msg.Method()
	}()

	release = false
	if err := Inject(h, sip.DefaultLimits, request(UDP, "192.0.2.1:5060", ""), injectFrom); err != nil {
		t.Fatal(err)
	}
	if kept.Msg != msg || msg.Method() != "OPTIONS" {
		t.Error("a message its handler did not release was changed after the handler returned")
	}
}

// Messages that are not released are never reused: each keeps its own
// bytes however many follow, over the real UDP path.
func TestKeptMessagesNotReused(t *testing.T) {
	const n = 200
	var (
		mu   sync.Mutex
		kept = map[string]*sip.Message{}
		got  = make(chan struct{}, n)
	)
	h := HandlerFunc(func(in *Incoming) {
		id, _ := in.Msg.CallID()
		if strings.HasPrefix(in.Msg.Header("Subject"), "keep") {
			mu.Lock()
			kept[id] = in.Msg
			mu.Unlock()
		} else {
			in.Release()
		}
		got <- struct{}{}
	})
	m := start(t, Config{Listeners: []ListenerConfig{{Proto: UDP, Host: "127.0.0.1"}}}, h)
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(m.Listeners()[0].Bound))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range n {
		msg := string(request(UDP, "192.0.2.1:5060", ""))
		if i%2 == 0 {
			msg = strings.Replace(msg, "Max-Forwards", "Subject: keep\r\nMax-Forwards", 1)
		}
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(wait):
			t.Fatalf("datagram %d not handled", i)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(kept) != n/2 {
		t.Fatalf("kept %d messages, want %d", len(kept), n/2)
	}
	for id, msg := range kept {
		if got, _ := msg.CallID(); got != id || msg.Header("Subject") != "keep" {
			t.Fatalf("kept message %s now has Call-ID %q, Subject %q", id, got, msg.Header("Subject"))
		}
	}
}

// In production builds a released message's memory parses the next one:
// a released response allocates nothing, a released request only what
// stamping its Via costs on its own.
func TestReleasedDeliveryReused(t *testing.T) {
	if sip.CheckReleased {
		t.Skip("checked builds poison released messages instead of reusing them")
	}
	req := request(UDP, "192.0.2.1:5060", "", "rport")
	parsed, err := sip.Parse(req)
	if err != nil {
		t.Fatal(err)
	}
	resp := sip.NewResponse(parsed, 200, "OK", "t1").Bytes()
	h := HandlerFunc(func(in *Incoming) { in.Release() })
	inject := func(data []byte) func() {
		return func() {
			if err := Inject(h, sip.DefaultLimits, data, injectFrom); err != nil {
				t.Fatal(err)
			}
		}
	}
	if allocs := testing.AllocsPerRun(200, inject(resp)); allocs != 0 {
		t.Errorf("a released response: %.1f allocations, want 0", allocs)
	}
	var m sip.Message
	stampOnly := testing.AllocsPerRun(200, func() {
		if err := sip.DefaultLimits.ParseInto(&m, req); err != nil {
			t.Fatal(err)
		}
		if err := stamp(&m, injectFrom.Source, false); err != nil {
			t.Fatal(err)
		}
	})
	if allocs := testing.AllocsPerRun(200, inject(req)); allocs > stampOnly {
		t.Errorf("a released request: %.1f allocations, want no more than its stamp's %.1f", allocs, stampOnly)
	}
}
