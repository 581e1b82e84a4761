package transaction

import (
	"strings"
	"sync"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// ServerTx is a server transaction (§17.2): it holds a received request,
// sends the Core's responses to where §18.2.2 says, resends the last one
// when the request is retransmitted, and, for INVITE, retransmits a
// non-2xx final response until the ACK arrives. Its methods are safe for
// concurrent use.
type ServerTx struct {
	l        *Layer
	key      string
	in       *transport.Incoming
	method   string
	branch   string
	invite   bool
	reliable bool
	dst      transport.Target
	rfc2543  bool
	reqToTag string // the request's To tag, for RFC 2543 matching
	sum      uint64 // the request's fingerprint, for RFC 2543 matching
	trying   []byte // the 100 Trying, built while the layer owned the request

	mu        sync.Mutex
	state     State
	last      []byte // the latest response sent, resent on retransmissions
	respToTag string // To tag of the final response, for RFC 2543 ACK matching
	retx      timerSlot
	main      timerSlot
	seq       uint32
	interval  time.Duration // Timer G's current value
	cancelled bool
	parked    time.Time // when set, the transaction lives on in the linger store until then
	retxPark  bool      // Completed lives on in the layer's retransmitting store (see parkCompleted)
	onCancel  func()
	failed    error
	onFailure func(error)
}

func newServerTx(l *Layer, in *transport.Incoming, k matchKey) *ServerTx {
	method := in.Msg.Method()
	t := &ServerTx{
		l: l, key: k.key, in: in, method: detach(method, k.key),
		invite:   method == "INVITE",
		reliable: in.Proto.Reliable(),
		dst:      transport.ResponseTarget(in),
		rfc2543:  k.rfc2543,
		reqToTag: strings.Clone(k.toTag),
		sum:      k.sum,
		state:    Trying,
	}
	if v, err := in.Msg.TopVia(); err == nil {
		t.branch = detach(v.Branch(), k.key)
	}
	if t.invite {
		t.state = Proceeding // §17.2.1: an INVITE server transaction starts in Proceeding
		if l.cfg.TryingDelay >= 0 {
			t.trying = sip.NewResponse(in.Msg, 100, "", "").Bytes()
		}
		if l.cfg.TryingDelay == 0 {
			t.last = t.trying
		}
	}
	return t
}

// start sends or schedules the 100 Trying of an INVITE (§17.2.1, §16.2).
// It reports false when the 100 could not be sent: the request cannot be
// answered, and the transaction has ended.
func (t *ServerTx) start() bool {
	switch {
	case t.trying == nil:
	case t.l.cfg.TryingDelay == 0:
		if err := t.l.send(t.dst, t.trying); err != nil {
			t.fail(err)
			return false
		}
	default:
		t.mu.Lock()
		t.l.startTimer(t, &t.main, &t.seq, timerTrying, t.l.cfg.TryingDelay)
		t.mu.Unlock()
	}
	return true
}

// Request returns the request that created the transaction, or nil once
// a final response has been sent or the transaction has ended: the
// transaction lets go of it then, so that the 32 s it may linger (Timers
// H, J, L) do not keep the message in memory. The layer does not change
// the request after handing the transaction to the Core.
func (t *ServerTx) Request() *sip.Message {
	if in := t.Incoming(); in != nil {
		return in.Msg
	}
	return nil
}

// Incoming returns the request with where it came from, or nil once a
// final response has been sent, as Request does.
func (t *ServerTx) Incoming() *transport.Incoming {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.in
}

// settle drops the request and the 100 Trying once a final response is
// sent or the transaction ends; what is left matches retransmissions and
// resends the final response. The transaction is no longer in flight
// then. The caller holds t.mu.
func (t *ServerTx) settle() {
	if t.in != nil {
		t.l.inflight.Add(-1)
	}
	t.in, t.trying = nil, nil
}

// Method returns the request's method.
func (t *ServerTx) Method() string { return t.method }

// Branch returns the branch of the request's top Via.
func (t *ServerTx) Branch() string { return t.branch }

// Key returns the key the transaction is matched by (§17.2.3).
func (t *ServerTx) Key() string { return t.key }

// State returns the current state.
func (t *ServerTx) State() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stateLocked()
}

