package proxy

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// registerMaxWait is how long a REGISTER may wait for a worker before
	// it is answered 503 instead. A phone on UDP retransmits after T1
	// (500 ms): an answer sent later than that comes after the phone
	// already sent the request again, and past capacity every such
	// retransmission is more work for a server that has too much. Half of
	// T1 leaves the other half for the store's round trip and the answer's
	// way back.
	registerMaxWait = 250 * time.Millisecond
	// registerMaxWaiting bounds how many REGISTERs wait, whatever their
	// age: a few hundred milliseconds of a node's capacity (some 20 000
	// a second), so that age, not this bound, is what sheds at any rate a
	// node can read.
	registerMaxWaiting = 8192
	// overloadRetryMin and overloadRetrySpread make the Retry-After of a
	// shed REGISTER 5 to 14 s: spread, so that phones shed in one burst
	// do not come back in one burst either.
	overloadRetryMin, overloadRetrySpread = 5, 10
)

// registerQueue admits REGISTERs to a registrar whose store answers over
// the network (Redis, PostgreSQL): at most workers are handled at once,
// the rest wait, and the newest of those is handled next.
//
// It exists because the reading goroutine must never wait for a worker.
// When it did (a full pool blocked it), the socket's receive buffer
// became the queue: a first-come-first-served queue of several MiB that
// no code could see into. Past capacity every REGISTER then waited there
// longer than the phone's first retransmission timer, each was sent again
// and again, the retransmissions took the readers' time and the buffer's
// room from new requests, and one Redis node's rate fell from 20 000 to
// 11 000 a second with a p99 of 7.5 s (issue 19). Now the readers drain
// the socket, a REGISTER that waited longer than registerMaxWait is
// answered 503 with Retry-After (cheap: no store involved; it ends the
// phone's transaction, so its retransmissions stop), and the fresh ones,
// which can still be answered in time, go first.
type registerQueue struct {
	workers    int
	maxWait    time.Duration
	maxWaiting int
	now        func() time.Time
	handle     func(*Request) // runs a REGISTER through the registrar and answers it
	refuse     func(*Request) // answers a REGISTER shed unhandled

	mu      sync.Mutex
	running int              // workers busy
	waiting []waitingRequest // oldest first: shed from the front, handled from the back

	shed atomic.Uint64
}

// waitingRequest is a REGISTER waiting for a worker, and when it arrived.
type waitingRequest struct {
	r  *Request
	at time.Time
}

// submit has r handled at once when a worker is free, or has it wait. It
// never blocks: it runs on the goroutine that reads the socket. A REGISTER
// that already waited maxWait in the socket's buffer is shed at once:
// handling it would cost the store's work for an answer that comes too
// late, and past capacity the time that saves is what lets the readers
// catch up with the buffer.
func (q *registerQueue) submit(r *Request) {
	now := q.now()
	at := arrival(r, now)
	if now.Sub(at) >= q.maxWait {
		q.refuseAll([]*Request{r})
		return
	}
	q.mu.Lock()
	if q.running < q.workers {
		q.running++
		q.mu.Unlock()
		go q.work(r)
		return
	}
	late := q.expire(now)
	if len(q.waiting) >= q.maxWaiting {
		late = append(late, q.waiting[0].r)
		q.waiting[0] = waitingRequest{}
		q.waiting = q.waiting[1:]
	}
	q.waiting = append(q.waiting, waitingRequest{r: r, at: at})
	q.mu.Unlock()
	q.refuseAll(late)
}

// arrival is when r reached this machine: the kernel's time where the
// transport knows it, else now. A wall clock stepped back since is taken
// as now.
func arrival(r *Request, now time.Time) time.Time {
	if r.In == nil || r.In.Arrived.IsZero() || r.In.Arrived.After(now) {
		return now
	}
	return r.In.Arrived
}

// work handles r, then whatever waits, newest first, until nothing does.
func (q *registerQueue) work(r *Request) {
	for r != nil {
		q.handle(r)
		r = q.next()
	}
}

// next takes the newest waiting REGISTER, or, when none waits, frees the
// worker and returns nil. Those that waited too long are shed on the way.
func (q *registerQueue) next() *Request {
	q.mu.Lock()
	late := q.expire(q.now())
	var r *Request
	if n := len(q.waiting); n > 0 {
		r = q.waiting[n-1].r
		q.waiting[n-1] = waitingRequest{}
		q.waiting = q.waiting[:n-1]
	} else {
		q.running--
	}
	q.mu.Unlock()
	q.refuseAll(late)
	return r
}

// expire removes from the front the REGISTERs that have waited maxWait
// or longer at now, and returns them. q.mu is held.
func (q *registerQueue) expire(now time.Time) []*Request {
	var late []*Request
	for len(q.waiting) > 0 && now.Sub(q.waiting[0].at) >= q.maxWait {
		late = append(late, q.waiting[0].r)
		q.waiting[0] = waitingRequest{}
		q.waiting = q.waiting[1:]
	}
	return late
}

// refuseAll answers the shed REGISTERs, with no lock held.
func (q *registerQueue) refuseAll(rs []*Request) {
	for _, r := range rs {
		q.shed.Add(1)
		q.refuse(r)
	}
}

// pending is how many REGISTERs are handled or waiting.
func (q *registerQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.running + len(q.waiting)
}

// overloadRetryAfter are the Retry-After values a shed REGISTER gets,
// made once.
var overloadRetryAfter = func() (s [overloadRetrySpread]string) {
	for i := range s {
		s[i] = strconv.Itoa(overloadRetryMin + i)
	}
	return s
}()

// refuseOverloaded answers a REGISTER the registrar had no time for
// (RFC 3261 §21.5.4: the phone tries another server, or this one later).
func refuseOverloaded(r *Request) {
	r.send(r.response(503, "Registrar Overloaded", "Retry-After", overloadRetryAfter[rand.IntN(overloadRetrySpread)]))
}
