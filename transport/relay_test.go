package transport

import (
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
)

// fakeWall is a wall clock the test moves.
type fakeWall struct{ ns int64 }

func (w *fakeWall) now() int64 { return w.ns }

// TestRelayHistogramBuckets: each relay time lands in the first bucket
// whose bound it does not pass (a bound is inclusive, as Prometheus's
// le), a time past the last in +Inf only; a wall clock stepped back
// counts as 0; a send that relays nothing is not counted.
func TestRelayHistogramBuckets(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC).UnixNano()
	w := &fakeWall{}
	r := &relays{wall: w.now}
	invite, ok := request(UDP, "192.0.2.1:5060", ""), response(1)
	for _, tt := range []struct {
		age time.Duration
		msg []byte
	}{
		{90 * time.Microsecond, invite},
		{1600 * time.Microsecond, invite},
		{2 * time.Millisecond, ok},
		{3 * time.Second, ok},
		{-time.Millisecond, ok},
	} {
		w.ns = t0 + int64(tt.age)
		r.sent(sip.ArrivalAt(t0), tt.msg, r.now())
	}
	r.sent(0, invite, r.now())
	req, resp := r.kinds[relayKind(invite)].snapshot(), r.kinds[relayKind(ok)].snapshot()
	le := func(h RelayHistogram, bound time.Duration) uint64 {
		for i, b := range RelayBuckets {
			if b == bound {
				return h.Buckets[i]
			}
		}
		t.Fatalf("no bucket %v", bound)
		return 0
	}
	for _, tt := range []struct {
		name  string
		h     RelayHistogram
		bound time.Duration
		want  uint64
	}{
		{"request ≤ 100µs", req, 100 * time.Microsecond, 1},
		{"request ≤ 1.5ms", req, 1500 * time.Microsecond, 1},
		{"request ≤ 2ms", req, 2 * time.Millisecond, 2},
		{"response ≤ 100µs (the step back)", resp, 100 * time.Microsecond, 1},
		{"response ≤ 1.5ms", resp, 1500 * time.Microsecond, 1},
		{"response ≤ 2ms", resp, 2 * time.Millisecond, 2},
		{"response ≤ 1s", resp, time.Second, 2},
	} {
		if got := le(tt.h, tt.bound); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	if req.Count != 2 || resp.Count != 3 || req.Sum != 1690*time.Microsecond || resp.Sum != 3002*time.Millisecond {
		t.Errorf("counts %d and %d, sums %v and %v", req.Count, resp.Count, req.Sum, resp.Sum)
	}
}

// TestRelayTimedWhenWritten: a relayed response held in a read batch's
// queue is timed when the batch's sendmmsg takes it, its wait in the
// queue included; one written at once is timed then; a request the
// flusher writes for its waiting sender too.
func TestRelayTimedWhenWritten(t *testing.T) {
	r := newQueueRig(t, families[0])
	t0 := time.Now().UnixNano()
	w := &fakeWall{ns: t0 + int64(200*time.Microsecond)}
	rl := &relays{wall: w.now}
	r.s.relays = rl
	at := sip.ArrivalAt(t0)

	if err := r.s.send(response(1), r.dst, true, at); err != nil { // no batch: written at once
		t.Fatal(err)
	}
	r.s.hold()
	if err := r.s.send(response(2), r.dst, true, at); err != nil {
		t.Fatal(err)
	}
	w.ns = t0 + int64(4*time.Millisecond) // the batch's other datagrams take their time
	if got := rl.kinds[relayKind(response(0))].snapshot().Count; got != 1 {
		t.Fatalf("%d responses timed while one waits in the queue, want 1", got)
	}
	r.s.release()
	if err := r.s.send(request(UDP, "192.0.2.1:5060", ""), r.dst, false, at); err != nil {
		t.Fatal(err)
	}
	resp, req := rl.kinds[relayKind(response(0))].snapshot(), rl.kinds[relayKind(request(UDP, "192.0.2.1:5060", ""))].snapshot()
	if resp.Count != 2 || resp.Sum != 4200*time.Microsecond {
		t.Errorf("responses: %d timed, %v in all; want 2, 200µs written at once and 4ms held", resp.Count, resp.Sum)
	}
	if req.Count != 1 || req.Sum != 4*time.Millisecond {
		t.Errorf("requests: %d timed, %v; want 1, 4ms", req.Count, req.Sum)
	}
	for i := range 3 {
		if r.read(t, time.Second) == "" {
			t.Fatalf("datagram %d never came", i)
		}
	}
}

// TestRelayKind names a message's kind from its first bytes: a request by
// its method (others together), a response by its class.
func TestRelayKind(t *testing.T) {
	for _, tt := range []struct{ msg, want string }{
		{"INVITE sip:b@example.com SIP/2.0\r\n", "INVITE"},
		{"ACK sip:b@example.com SIP/2.0\r\n", "ACK"},
		{"BYE sip:b@example.com SIP/2.0\r\n", "BYE"},
		{"INVITES sip:b@example.com SIP/2.0\r\n", "other"},
		{"UPDATE sip:b@example.com SIP/2.0\r\n", "other"},
		{"SIP/2.0 180 Ringing\r\n", "1xx"},
		{"SIP/2.0 200 OK\r\n", "2xx"},
		{"SIP/2.0 486 Busy Here\r\n", "3xx-6xx"},
	} {
		if got := RelayKinds[relayKind([]byte(tt.msg))]; got != tt.want {
			t.Errorf("%q: %s, want %s", tt.msg, got, tt.want)
		}
	}
}