// Cancelled reports whether a CANCEL for this INVITE arrived while it
// was in Proceeding (§9.2).
func (t *ServerTx) Cancelled() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cancelled
}

// OnCancel sets f to run once when a CANCEL matching this INVITE arrives
// while no final response has been sent; it runs at once if that already
// happened. It runs on the goroutine that received the CANCEL, before
// the Core sees the CANCEL's own transaction.
func (t *ServerTx) OnCancel(f func()) {
	t.mu.Lock()
	t.onCancel = f
	done := t.cancelled
	t.mu.Unlock()
	if done && f != nil {
		f()
	}
}

// OnFailure sets f to run once if the transaction fails: with ErrTimeout
// when Timer H fires with no ACK for a non-2xx final response (§17.2.1),
// or with an ErrTransport error when a response could not be sent
// (§17.2.4). It runs at once if that already happened. Set it before
// the final response: an INVITE answered non-2xx over UDP without a hook
// waits for its ACK off the heap, where no hook can run.
func (t *ServerTx) OnFailure(f func(err error)) {
	t.mu.Lock()
	t.onFailure = f
	err := t.failed
	t.mu.Unlock()
	if err != nil && f != nil {
		f(err)
	}
}

// Respond sends a response. A provisional response is remembered and
// resent on request retransmissions. A final response ends the
// transaction per §17.2: a non-2xx to an INVITE moves it to Completed,
// where it is retransmitted on UDP (Timer G) until the ACK or Timer H; a
// 2xx to an INVITE moves it to Accepted (RFC 6026), where the Core may
// send further 2xx (retransmissions, other forks) until Timer L; any
// final to a non-INVITE moves it to Completed for Timer J. resp must not
// be changed afterwards. The error is ErrFinalSent or ErrTerminated when
// the state forbids the response, ErrTransport when sending failed (the
// transaction then ends).
func (t *ServerTx) Respond(resp *sip.Message) error {
	if resp == nil || resp.IsRequest() || resp.StatusCode() < 100 || resp.StatusCode() > 699 {
		return ErrNotResponse
	}
	code := resp.StatusCode()
	var toTag string
	if t.rfc2543 && t.invite && code >= 300 {
		if to, err := resp.To(); err == nil {
			toTag = to.Tag()
		}
	}
	wire := resp.Bytes()
	t.mu.Lock()
	end, err := t.respond(code, wire, toTag)
	t.mu.Unlock()
	if err != nil {
		return err
	}
	if err := t.l.send(t.dst.Relaying(resp), wire); err != nil {
		t.fail(err)
		return err
	}
	switch {
	case end:
		t.terminate()
	case code >= 200 && (!t.invite || code < 300):
		t.park()
	case code >= 300:
		t.parkCompleted()
	}
	return nil
}

// parkCompleted moves an INVITE in Completed over UDP into the layer's
// retransmitting store, which resends its final response on Timer G,
// takes the ACK and ends it on Timer H (see retxStore). A transaction
// with an OnFailure hook stays on the heap: the store cannot call it.
// inviteFinal left the timers to it; when the store cannot take the
// transaction they start here.
func (t *ServerTx) parkCompleted() {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.l.completed
	if t.state != Completed || t.retxPark || t.main.t != nil {
		return // moved on meanwhile, or runs its timers on the heap
	}
	var buf [maxTarget]byte
	prefix, ok := t.l.targets.encode(buf[:0], t.dst)
	if !t.parksCompleted() || !ok || !s.addRetx(t.key, t.last, lingerRecord{rfc2543: t.rfc2543, sum: t.sum, prefix: prefix,
		tag: s.tagHash(t.reqToTag), resTag: s.tagHash(t.respToTag), hasRes: t.respToTag != ""}) {
		t.startCompletedTimers() // the store cannot take it: the heap's timers, from now
		return
	}
	t.retxPark = true
	t.last = nil
	t.l.servers.remove(t.key, t)
}

