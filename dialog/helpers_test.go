package dialog

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/sip"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Record-Route of the responses: p2 is next to bob, p1 next to alice.
const recordRoute = "<sip:p2.biloxi.example.com;lr>, <sip:p1.atlanta.example.com;lr>"

// load parses a message under testdata.
func load(t testing.TB, name string) *sip.Message {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := sip.Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// respond answers req with code; a non-empty tag goes in To, and the
// dialog-making headers of bob's phone for that tag are added.
func respond(req *sip.Message, code int, tag string, extra ...string) *sip.Message {
	if tag != "" && code > 100 && code < 300 {
		extra = append([]string{"Record-Route", recordRoute, "Contact", "<sip:bob@" + tag + ".biloxi.example.com>"}, extra...)
	}
	return sip.NewResponse(req, code, "", tag, extra...)
}

// recorder keeps a table's events as "kind state usage method code" lines.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) listen(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// take returns the events since the last take, one line each.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.events))
	for i, e := range r.events {
		out[i] = e.ID.RemoteTag + " " + e.Kind.String() + " " + e.State.String()
		if e.Kind == EventUsageAdded || e.Kind == EventUsageEnded {
			out[i] += " " + e.Usage.String()
		}
		if e.Code != 0 {
			out[i] += " " + e.Method + " " + itoa(e.Code)
		}
	}
	r.events = nil
	return out
}

func itoa(n int) string {
	var b [8]byte
	i := len(b)
	for n > 0 || i == len(b) {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// newTable returns a table on a fake clock and the recorder of its events.
func newTable() (*Table, *clock.Fake, *recorder) {
	clk := clock.NewFake(epoch)
	rec := &recorder{}
	return NewTable(Config{Clock: clk, Listener: rec.listen}), clk, rec
}

func equalLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}
