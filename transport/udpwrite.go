package transport

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// udpQueueMax bounds one socket's write queue: past it the sender writes
// the queue itself, so a long read batch cannot hold responses back
// without limit or grow the queue's memory.
const udpQueueMax = 64

// queued is one datagram waiting in a socket's write queue: its bytes
// (in the queue's arena) and where it goes.
type queued struct {
	msg []byte
	dst netip.AddrPort
}

// udpSocket is one of a UDP listener's SO_REUSEPORT sockets with its
// write queue. While a reader hands a batch of datagrams to the handler,
// the responses sent through the socket are queued and leave in one
// sendmmsg when the batch is done: under load, one system call carries
// the answers to a whole read batch instead of one each. Outside a batch
// a send is written at once, so a quiet server adds no delay. With
// several readers, the end of any one's batch writes the whole queue:
// their batches overlap, and waiting for none to be in one could hold a
// response back for as long as the load lasts.
type udpSocket struct {
	conn *net.UDPConn
	w    *udpWriter // sendmmsg's reused arguments

	// writes counts the system calls that wrote (sendto and sendmmsg):
	// against the datagrams sent, how well sends share them.
	writes atomic.Uint64

	mu      sync.Mutex
	holders int      // readers in a batch; while any is, sends queue
	queue   []queued // what waits for the end of the batch
	arena   []byte   // the queued messages' bytes, reused after each flush
	onError func(dst netip.AddrPort, err error)
}

func newUDPSocket(uc *net.UDPConn, v4 bool, onError func(netip.AddrPort, error)) *udpSocket {
	return &udpSocket{
		conn:    uc,
		w:       newUDPWriter(uc, v4),
		queue:   make([]queued, 0, udpQueueMax),
		onError: onError,
	}
}

// hold starts a read batch: sends queue until release.
func (s *udpSocket) hold() {
	s.mu.Lock()
	s.holders++
	s.mu.Unlock()
}

// release ends a read batch and writes what is queued, its own responses
// and those of batches still running.
func (s *udpSocket) release() {
	s.mu.Lock()
	s.holders--
	s.flushLocked()
	s.mu.Unlock()
}

// send writes msg to dst now, or queues a copy when the socket is in a
// read batch and queue is set; it reports an error only for a write made
// at once. A queued message's failure goes to onError instead: by then
// its sender has moved on.
func (s *udpSocket) send(msg []byte, dst netip.AddrPort, queue bool) error {
	if queue && s.enqueue(msg, dst) {
		return nil
	}
	_, err := s.conn.WriteToUDPAddrPort(msg, dst)
	s.writes.Add(1)
	return err
}

// enqueue copies msg into the queue if the socket is holding, writing the
// queue first when it is full.
func (s *udpSocket) enqueue(msg []byte, dst netip.AddrPort) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holders == 0 {
		return false
	}
	if len(s.queue) == udpQueueMax {
		s.flushLocked()
	}
	start := len(s.arena)
	s.arena = append(s.arena, msg...)
	// A grown arena leaves earlier messages in the old array, which they
	// keep alive until the flush; the slices stay valid either way.
	s.queue = append(s.queue, queued{msg: s.arena[start:len(s.arena):len(s.arena)], dst: dst})
	return true
}

// flushLocked writes the queue with as few sendmmsg calls as the kernel
// allows. A message the kernel refuses is reported and skipped, so one
// bad destination does not hold back the rest. The caller holds s.mu.
func (s *udpSocket) flushLocked() {
	q := s.queue
	for len(q) > 0 {
		n, err := s.w.write(q)
		s.writes.Add(1)
		if err != nil || n <= 0 {
			// sendmmsg reports an error only when nothing of the
			// batch went: the first message is the one refused.
			if err == nil {
				err = io.ErrShortWrite
			}
			s.onError(q[0].dst, err)
			n = 1
		}
		q = q[n:]
	}
	clear(s.queue)
	s.queue = s.queue[:0]
	s.arena = s.arena[:0]
}