// park moves a transaction that only waits out Timer J (a non-INVITE
// in Completed over UDP) or Timer L (an INVITE in Accepted, RFC 6026)
// into the layer's linger store, which absorbs its retransmissions until
// then and counts its end; it leaves the table, and the ServerTx itself
// is left to the collector unless the Core keeps it to send further 2xx.
// Park runs after the final response went out, so that a send failure
// ends the transaction instead. When the store cannot take it, the timer
// runs on the heap as before.
func (t *ServerTx) park() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.parked.IsZero() || (t.state != Completed || t.invite) && t.state != Accepted {
		return // parked already, or ended meanwhile
	}
	// Completed resends its final response; Accepted absorbs INVITE
	// retransmissions without an answer, as the UAS core resends the 2xx.
	resend := t.last
	if t.invite {
		resend = nil
	}
	d := 64 * t.l.cfg.T1
	if t.l.linger == nil || !t.l.linger.add(t.key, resend, t.rfc2543, t.sum, t.l.linger.tagHash(t.reqToTag)) {
		t.l.startTimer(t, &t.main, &t.seq, timerLinger, d)
		return
	}
	t.parked = t.l.clock.Now().Add(d)
	t.last = nil
	t.l.servers.remove(t.key, t)
}

// parkConfirmed moves an INVITE in Confirmed into the layer's store for
// Timer I, which absorbs the retransmitted ACKs and INVITEs until then.
// It reports false when the store cannot take it. The caller holds t.mu.
func (t *ServerTx) parkConfirmed() bool {
	s := t.l.confirmed
	if s == nil || !s.addRecord(t.key, nil, lingerRecord{rfc2543: t.rfc2543, sum: t.sum,
		tag: s.tagHash(t.reqToTag), resTag: s.tagHash(t.respToTag), hasRes: t.respToTag != ""}) {
		return false
	}
	t.parked = t.l.clock.Now().Add(t.l.cfg.T4)
	t.last = nil
	t.l.servers.remove(t.key, t)
	return true
}

// stateLocked is the state, with a parked transaction Terminated once its
// Timer J has passed. The caller holds t.mu.
func (t *ServerTx) stateLocked() State {
	if t.retxPark && t.state == Completed {
		// The ACK, Timer H and Timer I are the stores' to see.
		switch {
		case t.l.completed.has(t.key):
			return Completed
		case t.l.confirmed.has(t.key):
			return Confirmed
		}
		t.state = Terminated
	}
	if !t.parked.IsZero() && t.state != Terminated && !t.l.clock.Now().Before(t.parked) {
		t.state = Terminated
	}
	return t.state
}

// respond moves the state machine for a response from the Core; end
// reports that the transaction ends once the response is sent. The
// caller holds t.mu.
func (t *ServerTx) respond(code int, wire []byte, toTag string) (end bool, err error) {
	switch t.stateLocked() {
	case Terminated:
		return false, ErrTerminated
	case Completed, Confirmed:
		return false, ErrFinalSent
	case Accepted:
		// RFC 6026 §8.7: 2xx from the TU in Accepted go out; nothing else.
		if code/100 == 2 {
			return false, nil
		}
		return false, ErrFinalSent
	}
	if code < 200 {
		t.state = Proceeding
		t.last = wire
		return false, nil
	}
	t.main.stop() // a delayed 100 Trying that has not gone out
	t.settle()
	if t.invite {
		t.inviteFinal(code, wire, toTag)
		return false, nil
	}
	// §17.2.2: Completed, and Timer J absorbs request retransmissions;
	// J is zero on reliable transports. On UDP, Respond parks the
	// transaction once the response is out (see park).
	t.state = Completed
	t.last = wire
	return t.reliable, nil
}

// inviteFinal handles a final response to an INVITE. The caller holds t.mu.
func (t *ServerTx) inviteFinal(code int, wire []byte, toTag string) {
	if code < 300 {
		// RFC 6026 §7.1: Accepted absorbs INVITE retransmissions until
		// Timer L; the 2xx is retransmitted by the UAS core, not here.
		t.state = Accepted
		t.last = nil
		return // Respond parks it, or starts Timer L (see park)
	}
	// §17.2.1: Completed, Timer G (UDP only) and Timer H.
	t.state = Completed
	t.last = wire
	t.respToTag = toTag
	if t.parksCompleted() {
		return // Respond parks it once the response is out, timers and all
	}
	t.startCompletedTimers()
}

