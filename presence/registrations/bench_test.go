package registrations

import (
	"context"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/presence/notify"
	"github.com/parley-sip/parley/registrar"
)

// BenchmarkBody builds the reg document of an AOR with two phones, one of
// them just refreshed: what each NOTIFY of a reg subscription costs,
// the location store's lookup included.
func BenchmarkBody(b *testing.B) {
	clk := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	store := location.NewMemory()
	defer store.Close()
	now := clk.Now()
	desk, soft := binding("sip:alice@192.0.2.10:5060", 1, now), binding("sip:alice@192.0.2.20:5070", 1, now)
	if _, err := store.Update(context.Background(), aor, now, func([]location.Binding) ([]location.Binding, error) {
		return []location.Binding{desk, soft}, nil
	}); err != nil {
		b.Fatal(err)
	}
	p := New(Config{Store: store, Clock: clk})
	p.Watch(registrar.Change{Kind: registrar.Refreshed, AOR: aor, Binding: desk})
	w := notify.Watch{Watcher: "alice@example.com", Resource: "alice@example.com"}
	b.ReportAllocs()
	for i := range b.N {
		w.Version = uint32(i)
		if _, err := p.Body(w); err != nil {
			b.Fatal(err)
		}
	}
}
