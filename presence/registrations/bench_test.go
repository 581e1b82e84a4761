package registrations

import (
	"context"
	"strconv"
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

// BenchmarkWatchLingering is one REGISTER's change (a refresh of one of
// 20 000 AORs) at 10 000/s of the fake clock with the default 30 s
// linger, after 300 000 of them: a busy registrar once its changes begin
// to expire, one expiring at every REGISTER.
func BenchmarkWatchLingering(b *testing.B) {
	clk := clock.NewFake(time.Unix(0, 0))
	p := New(Config{Store: location.NewMemory(), Clock: clk})
	bnd := location.Binding{Contact: "sip:u@192.0.2.1"}
	watch := func(i int) {
		p.Watch(registrar.Change{Kind: registrar.Refreshed, AOR: "sip:u" + strconv.Itoa(i%20000) + "@example.com", Binding: bnd})
		clk.Advance(100 * time.Microsecond)
	}
	for i := range 300000 {
		watch(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		watch(300000 + i)
	}
}