// parksCompleted reports whether an INVITE in Completed will wait in the
// layer's retransmitting store, which runs Timers G and H itself: over
// UDP, without an OnFailure hook the store could not call. The caller
// holds t.mu.
func (t *ServerTx) parksCompleted() bool {
	return t.l.completed != nil && !t.reliable && t.onFailure == nil
}

// startCompletedTimers arms Timer G (UDP only) and Timer H. The caller
// holds t.mu.
func (t *ServerTx) startCompletedTimers() {
	if !t.reliable {
		t.interval = t.l.cfg.T1
		t.l.startTimer(t, &t.retx, &t.seq, timerRetransmit, t.interval)
	}
	t.l.startTimer(t, &t.main, &t.seq, timerTimeout, 64*t.l.cfg.T1)
}

// supersededBy reports whether a request that matched this transaction
// by the RFC 2543 rules is a new request rather than a retransmission:
// its bytes differ (it now carries credentials, say) and this transaction
// has sent its final response, so the client is past it. The transaction
// then ends to make room for the new one; without this the client would
// get the cached response again, forever. Until its final response a
// transaction absorbs such a request, as a retransmission.
func (t *ServerTx) supersededBy(k matchKey, method string) bool {
	if !t.rfc2543 || method == "ACK" || k.sum == t.sum {
		return false
	}
	t.mu.Lock()
	answered := t.state != Trying && t.state != Proceeding
	t.mu.Unlock()
	if answered {
		t.terminate()
	}
	return answered
}

// receive handles a request that matched this transaction.
func (t *ServerTx) receive(in *transport.Incoming, k matchKey) {
	t.mu.Lock()
	parked := t.retxPark
	t.mu.Unlock()
	if parked {
		// Found in the table just before it left: its record answers.
		method := in.Msg.Method()
		switch {
		case t.l.absorb(in, k, method):
			in.Release()
		case method == "ACK":
			t.l.core.ServeACK(in)
		}
		return
	}
	if in.Msg.Method() == "ACK" {
		t.receiveACK(in, k.toTag)
		return
	}
	if t.rfc2543 && k.toTag != t.reqToTag {
		t.l.log.Debug("transaction: RFC 2543 request with a different To tag dropped", "key", t.key)
		in.Release()
		return
	}
	// A retransmission: §17.2.1 and §17.2.2 resend the latest response in
	// Proceeding and Completed; Trying, Confirmed and Accepted absorb it.
	// Either way the transaction keeps its first copy, not this one.
	in.Release()
	t.mu.Lock()
	var resend []byte
	if t.state == Proceeding || t.state == Completed {
		resend = t.last
	}
	t.mu.Unlock()
	if resend != nil {
		t.sendOrFail(resend)
	}
}

// receiveACK handles an ACK matching this INVITE transaction. The ACK for
// a non-2xx final response ends the retransmissions (§17.2.1) and is
// absorbed; one in Accepted is for a 2xx and goes to the Core (RFC 6026
// §7.1).
func (t *ServerTx) receiveACK(in *transport.Incoming, toTag string) {
	t.mu.Lock()
	if t.rfc2543 && t.respToTag != "" && toTag != t.respToTag {
		t.mu.Unlock()
		t.l.core.ServeACK(in) // acknowledges some other response
		return
	}
	switch t.state {
	case Completed:
		t.state = Confirmed
		t.retx.stop()
		t.main.stop()
		if t.reliable { // Timer I is zero on reliable transports
			t.mu.Unlock()
			t.terminate()
			in.Release()
			return
		}
		if !t.parkConfirmed() {
			t.l.startTimer(t, &t.main, &t.seq, timerLinger, t.l.cfg.T4)
		}
	case Accepted, Terminated:
		t.mu.Unlock()
		t.l.core.ServeACK(in)
		return
	}
	// Confirmed: a retransmitted ACK, absorbed until Timer I. Proceeding:
	// an ACK before any final response acknowledges nothing. Completed:
	// absorbed, as every ACK for a non-2xx is.
	t.mu.Unlock()
	in.Release()
}

