package eventlog

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)

// TestLimit: each kind of line has its own budget; a dropped line is
// counted on the next line of its kind that is written.
func TestLimit(t *testing.T) {
	type line struct {
		msg string
		at  time.Duration // after t0
	}
	tests := []struct {
		name  string
		rate  int
		burst int
		lines []line
		want  []string // lines written, as "msg dropped"
	}{
		{"within the burst", 1, 2, []line{{"a", 0}, {"a", 0}}, []string{"a 0", "a 0"}},
		{"past the burst, then refilled", 1, 2,
			[]line{{"a", 0}, {"a", 0}, {"a", 0}, {"a", 0}, {"a", time.Second}},
			[]string{"a 0", "a 0", "a 2"}},
		{"kinds apart", 1, 1, []line{{"a", 0}, {"a", 0}, {"b", 0}}, []string{"a 0", "b 0"}},
		{"rate refills part way", 2, 1,
			[]line{{"a", 0}, {"a", 100 * time.Millisecond}, {"a", 500 * time.Millisecond}},
			[]string{"a 0", "a 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := Limit(slog.New(slog.NewTextHandler(&buf, nil)), tt.rate, tt.burst).Handler()
			var got []string
			for _, l := range tt.lines {
				buf.Reset()
				r := slog.NewRecord(t0.Add(l.at), slog.LevelInfo, l.msg, 0)
				if err := h.Handle(context.Background(), r); err != nil {
					t.Fatal(err)
				}
				if buf.Len() == 0 {
					continue
				}
				dropped := "0"
				if _, after, ok := strings.Cut(buf.String(), "dropped="); ok {
					dropped = strings.TrimSpace(after)
				}
				got = append(got, l.msg+" "+dropped)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("written %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLimitKindsBounded: past maxKinds distinct messages, the rest share
// one budget instead of growing the table.
func TestLimitKindsBounded(t *testing.T) {
	b := &budgets{rate: 1, burst: 1, kinds: map[string]*bucket{}}
	for i := range maxKinds + 10 {
		b.take(strings.Repeat("x", i+1), t0)
	}
	if len(b.kinds) != maxKinds {
		t.Errorf("%d kinds kept, want %d", len(b.kinds), maxKinds)
	}
}

// TestNewFormats: text and JSON lines carry the same fields, the time in UTC.
func TestNewFormats(t *testing.T) {
	for _, tt := range []struct{ format, want string }{
		{FormatText, `level=INFO msg="auth failed" user=alice source=192.0.2.7`},
		{FormatJSON, `"level":"INFO","msg":"auth failed","user":"alice","source":"192.0.2.7"}`},
	} {
		var buf bytes.Buffer
		log := New(&buf, tt.format, slog.LevelInfo)
		log.Info("auth failed", "user", "alice", "source", "192.0.2.7")
		log.Debug("not written")
		if got := buf.String(); !strings.Contains(got, tt.want) || strings.Count(got, "\n") != 1 {
			t.Errorf("%s: got %q, want one line with %q", tt.format, got, tt.want)
		}
		if !strings.Contains(buf.String(), "Z") {
			t.Errorf("%s: time not in UTC: %q", tt.format, buf.String())
		}
	}
}

// TestLimitConcurrent: goroutines writing one kind at once write no more
// than the burst between them.
func TestLimitConcurrent(t *testing.T) {
	var buf lockedBuffer
	log := Limit(slog.New(slog.NewTextHandler(&buf, nil)), 1, 50)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				log.Info("registration added")
			}
		})
	}
	wg.Wait()
	written := strings.Count(buf.String(), "\n")
	if written < 50 || written > 51 { // one token may refill while they run
		t.Errorf("%d lines written from 800 at once, want the burst of 50", written)
	}
}

// lockedBuffer is a bytes.Buffer that several handlers may write at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
