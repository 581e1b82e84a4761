package sip

import (
	"testing"
	"time"
)

// TestArrivalAge: an Arrival's age is the time since it in microseconds,
// across the wrap of its 32 bits too; a time on the microsecond that
// wraps to 0 is a microsecond late rather than unknown.
func TestArrivalAge(t *testing.T) {
	const wrap = int64(1<<32) * 1000 // nanoseconds in one turn of the counter
	base := time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC).UnixNano()
	for _, tt := range []struct {
		name     string
		at, now  int64
		want     time.Duration
		notFirst bool
	}{
		{"same microsecond", base, base + 999, 0, false},
		{"1.6 ms", base, base + 1_600_000, 1600 * time.Microsecond, false},
		{"across the wrap", 37*wrap - 500_000, 37*wrap + 1_500_000, 2 * time.Millisecond, false},
		{"the clock stepped back", base, base - 3_000_000, -3 * time.Millisecond, false},
	} {
		if got := ArrivalAt(tt.at).Age(tt.now); got != tt.want {
			t.Errorf("%s: age %v, want %v", tt.name, got, tt.want)
		}
	}
	if a := ArrivalAt(5 * wrap); a != 1 {
		t.Errorf("an arrival on the wrap is %d, want 1 (known)", a)
	}
}

// TestRelayMark: RelayOf marks a message with the arrival of the one it
// relays, only when that is known; TakeRelayed gives it once, so that a
// retransmission of the same message is not timed again; a clone (a
// B leg's INVITE for another address) keeps the mark.
func TestRelayMark(t *testing.T) {
	in, err := Parse([]byte("INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n" +
		"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: r1\r\nCSeq: 1 INVITE\r\n" +
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	out := NewResponse(in, 200, "OK", "x")
	out.RelayOf(in)
	if got := out.TakeRelayed(); got != 0 {
		t.Errorf("relaying a message of unknown arrival marked %d", got)
	}
	at := ArrivalAt(time.Now().UnixNano())
	in.SetArrival(at)
	if in.TakeRelayed() != 0 {
		t.Error("a received message counts as a relay")
	}
	out.RelayOf(in)
	c := out.Clone()
	if got := out.TakeRelayed(); got != at {
		t.Errorf("first take %d, want %d", got, at)
	}
	if got := out.TakeRelayed(); got != 0 {
		t.Errorf("second take %d, want 0", got)
	}
	if got := c.TakeRelayed(); got != at || c.StatusCode() != 200 {
		t.Errorf("clone: take %d status %d, want %d and 200", got, c.StatusCode(), at)
	}
}