// onTimer runs an expiry on the clock's goroutine.
func (t *ServerTx) onTimer(kind timerKind, id uint32) {
	t.mu.Lock()
	slot := slotFor(kind, &t.retx, &t.main)
	if slot.id != id {
		t.mu.Unlock() // stopped after it fell due
		return
	}
	slot.t, slot.id = nil, 0
	switch kind {
	case timerRetransmit:
		t.timerG()
	case timerTrying:
		t.timerTrying()
	case timerTimeout:
		// Timer H: the ACK never came (§17.2.1).
		ended := t.endLocked(ErrTimeout)
		t.mu.Unlock()
		t.ended(ended)
	default:
		// Timers I, J and L: the wait for retransmissions is over.
		ended := t.endLocked(nil)
		t.mu.Unlock()
		t.ended(ended)
	}
}

// timerG resends the non-2xx final response and doubles the interval up
// to T2 (§17.2.1). The caller holds t.mu; timerG releases it.
func (t *ServerTx) timerG() {
	if t.state != Completed {
		t.mu.Unlock()
		return
	}
	resend := t.last
	t.interval = min(2*t.interval, t.l.cfg.T2)
	t.l.startTimer(t, &t.retx, &t.seq, timerRetransmit, t.interval)
	t.mu.Unlock()
	t.sendOrFail(resend)
}

// timerTrying sends the delayed 100 Trying unless the Core has answered.
// The caller holds t.mu; timerTrying releases it.
func (t *ServerTx) timerTrying() {
	if t.state != Proceeding || t.last != nil {
		t.mu.Unlock()
		return
	}
	t.last = t.trying
	t.mu.Unlock()
	t.sendOrFail(t.trying)
}

func (t *ServerTx) sendOrFail(b []byte) {
	if err := t.l.send(t.dst, b); err != nil {
		t.fail(err)
	}
}

// cancel marks an INVITE in Proceeding as cancelled and runs its hook.
func (t *ServerTx) cancel() {
	t.mu.Lock()
	if t.state != Proceeding || t.cancelled {
		t.mu.Unlock()
		return
	}
	t.cancelled = true
	f := t.onCancel
	t.mu.Unlock()
	if f != nil {
		f()
	}
}

// fail ends the transaction and tells the Core why.
func (t *ServerTx) fail(err error) {
	t.mu.Lock()
	ended := t.endLocked(err)
	t.mu.Unlock()
	t.ended(ended)
}

// Terminate ends the transaction without a response. It is for a request
// the Core drops because it cannot be answered at all (§8.2 leaves it no
// response to copy); any other request must be answered, or its
// transaction would hold its place until the process ends.
func (t *ServerTx) Terminate() { t.terminate() }

func (t *ServerTx) terminate() {
	t.mu.Lock()
	ended := t.endLocked(nil)
	t.mu.Unlock()
	t.ended(ended)
}

// endLocked moves to Terminated and returns what ended must do; ok is
// false when the transaction had already ended. The caller holds t.mu.
func (t *ServerTx) endLocked(err error) serverEnd {
	if t.stateLocked() == Terminated {
		return serverEnd{}
	}
	if t.retxPark && !t.l.completed.remove(t.key) {
		t.l.confirmed.remove(t.key)
	}
	t.state = Terminated
	t.retx.stop()
	t.main.stop()
	t.last = nil
	t.settle()
	e := serverEnd{ok: true, err: err}
	if err != nil {
		t.failed = err
		e.hook = t.onFailure
	}
	return e
}

type serverEnd struct {
	ok   bool
	err  error
	hook func(error)
}

// ended finishes what endLocked started, without the lock: the table
// entry goes, and the Core hears of a failure.
func (t *ServerTx) ended(e serverEnd) {
	if !e.ok {
		return
	}
	t.l.removeServer(t)
	if e.err != nil {
		t.l.log.Debug("transaction: server transaction failed", "key", t.key, "method", t.method, "err", e.err)
		if e.hook != nil {
			e.hook(e.err)
		}
	}
}
