package transport

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/sip"
)

// udpQueueMax bounds one socket's write queue: a sender that finds it
// full writes it itself, or waits for the write in progress to take it,
// so neither a long read batch nor a burst of senders can grow it.
const udpQueueMax = 64

// queued is one datagram waiting in a socket's write queue: its bytes
// and where it goes. A sender that moved on left a copy in the batch's
// arena; one that waits for the result (wait set) lent its own bytes.
type queued struct {
	msg     []byte
	dst     netip.AddrPort
	wait    chan error  // the waiting sender's: gets err once the message was written
	err     error       // the kernel's refusal
	relayed sip.Arrival // Target.Relayed: timed once the kernel took it
}

// sendWaits recycles the waiting senders' channels (each buffered, so
// the flusher never blocks on one), so a waiting send allocates nothing.
var sendWaits = sync.Pool{New: func() any { return make(chan error, 1) }}

// sendBatch is what one round of writing takes: the queued datagrams and
// the arena holding the copies, both reused from round to round.
type sendBatch struct {
	q     []queued
	arena []byte
}

// add queues a copy of msg, so its sender may reuse its buffer at once.
func (b *sendBatch) add(msg []byte, dst netip.AddrPort, relayed sip.Arrival) {
	start := len(b.arena)
	b.arena = append(b.arena, msg...)
	// A grown arena leaves earlier messages in the old array, which they
	// keep alive until the round is written; the slices stay valid.
	b.q = append(b.q, queued{msg: b.arena[start:len(b.arena):len(b.arena)], dst: dst, relayed: relayed})
}

func (b *sendBatch) reset() {
	clear(b.q) // drop the lent buffers and waits
	b.q = b.q[:0]
	b.arena = b.arena[:0]
}

// udpSocket is one of a UDP listener's SO_REUSEPORT sockets with its
// write queue, which lets concurrent senders share system calls.
//
// One sender at a time writes: the flusher. A send that finds none
// becomes it and writes its message at once, so a quiet server adds no
// delay. A send that finds one queues its message and leaves it to the
// flusher, which, after each write, takes everything queued meanwhile
// into one sendmmsg, until the queue is empty (flat combining): under
// load, one system call carries many senders' messages, and none waits
// for a later sender or a timer.
//
// While a reader hands a batch of datagrams to the handler (hold), the
// responses are queued even with no flusher, and leave in one sendmmsg
// when the batch is done (release), or between its datagrams once the
// first has waited udpHoldMax (flushStale). With several readers, the
// end of any one's batch writes the whole queue: their batches overlap,
// and waiting for none to be in one could hold a response back for as
// long as the load lasts.
//
// A response's sender moves on once its copy is queued; a failure to
// write it goes to onError. A request's sender waits for its own result
// (its client transaction fails over on a transport error, §17.1.4),
// which a queued request has after the flusher's next write. A sender's
// messages leave in the order it sent them.
type udpSocket struct {
	conn *net.UDPConn
	w    *udpWriter // sendmmsg's reused arguments; only the flusher uses it

	// writes counts the system calls that wrote (sendto and sendmmsg):
	// against the datagrams sent, how well sends share them.
	writes atomic.Uint64

	mu       sync.Mutex
	room     sync.Cond  // the flusher took the queue: a full one has room again
	holders  int        // readers in a batch; while any is, responses queue
	flushing bool       // a sender is writing; the rest queue behind it
	waiting  int        // senders blocked on room
	next     *sendBatch // the queue: what the next round writes
	spare    *sendBatch // the other batch; nil while the flusher writes it
	heldAt   int64      // s.now() when the queue's first response was queued
	onError  func(dst netip.AddrPort, err error)
	relays   *relays // times relayed messages once written; nil times none

	now func() int64 // a monotonic clock in nanoseconds; tests set their own
}

// clockStart is the origin of udpSockets' monotonic clock.
var clockStart = time.Now()

func monotonicNanos() int64 { return int64(time.Since(clockStart)) }

func newUDPSocket(uc *net.UDPConn, v4 bool, onError func(netip.AddrPort, error), r *relays) *udpSocket {
	s := &udpSocket{
		conn:    uc,
		w:       newUDPWriter(uc, v4),
		next:    &sendBatch{q: make([]queued, 0, udpQueueMax)},
		spare:   &sendBatch{q: make([]queued, 0, udpQueueMax)},
		onError: onError,
		relays:  r,
		now:     monotonicNanos,
	}
	s.room.L = &s.mu
	return s
}

// hold starts a read batch: responses queue until release.
func (s *udpSocket) hold() {
	s.mu.Lock()
	s.holders++
	s.mu.Unlock()
}

// release ends a read batch and writes what is queued, its own responses
// and those of batches still running, unless a flusher is at work: it
// writes them in its next round.
func (s *udpSocket) release() {
	s.mu.Lock()
	s.holders--
	if !s.flushing && len(s.next.q) > 0 {
		s.flushLocked()
	}
	s.mu.Unlock()
}

