package registrar

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
)

// TestRegistrationEvents: each REGISTER logs what it did to each binding,
// refreshes at debug only.
func TestRegistrationEvents(t *testing.T) {
	const ua = "User-Agent: Yealink T46"
	steps := []struct {
		name  string
		lines []string
		level slog.Level
		want  []string // the lines' msg and fields, in order
	}{
		{"add", []string{"Contact: <sip:a@192.0.2.1>", "Expires: 600", ua}, slog.LevelInfo,
			[]string{`msg="registration added" aor=sip:alice@example.com contact=sip:a@192.0.2.1 source=198.51.100.7 user_agent="Yealink T46" transport=udp expires=600`}},
		{"refresh at info", []string{"Contact: <sip:a@192.0.2.1>", "Expires: 600", ua}, slog.LevelInfo, nil},
		{"refresh at debug, add another", []string{"Contact: <sip:a@192.0.2.1>, <sip:b@192.0.2.1>", "Expires: 600", ua}, slog.LevelDebug,
			[]string{`msg="registration added" aor=sip:alice@example.com contact=sip:b@192.0.2.1`,
				`msg="registration refreshed" aor=sip:alice@example.com contact=sip:a@192.0.2.1`}},
		{"remove one", []string{"Contact: <sip:a@192.0.2.1>;expires=0", ua}, slog.LevelInfo,
			[]string{`msg="registration removed" aor=sip:alice@example.com contact=sip:a@192.0.2.1 source=198.51.100.7 user_agent="Yealink T46"`}},
		{"query logs nothing", nil, slog.LevelDebug, nil},
		{"remove all", []string{"Contact: *", "Expires: 0"}, slog.LevelInfo,
			[]string{`msg="registration removed" aor=sip:alice@example.com contact=sip:b@192.0.2.1`}},
	}
	f := newFixture(DefaultPolicy)
	for i, st := range steps {
		var buf bytes.Buffer
		f.r.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: st.level}))
		if resp := f.register(t, "c1", i+1, st.lines...); resp.StatusCode() != 200 {
			t.Fatalf("%s: %d %s", st.name, resp.StatusCode(), resp.Reason())
		}
		got := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if buf.Len() == 0 {
			got = nil
		}
		if len(got) != len(st.want) {
			t.Fatalf("%s: %d lines, want %d:\n%s", st.name, len(got), len(st.want), buf.String())
		}
		for j := range got {
			if !strings.Contains(got[j], st.want[j]) {
				t.Errorf("%s: line %d = %q, want %q", st.name, j, got[j], st.want[j])
			}
		}
	}
}

// failingStore refuses every change, as a database that went away does.
type failingStore struct{ location.Store }

func (failingStore) Update(context.Context, string, time.Time, func([]location.Binding) ([]location.Binding, error)) ([]location.Binding, error) {
	return nil, errors.New("connection refused")
}

// TestStoreFailureIs503: a REGISTER the store cannot take is answered 503
// with Retry-After, which sends a phone to another server, not 500.
func TestStoreFailureIs503(t *testing.T) {
	f := newFixture(DefaultPolicy)
	f.r.Store = failingStore{f.r.Store}
	resp := f.register(t, "c1", 1, "Contact: <sip:a@192.0.2.1>")
	if resp.StatusCode() != 503 || resp.Reason() != "Location Store Unavailable" || resp.Header("Retry-After") != RetryAfter {
		t.Errorf("got %d %s, Retry-After %q; want 503 Location Store Unavailable, Retry-After %s",
			resp.StatusCode(), resp.Reason(), resp.Header("Retry-After"), RetryAfter)
	}
}

// TestRefreshAllocations: at info, a refresh (the bulk of a registrar's
// work) costs one small allocation for its event bookkeeping and writes
// nothing.
func TestRefreshAllocations(t *testing.T) {
	f := newFixture(DefaultPolicy)
	var buf bytes.Buffer
	f.r.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	cseq := 0
	refresh := func() {
		cseq++
		if resp := f.register(t, "c1", cseq, "Contact: <sip:a@192.0.2.1>"); resp.StatusCode() != 200 {
			t.Fatalf("%d %s", resp.StatusCode(), resp.Reason())
		}
	}
	refresh()
	withLog := testing.AllocsPerRun(200, refresh)
	f.r.Logger = slog.New(slog.DiscardHandler)
	without := testing.AllocsPerRun(200, refresh)
	if withLog > without+1 {
		t.Errorf("a refresh allocates %.0f times with info logs on, %.0f with them off; want at most one more", withLog, without)
	}
	if strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("refreshes logged at info:\n%s", buf.String())
	}
}

// TestLogExpired: an expired binding's line names the AOR, contact, the
// address it registered from and its user agent.
func TestLogExpired(t *testing.T) {
	var buf bytes.Buffer
	b := location.Binding{AOR: "sip:alice@example.com", Contact: "sip:a@192.0.2.1", Transport: "tcp",
		Source: netip.MustParseAddrPort("198.51.100.7:40000"), UserAgent: "Yealink T46"}
	LogExpired(slog.New(slog.NewTextHandler(&buf, nil)), b)
	want := `level=INFO msg="registration expired" aor=sip:alice@example.com contact=sip:a@192.0.2.1 source=198.51.100.7 user_agent="Yealink T46" transport=tcp`
	if !strings.Contains(buf.String(), want) {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

// TestOnChange: OnChange hears every binding a REGISTER touched, refreshes
// included, even when the log is off, and nothing for a query.
func TestOnChange(t *testing.T) {
	steps := []struct {
		name  string
		lines []string
		want  []string // kind contact
	}{
		{"add", []string{"Contact: <sip:a@192.0.2.1>", "Expires: 600"}, []string{"added sip:a@192.0.2.1"}},
		{"refresh and add", []string{"Contact: <sip:a@192.0.2.1>, <sip:b@192.0.2.1>", "Expires: 600"},
			[]string{"added sip:b@192.0.2.1", "refreshed sip:a@192.0.2.1"}},
		{"query", nil, nil},
		{"remove all", []string{"Contact: *", "Expires: 0"}, []string{"removed sip:a@192.0.2.1", "removed sip:b@192.0.2.1"}},
	}
	f := newFixture(DefaultPolicy)
	f.r.Logger = slog.New(slog.DiscardHandler)
	for i, st := range steps {
		var got []string
		f.r.OnChange = func(c Change) {
			if c.AOR != "sip:alice@example.com" {
				t.Errorf("%s: AOR %q", st.name, c.AOR)
			}
			got = append(got, c.Kind.String()+" "+c.Binding.Contact)
		}
		if resp := f.register(t, "c1", i+1, st.lines...); resp.StatusCode() != 200 {
			t.Fatalf("%s: %d %s", st.name, resp.StatusCode(), resp.Reason())
		}
		if strings.Join(got, ",") != strings.Join(st.want, ",") {
			t.Errorf("%s: got %q, want %q", st.name, got, st.want)
		}
	}
}
