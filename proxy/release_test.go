package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// inject hands text to serve through the transport's pooled receive path
// and reports whether the proxy released it. In checked builds what was
// released is poisoned when this returns, so a later use panics.
func inject(t *testing.T, text string, serve func(in *transport.Incoming)) bool {
	t.Helper()
	var released bool
	h := transport.HandlerFunc(func(in *transport.Incoming) {
		serve(in)
		released = in.Released()
	})
	in := *incoming(nil)
	if err := transport.Inject(h, sip.DefaultLimits, []byte(text), in); err != nil {
		t.Fatal(err)
	}
	return released
}

// The proxy releases what it forwards statelessly there and then (an ACK
// for a 2xx, a request in stateless mode, a stray response) and keeps
// everything else: a request in a response context, one a stage took
// elsewhere, one whose destination needs a DNS lookup off the reader.
func TestProxyReleasesStatelessForwards(t *testing.T) {
	kept := make(chan *Request, 1)
	keeper := StageFunc{StageName: "keeper", Fn: func(r *Request, next func()) {
		if r.Msg.Header("X-Keep") == "" {
			next()
			return
		}
		r.answered = true
		kept <- r // read after the reader returns, as a B2BUA's call queue does
	}}
	const ours = "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKPabc.def\r\n"
	const stray = "SIP/2.0 180 Ringing\r\n" + ours + "Via: " + uacVia + "\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>;tag=b1\r\n" +
		"Call-ID: c1@198.51.100.7\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	notOurs := strings.Replace(stray, ours, "", 1)
	cases := []struct {
		name      string
		stateless bool
		text      func(t *testing.T) string
		serve     func(f *fixture) func(in *transport.Incoming)
		released  bool
		sent      int
	}{
		{name: "ACK for a 2xx along its route", text: func(t *testing.T) string { return load(t, "ack-2xx.sip") },
			serve: ack, released: true, sent: 1},
		{name: "ACK with Max-Forwards 0, dropped by a stage", text: func(t *testing.T) string { return load(t, "ack-2xx.sip", "Max-Forwards: 0") },
			serve: ack},
		{name: "ACK a stage keeps", text: func(t *testing.T) string { return load(t, "ack-2xx.sip", "X-Keep: 1") },
			serve: ack},
		{name: "INVITE forwarded statelessly", stateless: true, text: func(t *testing.T) string { return load(t, "invite.sip") },
			serve: request, released: true, sent: 1},
		{name: "INVITE forwarded statelessly to a name (DNS off the reader)", stateless: true,
			text:  func(t *testing.T) string { return load(t, "invite.sip", "RURI sip:carol@example.net") },
			serve: request, sent: 1},
		{name: "INVITE in a response context", text: func(t *testing.T) string { return load(t, "invite.sip") },
			serve: request},
		{name: "stray response forwarded", text: func(*testing.T) string { return stray }, serve: strayResponse,
			released: true, sent: 1},
		{name: "stray response not for us", text: func(*testing.T) string { return notOurs }, serve: strayResponse,
			released: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Stateless = c.stateless
			stages, err := Insert(DefaultStages(), "route", keeper)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Stages = stages
			f := newFixture(t, cfg)
			f.bind("sip:bob@example.com", location.Binding{Contact: phoneContact(0), Source: ap(phoneAddr(0))})
			if got := inject(t, c.text(t), c.serve(f)); got != c.released {
				t.Errorf("released = %v, want %v", got, c.released)
			}
			select {
			case r := <-kept:
				if r.Msg.Method() != "ACK" || r.In.Msg != r.Msg {
					t.Errorf("the kept request changed after the reader returned: %s", r.Msg.Method())
				}
			default:
			}
			deadline := time.Now().Add(5 * time.Second) // the DNS case answers from the lookup's goroutine
			for len(f.tp.messages()) < c.sent && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got := len(f.tp.messages()); got != c.sent {
				t.Errorf("sent %d messages, want %d", got, c.sent)
			}
			f.tp.mu.Lock()
			defer f.tp.mu.Unlock()
			if f.tp.changed != 0 {
				t.Errorf("%d messages changed while sent", f.tp.changed)
			}
		})
	}
}

func ack(f *fixture) func(in *transport.Incoming) { return f.p.ServeACK }

func request(f *fixture) func(in *transport.Incoming) {
	return func(in *transport.Incoming) { f.serveIn(in) }
}

func strayResponse(f *fixture) func(in *transport.Incoming) { return f.p.ServeStrayResponse }