// flushStale writes the responses held for a read batch once the first
// has waited limit, unless a flusher is at work (it takes them in its
// next round): the reader calls it between the batch's datagrams.
func (s *udpSocket) flushStale(limit time.Duration) {
	s.mu.Lock()
	if !s.flushing && len(s.next.q) > 0 && time.Duration(s.now()-s.heldAt) >= limit {
		s.flushLocked()
	}
	s.mu.Unlock()
}

// send writes msg to dst. With queue set (a response) it may leave a copy
// in the queue and return nil: a failure shows later, through onError.
// Without it (a request) it returns the write's own error, waiting for
// the flusher when one is at work. relayed (Target.Relayed), when not 0,
// is timed once the kernel took msg: a response held in the queue counts
// its wait there.
func (s *udpSocket) send(msg []byte, dst netip.AddrPort, queue bool, relayed sip.Arrival) error {
	s.mu.Lock()
	s.makeRoomLocked()
	switch {
	case queue && (s.flushing || s.holders > 0):
		if len(s.next.q) == 0 {
			s.heldAt = s.now()
		}
		s.next.add(msg, dst, relayed)
		s.mu.Unlock()
		return nil
	case !s.flushing && len(s.next.q) == 0:
		return s.writeNowLocked(queued{msg: msg, dst: dst, relayed: relayed})
	}
	return s.awaitLocked(queued{msg: msg, dst: dst, relayed: relayed})
}

// makeRoomLocked returns with the queue not full: it writes the queue
// when no one is writing, else waits for the flusher to take it.
func (s *udpSocket) makeRoomLocked() {
	for len(s.next.q) == udpQueueMax {
		if !s.flushing {
			s.flushLocked()
			return
		}
		s.waiting++
		s.room.Wait()
		s.waiting--
	}
}

// writeNowLocked writes msg at once as the flusher, then whatever others
// queued meanwhile. The caller holds s.mu; writeNowLocked releases it.
func (s *udpSocket) writeNowLocked(e queued) error {
	s.flushing = true
	s.mu.Unlock()
	var at int64
	if e.relayed != 0 {
		at = s.relays.now()
	}
	_, err := s.conn.WriteToUDPAddrPort(e.msg, e.dst)
	s.writes.Add(1)
	if err == nil {
		s.relays.sent(e.relayed, e.msg, at)
	}
	s.mu.Lock()
	s.drainLocked()
	s.mu.Unlock()
	return err
}

// awaitLocked queues msg, without a copy, behind what is queued (keeping
// the sender's order), and returns its result once it is written: by the
// flusher at work, or by this sender as the flusher when the queue holds
// only a read batch's responses. The caller holds s.mu; awaitLocked
// releases it.
func (s *udpSocket) awaitLocked(e queued) error {
	w := sendWaits.Get().(chan error)
	e.wait = w
	s.next.q = append(s.next.q, e)
	if !s.flushing {
		s.flushLocked()
	}
	s.mu.Unlock()
	err := <-w
	sendWaits.Put(w)
	return err
}

// flushLocked writes the queue as the flusher. The caller holds s.mu and
// no one is flushing.
func (s *udpSocket) flushLocked() {
	s.flushing = true
	s.drainLocked()
}

// drainLocked writes the queue round after round, s.mu released during
// each write so that senders can queue for the next, until a round finds
// it empty; then the socket has no flusher. The caller holds s.mu and is
// the flusher.
func (s *udpSocket) drainLocked() {
	for len(s.next.q) > 0 {
		b := s.next
		s.next, s.spare = s.spare, nil
		if s.waiting > 0 {
			s.room.Broadcast()
		}
		s.mu.Unlock()
		s.writeBatch(b.q)
		// A waiting sender may reuse its bytes once told: b lends them
		// no more after this.
		for _, e := range b.q {
			if e.wait != nil {
				e.wait <- e.err
			}
		}
		s.mu.Lock()
		b.reset()
		s.spare = b
	}
	s.flushing = false
}

// writeBatch writes q with as few sendmmsg calls as the kernel allows. A
// message the kernel refuses is reported and skipped, so one bad
// destination does not hold back the rest.
func (s *udpSocket) writeBatch(q []queued) {
	for len(q) > 0 {
		at := s.relays.now()
		n, err := s.w.write(q)
		s.writes.Add(1)
		if err != nil || n <= 0 {
			// sendmmsg reports an error only when nothing of the
			// batch went: the first message is the one refused.
			if err == nil {
				err = io.ErrShortWrite
			}
			s.refused(&q[0], err)
			n = 1
		} else {
			for _, e := range q[:n] {
				s.relays.sent(e.relayed, e.msg, at)
			}
		}
		q = q[n:]
	}
}

// refused keeps a refused message's error for its waiting sender, or
// hands it to onError when its sender moved on.
func (s *udpSocket) refused(e *queued, err error) {
	if e.wait != nil {
		e.err = err
		return
	}
	s.onError(e.dst, err)
}
