package sip

import (
	"strings"
	"testing"
)

// subscriptionMessage is a PUBLISH or NOTIFY with the event headers given.
func eventMessage(t testing.TB, event, state, ifMatch string) (*Message, error) {
	var b strings.Builder
	b.WriteString("PUBLISH sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n" +
		"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\nCall-ID: e1\r\nCSeq: 1 PUBLISH\r\n")
	for _, h := range [][2]string{{"Event", event}, {"Subscription-State", state}, {"SIP-If-Match", ifMatch}} {
		for v := range strings.SplitSeq(h[1], "\n") {
			if v != "" {
				b.WriteString(h[0] + ": " + v + "\r\n")
			}
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return Parse([]byte(b.String()))
}

// TestEventHeaders: the headers a notifier and a compositor act on, read
// strictly (RFC 6665 §8.2, RFC 3903 §11.3).
func TestEventHeaders(t *testing.T) {
	tests := []struct {
		event, state, ifMatch string
		evType, evID          string
		stState, stReason     string
		etag                  string
		bad                   string // the header a 400 names; "" none
	}{
		{event: "presence", evType: "presence"},
		{event: "dialog;id=7;sla", evType: "dialog", evID: "7"},
		{event: "Presence ; id=x", evType: "Presence", evID: "x"},
		{state: "Terminated;reason=timeout", stState: "terminated", stReason: "timeout"},
		{state: "active;expires=600", stState: "active"},
		{ifMatch: "dx200xyz", etag: "dx200xyz"},
		{ifMatch: "a1.b-c_d!%*+`'~", etag: "a1.b-c_d!%*+`'~"},
		{event: "presence\ndialog", bad: "Event"},
		{event: "pres ence", bad: "Event"},
		{event: "presence;;", bad: "Event"},
		{state: "active;expires=1\nactive", bad: "Subscription-State"},
		{ifMatch: "a b", bad: "SIP-If-Match"},
		{ifMatch: "a\nb", bad: "SIP-If-Match"},
		{ifMatch: `"quoted"`, bad: "SIP-If-Match"},
	}
	for _, tt := range tests {
		m, err := eventMessage(t, tt.event, tt.state, tt.ifMatch)
		if err != nil {
			t.Fatalf("%+v: %v", tt, err)
		}
		ev, _, everr := m.Event()
		st, _, sterr := m.SubscriptionState()
		etag, etagErr := m.SIPIfMatch()
		errs := map[string]error{"Event": everr, "Subscription-State": sterr, "SIP-If-Match": etagErr}
		for name, err := range errs {
			if (err != nil) != (name == tt.bad) {
				t.Errorf("%+v: %s error %v", tt, name, err)
			}
			if err != nil && err.(*Error).Reason != "Malformed "+name {
				t.Errorf("%s: reason %q", name, err.(*Error).Reason)
			}
		}
		if tt.bad != "" {
			continue
		}
		reason, _ := st.Params.Get("reason")
		if ev.Type != tt.evType || ev.ID() != tt.evID || st.State != tt.stState || reason != tt.stReason || etag != tt.etag {
			t.Errorf("%+v: got %+v %+v %q", tt, ev, st, etag)
		}
	}
}

// FuzzEventHeaders: whatever the Event, Subscription-State and
// SIP-If-Match lines hold, reading them never panics, and what reads
// without error is a token a notifier can compare.
func FuzzEventHeaders(f *testing.F) {
	f.Add("presence", "active;expires=600", "dx200xyz")
	f.Add("dialog;id=7", "terminated;reason=noresource", "")
	f.Add("message-summary", "pending", "a\nb")
	f.Fuzz(func(t *testing.T, event, state, ifMatch string) {
		m, err := eventMessage(t, event, state, ifMatch)
		if m == nil || err != nil {
			return
		}
		if ev, ok, err := m.Event(); ok && err == nil && !isToken(ev.Type) {
			t.Fatalf("event type %q", ev.Type)
		}
		if st, ok, err := m.SubscriptionState(); ok && err == nil && (!isToken(st.State) || strings.ToLower(st.State) != st.State) {
			t.Fatalf("state %q", st.State)
		}
		if etag, err := m.SIPIfMatch(); err == nil && etag != "" && !isToken(etag) {
			t.Fatalf("etag %q", etag)
		}
	})
}
