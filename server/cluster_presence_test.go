package server

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/presence/busylamp"
	"github.com/parley-sip/parley/presence/dialoginfo"
	"github.com/parley-sip/parley/presence/notify"
)

// TestRemoteCall: the steps of a call another node of a cluster saw put
// both parties on the phone while it is confirmed, once however many
// nodes tell it, and light the busy lamps; the end takes both off.
func TestRemoteCall(t *testing.T) {
	s := startServer(t, testConfig(t))
	now := time.Now()
	for _, user := range []string{"bob", "carol"} { // on the phone shows only for a registered user
		aor := "sip:" + user + "@example.com"
		if _, err := s.store.Update(t.Context(), aor, now, func([]location.Binding) ([]location.Binding, error) {
			return []location.Binding{{AOR: aor, Contact: "sip:" + user + "@192.0.2.9", Expires: now.Add(time.Hour)}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	ev := busylamp.CallEvent{CallID: "remote-1", State: dialoginfo.Confirmed,
		Caller: busylamp.Leg{Party: dialoginfo.Party{Identity: "sip:carol@example.com"}, Tag: "c1"},
		Callee: busylamp.Leg{Party: dialoginfo.Party{Identity: "sip:bob@example.com"}, Tag: "b1"}}
	onThePhone := func(user string) bool {
		t.Helper()
		b, err := s.presence.agent.Body(notify.Watch{Resource: user})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(string(b), "on-the-phone")
	}
	lamp := func(user string) string {
		t.Helper()
		b, err := s.packages.lamps.Body(notify.Watch{Resource: user})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	s.remoteCall(ev)
	s.remoteCall(ev) // a second node the call passed
	if !onThePhone("bob@example.com") || !onThePhone("carol@example.com") {
		t.Error("a confirmed call told by another node does not show on the phone")
	}
	if b := lamp("bob@example.com"); !strings.Contains(b, "<state>confirmed</state>") {
		t.Errorf("bob's lamp:\n%s", b)
	}
	ev.State = dialoginfo.Terminated
	s.remoteCall(ev)
	if onThePhone("bob@example.com") || onThePhone("carol@example.com") {
		t.Error("still on the phone after the call's end was told once")
	}
}
