package proxy

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
)

// Stateless forwards from many goroutines at once share the pool of wire
// buffers: every forwarded INVITE must arrive whole and as itself. A
// buffer released before its Send returned, or kept by a Send, would be
// rewritten by another forward: the fake transport counts the change,
// and under -race the detector reports the concurrent write.
func TestWireBuffersNotReusedDuringSend(t *testing.T) {
	f := newFixture(t, statelessConfig())
	f.bind("sip:bob@example.com", location.Binding{Contact: phoneContact(0), Source: ap(phoneAddr(0))})
	const workers, each = 8, 50
	raw := load(t, "invite.sip")
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("wire-%d-%d", w, i)
				m, err := sip.Parse([]byte(strings.Replace(raw, "Call-ID: c1@198.51.100.7", "Call-ID: "+id, 1)))
				if err != nil {
					t.Error(err)
					return
				}
				f.serve(m)
			}
		})
	}
	wg.Wait()
	msgs := f.tp.messages()
	seen := map[string]bool{}
	for _, s := range msgs {
		id, _ := s.msg.CallID()
		seen[id] = true
	}
	if len(msgs) != workers*each || len(seen) != workers*each {
		t.Errorf("%d messages sent with %d distinct Call-IDs, want %d of each", len(msgs), len(seen), workers*each)
	}
	f.tp.mu.Lock()
	defer f.tp.mu.Unlock()
	if f.tp.changed != 0 {
		t.Errorf("%d messages changed while the transport read them", f.tp.changed)
	}
}
