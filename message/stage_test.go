package message_test

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/message"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// bed is a proxy with the message stage before location, phones for
// online@example.com and a store.
type bed struct {
	p      *proxy.Proxy
	w      *phones
	store  *message.Memory
	limits message.Limits
	clk    *clock.Fake
}

func newBed(t *testing.T) *bed {
	t.Helper()
	b := &bed{w: &phones{codes: map[netip.AddrPort]int{}}, clk: clock.NewFake(t0),
		limits: message.Limits{MaxSize: 100, Quota: message.Quota{MaxCount: 2, MaxBytes: 12}, MaxAge: time.Hour}}
	b.store = message.NewMemory(b.clk)
	bindings := location.NewMemory()
	for _, port := range []string{"5062", "5063"} {
		contact := "sip:online@192.0.2.20:" + port
		if _, err := bindings.Update(context.Background(), "sip:online@example.com", time.Now(), func(cur []location.Binding) ([]location.Binding, error) {
			return append(cur, location.Binding{Contact: contact, Q: 1000, Expires: t0.Add(time.Hour), Transport: "udp"}), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	dom := func(d string) bool { return d == "example.com" }
	known := users{"bob@example.com": true, "online@example.com": true}
	st := &message.Stage{Store: b.store, Bindings: bindings, Domains: dom, Users: known,
		Limits: func() message.Limits { return b.limits }, Clock: b.clk}
	stages, err := proxy.Insert(proxy.DefaultStages(), "location", st)
	if err != nil {
		t.Fatal(err)
	}
	b.p = proxy.New(proxy.Config{Domains: dom, Users: known, Stages: stages}, b.w, b.w, bindings, nil, slog.New(slog.DiscardHandler))
	return b
}

func (b *bed) serve(t *testing.T, m *sip.Message) *sip.Message {
	t.Helper()
	a := newAnswers()
	b.p.ServeRequest(a, incoming(m))
	return a.wait(t)
}

func TestStage(t *testing.T) {
	big := strings.Repeat("x", 101)
	tests := []struct {
		name     string
		replace  []string
		body     string // replaces the body when set
		prefill  int    // messages already waiting for bob
		code     int
		reason   string
		stored   int // bob's messages afterwards
		relayed  int // requests sent to phones
		wantDate string
		off      bool
	}{
		{name: "offline subscriber: stored, Date added", code: 202, reason: "Accepted", stored: 1, wantDate: "Wed, 02 Jan 2030 03:04:05 GMT"},
		{name: "sender's Date kept", replace: []string{"CSeq: 1 MESSAGE", "CSeq: 1 MESSAGE\nDate: Tue, 01 Jan 2030 00:00:00 GMT"},
			code: 202, stored: 1, wantDate: "Tue, 01 Jan 2030 00:00:00 GMT"},
		{name: "online user: relayed to both phones, nothing stored", replace: []string{"sip:bob@example.com SIP", "sip:online@example.com SIP"},
			code: 200, relayed: 2},
		{name: "unknown user: location's 404", replace: []string{"sip:bob@example.com SIP", "sip:nobody@example.com SIP"}, code: 404},
		{name: "in dialog: not for the store", replace: []string{"To: Bob <sip:bob@example.com>", "To: Bob <sip:bob@example.com>;tag=x"}, code: 404},
		{name: "too large", body: big, code: 413, reason: "Message Too Large To Store (max 100 bytes)"},
		{name: "count quota", prefill: 2, code: 480, reason: "Mailbox Full (limit 2 messages)", stored: 2},
		{name: "byte quota", prefill: 1, body: "12345678", code: 480, reason: "Mailbox Full (limit 12 bytes)", stored: 1},
		{name: "exactly at the byte quota", prefill: 1, body: "1234567", code: 202, stored: 2},
		{name: "storing off", off: true, code: 404},
		{name: "Require of an extension Parley lacks", replace: []string{"CSeq: 1 MESSAGE", "CSeq: 1 MESSAGE\nRequire: foo"}, code: 420, reason: "Bad Extension"},
		{name: "INVITE to an offline user is not stored", replace: []string{"MESSAGE sip:", "INVITE sip:", "1 MESSAGE", "1 INVITE"}, code: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBed(t)
			b.limits.Off = tc.off
			for range tc.prefill {
				if _, err := b.store.Add(context.Background(), message.Message{User: "bob@example.com", Body: []byte("12345")}, message.Quota{}); err != nil {
					t.Fatal(err)
				}
			}
			m := load(t, "message.sip", tc.replace...)
			if tc.body != "" {
				m.SetBody("text/plain", []byte(tc.body))
			}
			resp := b.serve(t, m)
			if resp.StatusCode() != tc.code || (tc.reason != "" && resp.Reason() != tc.reason) {
				t.Errorf("answer %d %s, want %d %s", resp.StatusCode(), resp.Reason(), tc.code, tc.reason)
			}
			ms, _ := b.store.Pending(context.Background(), "bob@example.com")
			if len(ms) != tc.stored {
				t.Errorf("%d messages stored for bob, want %d", len(ms), tc.stored)
			}
			if n := len(b.w.requests()); n != tc.relayed {
				t.Errorf("%d requests relayed, want %d", n, tc.relayed)
			}
			if tc.wantDate == "" {
				return
			}
			got := ms[len(ms)-1]
			if got.Date != tc.wantDate || got.From != `"Alice" <sip:alice@example.com>;tag=m1` || got.To != "Bob <sip:bob@example.com>" ||
				got.ContentType != "text/plain;charset=UTF-8" || string(got.Body) != "hello" {
				t.Errorf("stored %+v", got)
			}
		})
	}
}

// TestOnlineForksToEveryPhone: a MESSAGE to a user with two phones goes
// to both at once, and the caller gets the best answer, not the first.
func TestOnlineForksToEveryPhone(t *testing.T) {
	for _, c := range []struct {
		codes [2]int
		want  int
	}{
		{[2]int{486, 200}, 200},
		{[2]int{200, 404}, 200},
		{[2]int{415, 480}, 415},
	} {
		b := newBed(t)
		b.w.codes[netip.MustParseAddrPort("192.0.2.20:5062")] = c.codes[0]
		b.w.codes[netip.MustParseAddrPort("192.0.2.20:5063")] = c.codes[1]
		resp := b.serve(t, load(t, "message.sip", "sip:bob@example.com SIP", "sip:online@example.com SIP"))
		if resp.StatusCode() != c.want {
			t.Errorf("phones answer %v: caller got %d, want %d", c.codes, resp.StatusCode(), c.want)
		}
		sent := b.w.requests()
		if len(sent) != 2 || sent[0].RequestURI() == sent[1].RequestURI() {
			t.Errorf("phones answer %v: %d requests sent, want one to each phone", c.codes, len(sent))
		}
	}
}
