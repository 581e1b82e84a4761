package cdr_test

import (
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
)

func TestDispositionOf(t *testing.T) {
	tests := []struct {
		answered bool
		status   int
		want     cdr.Disposition
	}{
		{true, 200, cdr.Answered},
		{true, 481, cdr.Answered}, // answered, then its dialog failed: still billed
		{false, 486, cdr.Busy},
		{false, 600, cdr.Busy},
		{false, 603, cdr.Busy},
		{false, 480, cdr.NoAnswer},
		{false, 408, cdr.NoAnswer},
		{false, 487, cdr.Cancelled},
		{false, 404, cdr.Failed},
		{false, 503, cdr.Failed},
		{false, 0, cdr.Failed},
	}
	for _, tt := range tests {
		if got := cdr.DispositionOf(tt.answered, tt.status); got != tt.want {
			t.Errorf("DispositionOf(%v, %d) = %s, want %s", tt.answered, tt.status, got, tt.want)
		}
	}
}

func TestDurations(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name          string
		answered, end time.Duration // after setup; answered 0 means never
		duration      time.Duration
		billable      int64
	}{
		{"whole seconds", 2 * time.Second, 12 * time.Second, 12 * time.Second, 10},
		{"a started second bills", 2 * time.Second, 12100 * time.Millisecond, 12100 * time.Millisecond, 11},
		{"never answered", 0, 30 * time.Second, 30 * time.Second, 0},
		{"answered at the end", 5 * time.Second, 5 * time.Second, 5 * time.Second, 0},
	}
	for _, tt := range tests {
		r := cdr.Record{Setup: t0, End: t0.Add(tt.end)}
		if tt.answered > 0 {
			r.Answered = t0.Add(tt.answered)
		}
		if r.Duration() != tt.duration || r.Billable() != tt.billable {
			t.Errorf("%s: duration %v billable %d, want %v %d", tt.name, r.Duration(), r.Billable(), tt.duration, tt.billable)
		}
	}
}

// FuzzParseTime: a time that parses formats back to the same instant.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-03-01", "2026-03-01T09:00:00Z", "2026-03-01T09:00:00.5+02:00", "yesterday", "2026-13-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := cdr.ParseTime(s)
		if err != nil {
			return
		}
		back, err := cdr.ParseTime(tm.Format(time.RFC3339Nano))
		if err != nil || !back.Equal(tm) {
			t.Errorf("%q → %v → %v (%v)", s, tm, back, err)
		}
	})
}
