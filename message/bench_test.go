package message_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/message"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/sqldb"
)

// BenchmarkOfflineMessage is a MESSAGE for an offline subscriber through
// the whole proxy chain into the memory store, answered 202.
func BenchmarkOfflineMessage(b *testing.B) {
	t := &testing.T{}
	bed := newBed(t)
	bed.limits.Quota = message.Quota{}
	raw := load(t, "message.sip").Bytes()
	b.ReportAllocs()
	for b.Loop() {
		m, err := sip.Parse(append([]byte(nil), raw...))
		if err != nil {
			b.Fatal(err)
		}
		a := newAnswers()
		bed.p.ServeRequest(a, incoming(m))
		<-a.final
	}
}

// BenchmarkAdd is one stored message per engine, quota checked.
func BenchmarkAdd(b *testing.B) {
	q := message.Quota{MaxCount: 1 << 30, MaxBytes: 1 << 40}
	engines := map[string]func() message.Store{
		"memory": func() message.Store { return message.NewMemory(clock.NewFake(t0)) },
		"sqlite": func() message.Store {
			s, err := message.OpenSQLite(filepath.Join(b.TempDir(), sqldb.DBFile), clock.NewFake(t0))
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	for _, name := range []string{"memory", "sqlite"} {
		b.Run(name, func(b *testing.B) {
			s := engines[name]()
			defer s.Close()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				if _, err := s.Add(context.Background(), message.Message{User: fmt.Sprint("u", i%100, "@example.com"),
					From: "<sip:a@example.com>;tag=1", To: "<sip:b@example.com>", ContentType: "text/plain", Body: []byte("hello there")}, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
