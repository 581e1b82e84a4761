package members

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
)

var epoch = time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)

// TestStateOf: alive within SilentAfter intervals, silent after, dead
// past the takeover timeout.
func TestStateOf(t *testing.T) {
	tests := []struct {
		age  time.Duration
		want State
	}{
		{0, Alive},
		{3 * time.Second, Alive},
		{3*time.Second + time.Millisecond, Silent},
		{30 * time.Second, Silent},
		{30*time.Second + time.Millisecond, Dead},
		{-time.Second, Alive}, // a clock a little ahead
	}
	for _, tt := range tests {
		m := Member{ID: "n1", Seen: epoch}
		if got := StateOf(m, epoch.Add(tt.age), time.Second, 30*time.Second); got != tt.want {
			t.Errorf("age %v: %s, want %s", tt.age, got, tt.want)
		}
	}
}

// TestInterval: a quarter of the timeout, at most a second, at least
// 100 ms.
func TestInterval(t *testing.T) {
	for _, tt := range []struct{ after, want time.Duration }{
		{30 * time.Second, time.Second}, {2 * time.Second, 500 * time.Millisecond}, {4 * time.Second, time.Second},
		{0, 100 * time.Millisecond}, {200 * time.Millisecond, 100 * time.Millisecond},
	} {
		if got := Interval(tt.after); got != tt.want {
			t.Errorf("Interval(%v) = %v, want %v", tt.after, got, tt.want)
		}
	}
}

// syncLog is a logger tests read while the heart writes it.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestHeart: a beat at start and one each interval on the fake clock,
// stamped with the clock and carrying the counts; an outage of the
// store is logged once, its end once, and the beats resume.
func TestHeart(t *testing.T) {
	clk := clock.NewFake(epoch)
	st := NewMemory()
	var logged syncLog
	calls := 0
	var mu sync.Mutex
	h := &Heart{Store: st, Self: Member{ID: "n1", SIP: "127.0.0.1:5060", Admin: "127.0.0.1:8080"}, Interval: time.Second, Clock: clk,
		Counts: func() (int, int) { mu.Lock(); defer mu.Unlock(); calls++; return calls, 7 },
		Log:    slog.New(slog.NewTextHandler(&logged, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	seen := func(want time.Time, wantCalls int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			ms, _ := st.Members(context.Background())
			if len(ms) == 1 && ms[0].Seen.Equal(want) {
				if ms[0].Calls != wantCalls || ms[0].Subscriptions != 7 || ms[0].SIP != "127.0.0.1:5060" {
					t.Errorf("beat %+v, want %d calls, 7 subscriptions and the addresses", ms[0], wantCalls)
				}
				return
			}
			time.Sleep(time.Millisecond)
		}
		ms, _ := st.Members(context.Background())
		t.Fatalf("members %+v, want n1 seen at %v", ms, want)
	}
	advance := func() {
		t.Helper()
		for clk.Pending() == 0 {
			time.Sleep(time.Millisecond)
		}
		clk.Advance(time.Second)
	}
	seen(epoch, 1)
	advance()
	seen(epoch.Add(time.Second), 2)
	st.Fail(errors.New("connection refused"))
	advance()
	advance()
	st.Fail(nil)
	advance()
	seen(epoch.Add(4*time.Second), 5)
	if got := strings.Count(logged.String(), "heartbeat not written"); got != 1 {
		t.Errorf("outage logged %d times, want once:\n%s", got, logged.String())
	}
	if got := strings.Count(logged.String(), "heartbeat written again"); got != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", got, logged.String())
	}
	cancel()
	<-done
}

// TestNameInUse: a starting node's name is taken when a member beats
// under it from another address within deadAfter; its own address (a
// restart after a crash), an old beat (a node that moved) or another
// name are no obstacle.
func TestNameInUse(t *testing.T) {
	const after = 30 * time.Second
	for _, tc := range []struct {
		name  string
		m     Member
		taken bool
	}{
		{"live node elsewhere", Member{ID: "n1", SIP: "10.0.0.1:5060", Seen: epoch.Add(-time.Second)}, true},
		{"silent node elsewhere", Member{ID: "n1", SIP: "10.0.0.1:5060", Seen: epoch.Add(-after + time.Second)}, true},
		{"dead node elsewhere", Member{ID: "n1", SIP: "10.0.0.1:5060", Seen: epoch.Add(-after)}, false},
		{"this address", Member{ID: "n1", SIP: "10.0.0.2:5060", Seen: epoch}, false},
		{"another name", Member{ID: "n2", SIP: "10.0.0.1:5060", Seen: epoch}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, taken := NameInUse([]Member{tc.m}, "n1", "10.0.0.2:5060", epoch, after)
			if taken != tc.taken || taken && m.SIP != tc.m.SIP {
				t.Errorf("NameInUse = %+v, %v; want %v", m, taken, tc.taken)
			}
		})
	}
}
