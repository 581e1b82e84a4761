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
	}, nil)
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

// expect reads the responses numbered ns, in that order.
func (r *queueRig) expect(t *testing.T, ns ...int) {
	t.Helper()
	for _, i := range ns {
		if got := r.read(t, time.Second); got != string(response(i)) {
			t.Fatalf("got %q, want response %d", got, i)
		}
	}
}

// seq is from, from+1, ... to-1.
func seq(from, to int) []int {
	ns := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		ns = append(ns, i)
	}
	return ns
}

func response(i int) []byte { return fmt.Appendf(nil, "SIP/2.0 200 OK\r\nX-N: %d\r\n\r\n", i) }

// During a read batch, responses wait and then leave together, in order,
// from the queue's own copies (the sender may reuse its buffer at once).
func TestUDPQueueHoldsResponsesUntilRelease(t *testing.T) {
	forFamilies(t, func(t *testing.T, f family) {
		r := newQueueRig(t, f)
		r.s.hold()
		buf := make([]byte, 0, 64)
		for i := range 3 {
			buf = append(buf[:0], response(i)...)
			if err := r.s.send(buf, r.dst, isResponse(buf), 0); err != nil {
				t.Fatal(err)
			}
		}
		clear(buf[:cap(buf)])
		if got := r.read(t, 50*time.Millisecond); got != "" {
			t.Fatalf("a queued response left before the batch ended: %q", got)
		}
		before := r.s.writes.Load()
		r.s.release()
		if w := r.s.writes.Load() - before; w != 1 {
			t.Fatalf("release wrote with %d system calls, want one sendmmsg", w)
		}
		r.expect(t, seq(0, 3)...)
	})
}

// A read batch holds its responses for at most the bound: between its
// datagrams the reader writes what has waited that long (the first held
// response's age counts), and leaves a younger queue, or one a flusher
// at work will take, alone. The clock is the test's.
func TestUDPQueueHoldIsBounded(t *testing.T) {
	const bound = 100 * time.Microsecond
	for _, tc := range []struct {
		name     string
		ages     []time.Duration // each response's queueing, as time before the check
		flushing bool            // a sender is writing when the reader checks
		want     []int           // what the check writes
	}{
		{"younger than the bound", []time.Duration{60 * time.Microsecond}, false, nil},
		{"at the bound", []time.Duration{bound}, false, []int{0}},
		{"the first one's age counts", []time.Duration{150 * time.Microsecond, 10 * time.Microsecond}, false, []int{0, 1}},
		{"a flusher at work takes them", []time.Duration{time.Millisecond}, true, nil},
		{"nothing held", nil, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newQueueRig(t, families[0])
			var now int64 = 1e9
			r.s.now = func() int64 { return now }
			r.s.hold()
			var done func()
			if tc.flushing {
				done = r.flushing(t)
			}
			check := now
			for i, age := range tc.ages {
				now = check - int64(age)
				if err := r.s.send(response(i), r.dst, true, 0); err != nil {
					t.Fatal(err)
				}
			}
			now = check
			r.s.flushStale(bound)
			r.expect(t, tc.want...)
			if got := r.read(t, 20*time.Millisecond); got != "" {
				t.Fatalf("the check also wrote %q", got)
			}
			if done != nil {
				done()
			}
			r.s.release()
			r.expect(t, seq(len(tc.want), len(tc.ages))...)
		})
	}
}

// A request is never held back by a read batch: it leaves at once, behind
// the responses already held (its sender's order), and its sender gets
// the write's result.
func TestUDPQueueRequestFlushesHeldResponses(t *testing.T) {
	r := newQueueRig(t, families[0])
	r.s.hold()
	for i := range 2 {
		if err := r.s.send(response(i), r.dst, true, 0); err != nil {
			t.Fatal(err)
		}
	}
	req := []byte("OPTIONS sip:x SIP/2.0\r\n\r\n")
	if err := r.s.send(req, r.dst, isResponse(req), 0); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{string(response(0)), string(response(1)), string(req)} {
		if got := r.read(t, time.Second); got != want {
			t.Fatalf("during the batch the peer got %q, want %q", got, want)
		}
	}
	if err := r.s.send(req, netip.AddrPortFrom(r.dst.Addr(), 0), false, 0); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("a request to port 0 during the batch: %v, want EINVAL", err)
	}
	r.s.release()
	if got := r.read(t, 50*time.Millisecond); got != "" {
		t.Fatalf("release wrote %q, want nothing left", got)
	}
	if failed := r.failures(); len(failed) != 0 {
		t.Fatalf("onError got %v; the request's sender had its error", failed)
	}
}

