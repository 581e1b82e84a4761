package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

// queueRig is one udpSocket on loopback and a peer socket that reads what
// it writes, with the socket's queued-send failures recorded.
type queueRig struct {
	s    *udpSocket
	peer *net.UDPConn
	dst  netip.AddrPort

	mu     sync.Mutex
	failed []error
}

func newQueueRig(t *testing.T, f family) *queueRig {
	t.Helper()
	r := &queueRig{peer: udpClient(t, f)}
	r.dst = addrPort(r.peer.LocalAddr())
	uc := udpClient(t, f)
	r.s = newUDPSocket(uc, f.host == "127.0.0.1", func(_ netip.AddrPort, err error) {
		r.mu.Lock()
		r.failed = append(r.failed, err)
		r.mu.Unlock()
	})
	return r
}

func (r *queueRig) failures() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.failed...)
}

// read returns the next datagram, or "" when none comes within wait.
func (r *queueRig) read(t *testing.T, wait time.Duration) string {
	t.Helper()
	buf := make([]byte, 2048)
	r.peer.SetReadDeadline(time.Now().Add(wait))
	n, _, err := r.peer.ReadFromUDPAddrPort(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func response(i int) []byte { return fmt.Appendf(nil, "SIP/2.0 200 OK\r\nX-N: %d\r\n\r\n", i) }

// During a read batch, responses wait and then leave together, in order,
// from the queue's own copies (the sender may reuse its buffer at once);
// a request is never held back.
func TestUDPQueueHoldsResponsesUntilRelease(t *testing.T) {
	forFamilies(t, func(t *testing.T, f family) {
		r := newQueueRig(t, f)
		r.s.hold()
		buf := make([]byte, 0, 64)
		for i := range 3 {
			buf = append(buf[:0], response(i)...)
			if err := r.s.send(buf, r.dst, isResponse(buf)); err != nil {
				t.Fatal(err)
			}
		}
		clear(buf[:cap(buf)])
		req := []byte("OPTIONS sip:x SIP/2.0\r\n\r\n")
		if err := r.s.send(req, r.dst, isResponse(req)); err != nil {
			t.Fatal(err)
		}
		if got := r.read(t, time.Second); got != string(req) {
			t.Fatalf("during the batch the peer got %q, want the request alone", got)
		}
		if got := r.read(t, 50*time.Millisecond); got != "" {
			t.Fatalf("a queued response left before the batch ended: %q", got)
		}
		r.s.release()
		for i := range 3 {
			if got := r.read(t, time.Second); got != string(response(i)) {
				t.Fatalf("datagram %d after release = %q", i, got)
			}
		}
	})
}

// Outside a batch a response is written at once.
func TestUDPQueueIdleWritesAtOnce(t *testing.T) {
	r := newQueueRig(t, families[0])
	if err := r.s.send(response(7), r.dst, true); err != nil {
		t.Fatal(err)
	}
	if got := r.read(t, time.Second); got != string(response(7)) {
		t.Fatalf("got %q", got)
	}
}

// A batch that answers more than the queue holds writes the full queue
// while it goes on, so nothing waits behind an unbounded queue, and
// every response arrives.
func TestUDPQueueFlushesWhenFull(t *testing.T) {
	r := newQueueRig(t, families[0])
	const n = udpQueueMax + 10
	r.s.hold()
	for i := range n {
		if err := r.s.send(response(i), r.dst, true); err != nil {
			t.Fatal(err)
		}
	}
	for i := range udpQueueMax {
		if got := r.read(t, time.Second); got != string(response(i)) {
			t.Fatalf("datagram %d before release = %q", i, got)
		}
	}
	if got := r.read(t, 50*time.Millisecond); got != "" {
		t.Fatalf("more than a full queue left before release: %q", got)
	}
	r.s.release()
	for i := udpQueueMax; i < n; i++ {
		if got := r.read(t, time.Second); got != string(response(i)) {
			t.Fatalf("datagram %d after release = %q", i, got)
		}
	}
}

// With two readers in overlapping batches, the end of either batch
// writes the queue, and sends go on queueing while the other batch runs.
func TestUDPQueueOverlappingBatches(t *testing.T) {
	r := newQueueRig(t, families[0])
	r.s.hold()
	r.s.hold()
	for i := range 2 {
		r.s.send(response(i), r.dst, true)
		if got := r.read(t, 50*time.Millisecond); got != "" {
			t.Fatalf("response %d left while batch %d ran: %q", i, i+1, got)
		}
		r.s.release()
		if got := r.read(t, time.Second); got != string(response(i)) {
			t.Fatalf("after batch %d ended the peer got %q", i+1, got)
		}
	}
	r.s.send(response(2), r.dst, true)
	if got := r.read(t, time.Second); got != string(response(2)) {
		t.Fatalf("outside any batch the peer got %q", got)
	}
}

// A queued message the kernel refuses (port 0 is EINVAL on Linux) is
// reported and skipped; the messages around it still go.
func TestUDPQueueSkipsRefusedMessage(t *testing.T) {
	r := newQueueRig(t, families[0])
	bad := netip.AddrPortFrom(r.dst.Addr(), 0)
	r.s.hold()
	for i, dst := range []netip.AddrPort{r.dst, bad, r.dst} {
		if err := r.s.send(response(i), dst, true); err != nil {
			t.Fatal(err)
		}
	}
	r.s.release()
	for _, i := range []int{0, 2} {
		if got := r.read(t, time.Second); got != string(response(i)) {
			t.Fatalf("got %q, want response %d", got, i)
		}
	}
	failed := r.failures()
	if len(failed) != 1 || !errors.Is(failed[0], syscall.EINVAL) {
		t.Fatalf("failures %v, want one EINVAL", failed)
	}
}

// Through the Manager: a refused queued response counts as a send error,
// not as sent.
func TestUDPQueueFailureCounted(t *testing.T) {
	m, _ := startAnswering(t, udpConfig(families[0]))
	socks := m.all()[0].socks
	for _, s := range socks {
		s.hold()
	}
	if err := m.Send(Target{Proto: UDP, Addr: netip.MustParseAddrPort("127.0.0.1:0")}, response(1)); err != nil {
		t.Fatal(err)
	}
	for _, s := range socks {
		s.release()
	}
	if st := m.Stats(); st.SendErrors != 1 || st.Sent != 0 {
		t.Fatalf("stats %+v, want one send error and nothing sent", st)
	}
}

// One destination is always written by one socket (so queued and direct
// writes to it keep their order), and destinations spread over all.
func TestSockForIsStableAndSpreads(t *testing.T) {
	socks := []*udpSocket{{}, {}, {}}
	used := map[*udpSocket]bool{}
	for port := uint16(5000); port < 5064; port++ {
		dst := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.7"), port)
		s := sockFor(socks, dst)
		if sockFor(socks, dst) != s {
			t.Fatalf("%s: two sockets", dst)
		}
		used[s] = true
	}
	if len(used) != len(socks) {
		t.Fatalf("64 destinations used %d of %d sockets", len(used), len(socks))
	}
}
