package sip

import (
	"errors"
	"testing"
)

// mustPanicReleased runs fn and fails unless it panics with ErrReleased.
func mustPanicReleased(t *testing.T, name string, fn func()) {
	t.Helper()
	defer func() {
		r := recover()
		err, _ := r.(error)
		if !errors.Is(err, ErrReleased) {
			t.Errorf("%s after Release: recovered %v, want a panic with ErrReleased", name, r)
		}
	}()
	fn()
}

// TestReleasedMessagePanics reads and edits a released Message through
// every kind of accessor: in checked builds each must panic, so that a
// layer that kept a pooled Message past its release fails its tests.
func TestReleasedMessagePanics(t *testing.T) {
	if !CheckReleased {
		t.Skip("Release poisons only in checked builds: run with -race or -tags sipcheck")
	}
	calls := []struct {
		name string
		fn   func(m *Message)
	}{
		{"Method", func(m *Message) { m.Method() }},
		{"IsRequest", func(m *Message) { m.IsRequest() }},
		{"RequestURI", func(m *Message) { m.RequestURI() }},
		{"StatusCode", func(m *Message) { m.StatusCode() }},
		{"Raw", func(m *Message) { m.Raw() }},
		{"Body", func(m *Message) { m.Body() }},
		{"Header", func(m *Message) { m.Header("Call-ID") }},
		{"HeaderValues", func(m *Message) { m.HeaderValues("Via") }},
		{"EachHeader", func(m *Message) { m.EachHeader(func(string, string) bool { return true }) }},
		{"TopVia", func(m *Message) { _, _ = m.TopVia() }},
		{"CSeq", func(m *Message) { _, _ = m.CSeq() }},
		{"CallID", func(m *Message) { _, _ = m.CallID() }},
		{"FromTag", func(m *Message) { m.FromTag() }},
		{"Contacts", func(m *Message) { _, _ = m.Contacts() }},
		{"Validate", func(m *Message) { _ = m.Validate() }},
		{"RequestURIParsed", func(m *Message) { _, _ = m.RequestURIParsed() }},
		{"Bytes", func(m *Message) { m.Bytes() }},
		{"AppendTo", func(m *Message) { m.AppendTo(nil) }},
		{"Len", func(m *Message) { m.Len() }},
		{"Clone", func(m *Message) { m.Clone() }},
		{"PopVia", func(m *Message) { m.PopVia() }},
		{"SetHeader", func(m *Message) { m.SetHeader("Subject", "x") }},
		{"SetRequestURI", func(m *Message) { m.SetRequestURI("sip:x@example.com") }},
		{"SetStatus", func(m *Message) { m.SetStatus(500, "x") }},
	}
	data := loadGolden(t, "invite.sip")
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			var m Message
			if err := DefaultLimits.ParseInto(&m, data); err != nil {
				t.Fatal(err)
			}
			_, _ = m.TopVia() // a typed value cached before the release
			m.Release()
			mustPanicReleased(t, c.name, func() { c.fn(&m) })
		})
	}
}

// TestReleasedMessageParsesAgain: a released Message that its owner
// parses into again is a live message, in every build.
func TestReleasedMessageParsesAgain(t *testing.T) {
	var m Message
	for _, name := range []string{"invite.sip", "ok200.sip", "register.sip"} {
		data := loadGolden(t, name)
		if err := DefaultLimits.ParseInto(&m, data); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := m.CSeq(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := string(m.Bytes()); got != string(data) {
			t.Fatalf("%s: reparsed message writes %q, want its bytes", name, got)
		}
		m.Release()
	}
}

// TestReleaseKeepsMemory: in production builds Release is Reset, so a
// Message released and parsed into again allocates nothing.
func TestReleaseKeepsMemory(t *testing.T) {
	if CheckReleased {
		t.Skip("checked builds poison a released Message and do not reuse it")
	}
	data := loadGolden(t, "invite.sip")
	var m Message
	allocs := testing.AllocsPerRun(100, func() {
		if err := DefaultLimits.ParseInto(&m, data); err != nil {
			t.Fatal(err)
		}
		if _, err := m.TopVia(); err != nil {
			t.Fatal(err)
		}
		m.Release()
	})
	if allocs != 0 {
		t.Errorf("parse, TopVia, Release: %.1f allocations, want 0", allocs)
	}
}