// On an idle socket a send is written by its own caller before send
// returns: a quiet server adds no delay. A refused destination is the
// caller's error, queued or not.
func TestUDPQueueIdleWritesAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		queue bool
		port0 bool
		want  error
	}{
		{"response", true, false, nil},
		{"request", false, false, nil},
		{"response to port 0", true, true, syscall.EINVAL},
		{"request to port 0", false, true, syscall.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newQueueRig(t, families[0])
			dst := r.dst
			if tc.port0 {
				dst = netip.AddrPortFrom(dst.Addr(), 0)
			}
			err := r.s.send(response(7), dst, tc.queue, 0)
			if w := r.s.writes.Load(); w != 1 {
				t.Fatalf("%d system calls had written when send returned, want 1", w)
			}
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("send: %v, want %v", err, tc.want)
			}
			if tc.port0 {
				return
			}
			if got := r.read(t, time.Second); got != string(response(7)) {
				t.Fatalf("got %q", got)
			}
		})
	}
}

// flushing makes the test the socket's flusher, as a sender in the middle
// of its write is; the returned func ends that write the way the sender
// does, writing what was queued meanwhile.
func (r *queueRig) flushing(t *testing.T) (done func()) {
	t.Helper()
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if r.s.flushing {
		t.Fatal("a flush is already in progress")
	}
	r.s.flushing = true
	return func() {
		r.s.mu.Lock()
		r.s.drainLocked()
		r.s.mu.Unlock()
	}
}

// queuedLen is how many messages wait for the flusher's next round.
func (r *queueRig) queuedLen() int {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return len(r.s.next.q)
}

// waitQueued waits until n messages wait in the queue.
func (r *queueRig) waitQueued(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.queuedLen() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d queued, want %d", r.queuedLen(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Sends that find a write in progress join the queue, each its sender's
// copy, and all leave in the flusher's next sendmmsg; a response's sender
// returns at once, a request's waits for that write and gets its result.
func TestUDPQueueJoinsFlushInProgress(t *testing.T) {
	r := newQueueRig(t, families[0])
	done := r.flushing(t)
	buf := make([]byte, 0, 64)
	for i := range 3 {
		buf = append(buf[:0], response(i)...)
		if err := r.s.send(buf, r.dst, true, 0); err != nil {
			t.Fatal(err)
		}
	}
	clear(buf[:cap(buf)])
	result := make(chan error, 1)
	go func() { result <- r.s.send(response(3), r.dst, false, 0) }()
	r.waitQueued(t, 4)
	select {
	case err := <-result:
		t.Fatalf("a request's send returned (%v) before the flusher wrote it", err)
	case <-time.After(50 * time.Millisecond):
	}
	if got := r.read(t, 10*time.Millisecond); got != "" {
		t.Fatalf("%q left while the flush was in progress", got)
	}
	done()
	if w := r.s.writes.Load(); w != 1 {
		t.Fatalf("the flusher wrote 4 queued datagrams with %d system calls, want 1", w)
	}
	if err := <-result; err != nil {
		t.Fatalf("the waiting request: %v", err)
	}
	r.expect(t, seq(0, 4)...)
}

// A message the kernel refuses while others wait with it goes to its own
// sender when it waits (a request), else to onError, and the messages
// around it still leave.
func TestUDPQueueRefusedDoesNotHoldBackTheRest(t *testing.T) {
	for _, tc := range []struct {
		name        string
		queue       bool
		wantOnError int
	}{
		{"queued response", true, 1},
		{"waiting request", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newQueueRig(t, families[0])
			bad := netip.AddrPortFrom(r.dst.Addr(), 0)
			done := r.flushing(t)
			r.s.send(response(0), r.dst, true, 0)
			result := make(chan error, 1)
			go func() { result <- r.s.send(response(1), bad, tc.queue, 0) }()
			r.waitQueued(t, 2)
			go func() { r.s.send(response(2), r.dst, true, 0) }()
			r.waitQueued(t, 3)
			done()
			err := <-result
			if !tc.queue && !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("the waiting sender got %v, want EINVAL", err)
			}
			if tc.queue && err != nil {
				t.Fatalf("a queued response's sender got %v", err)
			}
			r.expect(t, 0, 2)
			if failed := r.failures(); len(failed) != tc.wantOnError {
				t.Fatalf("onError got %v, want %d EINVAL", failed, tc.wantOnError)
			}
		})
	}
}

