package message_test

import (
	"context"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/message"
)

// TestSQLitePendingAfterEveryChange checks the SQLite store's count of
// who has messages waiting, which lets Pending skip its query: whatever
// changed the messages (a reopen, a delete, an expiry, a refused add),
// Pending still finds exactly what the table holds.
func TestSQLitePendingAfterEveryChange(t *testing.T) {
	ctx := context.Background()
	msg := func(user string) message.Message {
		return message.Message{User: user, From: "<sip:a@example.com>;tag=1", ContentType: "text/plain", Body: []byte("hi")}
	}
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, s *message.SQL, dir string, clk *clock.Fake) *message.SQL
		want   int // bob's messages afterwards (he had two)
	}{
		{"reopened", func(t *testing.T, s *message.SQL, dir string, clk *clock.Fake) *message.SQL {
			s.Close()
			s, err := message.Open(ctx, "sqlite", dir, "", clk)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, 2},
		{"one deleted", func(t *testing.T, s *message.SQL, _ string, _ *clock.Fake) *message.SQL {
			ms, _ := s.Pending(ctx, "bob@example.com")
			if ok, err := s.Delete(ctx, ms[0].ID); !ok || err != nil {
				t.Fatalf("Delete: %v, %v", ok, err)
			}
			if ok, err := s.Delete(ctx, ms[0].ID); ok || err != nil {
				t.Fatalf("second Delete: %v, %v", ok, err)
			}
			return s
		}, 1},
		{"both deleted", func(t *testing.T, s *message.SQL, _ string, _ *clock.Fake) *message.SQL {
			ms, _ := s.Pending(ctx, "bob@example.com")
			for _, m := range ms {
				if ok, err := s.Delete(ctx, m.ID); !ok || err != nil {
					t.Fatalf("Delete: %v, %v", ok, err)
				}
			}
			return s
		}, 0},
		{"expired", func(t *testing.T, s *message.SQL, _ string, clk *clock.Fake) *message.SQL {
			if n, err := s.Expire(ctx, clk.Now()); n != 3 || err != nil { // bob's two and carol's
				t.Fatalf("Expire: %d, %v", n, err)
			}
			return s
		}, 0},
		{"an add refused by the quota", func(t *testing.T, s *message.SQL, _ string, _ *clock.Fake) *message.SQL {
			if _, err := s.Add(ctx, msg("bob@example.com"), message.Quota{MaxCount: 2}); err != message.ErrCountQuota {
				t.Fatalf("Add over the quota: %v", err)
			}
			return s
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			clk := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
			s, err := message.Open(ctx, "sqlite", dir, "", clk)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range []string{"bob@example.com", "bob@example.com", "carol@example.com"} {
				if _, err := s.Add(ctx, msg(u), message.Quota{}); err != nil {
					t.Fatal(err)
				}
			}
			s = tc.change(t, s, dir, clk)
			defer s.Close()
			ms, err := s.Pending(ctx, "bob@example.com")
			if err != nil || len(ms) != tc.want {
				t.Fatalf("Pending: %d messages, %v; want %d", len(ms), err, tc.want)
			}
			if ms, _ := s.Pending(ctx, "dave@example.com"); len(ms) != 0 {
				t.Fatalf("Pending of a user with none: %d", len(ms))
			}
			// What a later add brings is found again.
			if _, err := s.Add(ctx, msg("bob@example.com"), message.Quota{}); err != nil {
				t.Fatal(err)
			}
			if ms, err := s.Pending(ctx, "bob@example.com"); err != nil || len(ms) != tc.want+1 {
				t.Fatalf("Pending after one more: %d, %v; want %d", len(ms), err, tc.want+1)
			}
		})
	}
}
