package message_test

import (
	"os"
	"strings"
	"testing"

	"github.com/parley-sip/parley/sip"
)

// FuzzStage runs whatever parses as a request through the proxy chain
// with the message stage: nothing may panic, and what the stage stores
// (at most one message, for a known user) is what the request held.
func FuzzStage(f *testing.F) {
	for _, file := range []string{"message.sip", "delivered.sip"} {
		data, err := os.ReadFile("testdata/" + file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.ReplaceAll(string(data), "\n", "\r\n"))
	}
	f.Fuzz(func(t *testing.T, text string) {
		m, err := sip.Parse([]byte(text))
		if err != nil || !m.IsRequest() || m.Method() == "ACK" || m.Validate() != nil {
			return
		}
		b := newBed(t)
		b.p.ServeRequest(newAnswers(), incoming(m))
		ms, err := b.store.Page(t.Context(), "", 0, 0)
		if err != nil || len(ms) > 1 {
			t.Fatalf("stored %d messages, %v", len(ms), err)
		}
		if len(ms) == 1 && (ms[0].User != "bob@example.com" || string(ms[0].Body) != string(m.Body()) || m.Method() != "MESSAGE") {
			t.Errorf("stored %+v from\n%s", ms[0], text)
		}
	})
}