// A full queue makes further senders wait for the flusher to take it,
// so it never holds more than udpQueueMax; then they go on, and all
// arrive in their order.
func TestUDPQueueBoundWhileFlushing(t *testing.T) {
	r := newQueueRig(t, families[0])
	done := r.flushing(t)
	for i := range udpQueueMax {
		if err := r.s.send(response(i), r.dst, true, 0); err != nil {
			t.Fatal(err)
		}
	}
	over := make(chan error, 1)
	go func() { over <- r.s.send(response(udpQueueMax), r.dst, true, 0) }()
	select {
	case err := <-over:
		t.Fatalf("a send into a full queue returned (%v) before the flusher took it", err)
	case <-time.After(50 * time.Millisecond):
	}
	if n := r.queuedLen(); n != udpQueueMax {
		t.Fatalf("%d queued, bound %d", n, udpQueueMax)
	}
	done()
	if err := <-over; err != nil {
		t.Fatal(err)
	}
	r.expect(t, seq(0, udpQueueMax+1)...)
}

// Many goroutines sending at once, responses and requests, with read
// batches coming and going: every datagram arrives, each sender's in the
// order it sent them, and the writes never outnumber the datagrams.
func TestUDPQueueConcurrentSenders(t *testing.T) {
	for _, tc := range []struct {
		name    string
		queue   func(g int) bool
		batches bool
	}{
		{"responses", func(int) bool { return true }, false},
		{"requests", func(int) bool { return false }, false},
		{"mixed", func(g int) bool { return g%2 == 0 }, false},
		{"mixed with read batches", func(g int) bool { return g%2 == 0 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const senders, each = 16, 200
			r := newQueueRig(t, families[0])
			r.peer.SetReadBuffer(4 << 20)
			got := make(chan map[int][]int, 1)
			go func() { got <- readSenders(r, senders*each) }()
			stop := make(chan struct{})
			var holders sync.WaitGroup
			if tc.batches {
				holders.Go(func() { holdAndRelease(r.s, stop) })
			}
			var wg sync.WaitGroup
			for g := range senders {
				wg.Go(func() {
					for i := range each {
						msg := fmt.Appendf(nil, "SIP/2.0 200 OK\r\nX-S: %d\r\nX-N: %d\r\n\r\n", g, i)
						if err := r.s.send(msg, r.dst, tc.queue(g), 0); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			close(stop)
			holders.Wait()
			bySender := <-got
			for g := range senders {
				seq := bySender[g]
				if len(seq) != each {
					t.Fatalf("sender %d: %d of %d arrived", g, len(seq), each)
				}
				for i, n := range seq {
					if n != i {
						t.Fatalf("sender %d: datagram %d is its message %d", g, i, n)
					}
				}
			}
			if w := r.s.writes.Load(); w > senders*each {
				t.Fatalf("%d system calls for %d datagrams", w, senders*each)
			}
			t.Logf("%d datagrams in %d system calls", senders*each, r.s.writes.Load())
		})
	}
}

// readSenders reads n datagrams (or until none comes for a second) and
// returns each sender's message numbers in arrival order.
func readSenders(r *queueRig, n int) map[int][]int {
	seen := map[int][]int{}
	buf := make([]byte, 2048)
	for range n {
		r.peer.SetReadDeadline(time.Now().Add(time.Second))
		k, _, err := r.peer.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		var g, i int
		if _, err := fmt.Sscanf(string(buf[:k]), "SIP/2.0 200 OK\r\nX-S: %d\r\nX-N: %d", &g, &i); err == nil {
			seen[g] = append(seen[g], i)
		}
	}
	return seen
}

// holdAndRelease plays a reader's batches until stop.
func holdAndRelease(s *udpSocket, stop chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		s.hold()
		time.Sleep(100 * time.Microsecond)
		s.release()
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
		if err := r.s.send(response(i), r.dst, true, 0); err != nil {
			t.Fatal(err)
		}
	}
	r.expect(t, seq(0, udpQueueMax)...)
	if got := r.read(t, 50*time.Millisecond); got != "" {
		t.Fatalf("more than a full queue left before release: %q", got)
	}
	r.s.release()
	r.expect(t, seq(udpQueueMax, n)...)
}

// With two readers in overlapping batches, the end of either batch
// writes the queue, and sends go on queueing while the other batch runs.
func TestUDPQueueOverlappingBatches(t *testing.T) {
	r := newQueueRig(t, families[0])
	r.s.hold()
	r.s.hold()
	for i := range 2 {
		r.s.send(response(i), r.dst, true, 0)
		if got := r.read(t, 50*time.Millisecond); got != "" {
			t.Fatalf("response %d left while batch %d ran: %q", i, i+1, got)
		}
		r.s.release()
		if got := r.read(t, time.Second); got != string(response(i)) {
			t.Fatalf("after batch %d ended the peer got %q", i+1, got)
		}
	}
	r.s.send(response(2), r.dst, true, 0)
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
		if err := r.s.send(response(i), dst, true, 0); err != nil {
			t.Fatal(err)
		}
	}
	r.s.release()
	r.expect(t, 0, 2)
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
