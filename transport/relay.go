package transport

import (
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/sip"
)

// RelayBuckets are the upper bounds of the relay histogram: fine around
// 2 ms, the B2BUA's target for its added latency at half load, so that
// the share within it needs no guess between distant bounds.
var RelayBuckets = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond, 750 * time.Microsecond,
	time.Millisecond, 1500 * time.Microsecond, 2 * time.Millisecond, 3 * time.Millisecond,
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
}

// relayHistogram counts relayed messages by the time from their cause's
// arrival to the kernel's taking them: an atomic add per message, summed
// only when read.
type relayHistogram struct {
	buckets [len(RelayBuckets) + 1]atomic.Uint64 // not cumulative; the last is +Inf
	sum     atomic.Int64                         // nanoseconds
}

func (h *relayHistogram) observe(d time.Duration) {
	d = max(d, 0) // a step back of the wall clock
	i := 0
	for i < len(RelayBuckets) && d > RelayBuckets[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sum.Add(int64(d))
}

func (h *relayHistogram) snapshot() RelayHistogram {
	var s RelayHistogram
	var cum uint64
	for i := range h.buckets {
		cum += h.buckets[i].Load()
		if i < len(s.Buckets) {
			s.Buckets[i] = cum
		}
	}
	s.Count, s.Sum = cum, time.Duration(h.sum.Load())
	return s
}

// RelayHistogram is a snapshot of one kind's relay times.
type RelayHistogram struct {
	// Buckets[i] counts the messages relayed within RelayBuckets[i]
	// (cumulative, as Prometheus wants them); Count is every one.
	Buckets [len(RelayBuckets)]uint64
	Count   uint64
	Sum     time.Duration
}

// RelayKinds name what the relay histogram tells apart: the requests a
// call's legs carry by method (a re-INVITE is an INVITE; other is UPDATE,
// INFO, PRACK, REFER, ...) and the responses by class (3xx-6xx together).
var RelayKinds = [...]string{"INVITE", "ACK", "BYE", "other", "1xx", "2xx", "3xx-6xx"}

// relayKind tells a message's kind from its first bytes.
func relayKind(msg []byte) int {
	if isResponse(msg) {
		switch msg[8] {
		case '1':
			return 4
		case '2':
			return 5
		}
		return 6
	}
	for i, method := range RelayKinds[:3] {
		if len(msg) > len(method) && msg[len(method)] == ' ' && string(msg[:len(method)]) == method {
			return i
		}
	}
	return 3
}

// RelayStats are the relay histograms since New, by kind (RelayKinds):
// requests and responses a B2BUA passed from one leg to the other
// (sip.Message.RelayOf), timed from the arrival of the message relayed
// (Incoming.Arrival: the kernel's receive time over UDP, the read over
// TCP, TLS and WebSocket) to the moment the relaying message was handed
// to the kernel (the start of the sendto or sendmmsg that carried it, a
// stream's write), counted once the kernel took it.
type RelayStats [len(RelayKinds)]RelayHistogram

// relays are the live histograms behind RelayStats.
type relays struct {
	kinds [len(RelayKinds)]relayHistogram
	wall  func() int64 // the wall clock in Unix nanoseconds; tests set their own
}

func wallNanos() int64 { return time.Now().UnixNano() }

// now returns the wall clock for sent, read as a write begins: 0 when
// nothing is timed.
func (r *relays) now() int64 {
	if r == nil {
		return 0
	}
	return r.wall()
}

// sent counts msg, which the kernel took relaying the message that
// arrived at a, by the time when the write that carried it began (now):
// the moment it was handed to the kernel, which on loopback then also
// delivers it to the receiver's socket before the call returns. A 0 (no
// relay) is not counted.
func (r *relays) sent(a sip.Arrival, msg []byte, at int64) {
	if a == 0 || r == nil {
		return
	}
	r.kinds[relayKind(msg)].observe(a.Age(at))
}

// RelayStats returns the relay histograms.
func (m *Manager) RelayStats() RelayStats {
	var s RelayStats
	for i := range s {
		s[i] = m.relays.kinds[i].snapshot()
	}
	return s
}
