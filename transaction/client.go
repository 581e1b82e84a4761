package transaction

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// ResponseFunc receives the responses of a client transaction. err is
// nil for a response that came from the network. For a response the
// layer made itself it says why: ErrTimeout with a local 408 Request
// Timeout (Timer B or F, §17.1.1.2, §17.1.2.2) or an ErrTransport error
// with a local 503 Service Unavailable (§17.1.4; §16.9 has a proxy treat
// it like a received 503). Both carry the request's Via, as a received
// response would. A ResponseFunc runs on a transport reader or the
// clock's goroutine with no lock held, and must not block for long.
type ResponseFunc func(resp *sip.Message, err error)

// ClientTx is a client transaction (§17.1): it sends a request,
// retransmits it on UDP, hands the responses to its ResponseFunc, ACKs a
// non-2xx final response to an INVITE itself, and times out. Its methods
// are safe for concurrent use.
type ClientTx struct {
	l          *Layer
	key        string
	branch     string
	method     string
	invite     bool
	reliable   bool
	req        *sip.Message
	wire       []byte // the request as sent; never changed
	dst        transport.Target
	onResponse ResponseFunc

	mu       sync.Mutex
	state    State
	ack      []byte // the ACK for a non-2xx final response, resent on its retransmissions
	retx     timerSlot
	main     timerSlot
	seq      uint32
	interval time.Duration // Timer A's or E's current value
	parked   time.Time     // when set, the transaction lives on in a linger store until then
}

// Request starts a client transaction: it sends req to dst and passes
// each response to onResponse (which may be nil). req must carry its top
// Via with a fresh RFC 3261 branch (NewBranch) and must not be changed
// afterwards. An ACK is not a transaction (§17.1.1.3); send it with the
// transport directly. When the first send fails, Request returns an
// ErrTransport error, ends the transaction and never calls onResponse.
func (l *Layer) Request(req *sip.Message, dst transport.Target, onResponse ResponseFunc) (*ClientTx, error) {
	c, err := l.newClient(req, dst, onResponse)
	if err != nil {
		return nil, err
	}
	wire := c.wire // c.wire goes with a final response, which may come before send returns
	if l.lingering(c.key, c.invite) {
		return nil, ErrDuplicate
	}
	l.inflight.Add(1)
	if _, ok := l.clients.insert(c.key, c); !ok {
		l.inflight.Add(-1)
		return nil, ErrDuplicate
	}
	l.clientCreated.Add(1)
	c.mu.Lock()
	c.startTimers()
	c.mu.Unlock()
	if err := l.send(dst.Relaying(req), wire); err != nil {
		c.Terminate()
		return nil, err
	}
	return c, nil
}

func (l *Layer) newClient(req *sip.Message, dst transport.Target, onResponse ResponseFunc) (*ClientTx, error) {
	if req == nil || !req.IsRequest() || req.Method() == "ACK" {
		return nil, ErrBadRequest
	}
	v, err := req.TopVia()
	if err != nil || !strings.HasPrefix(v.Branch(), sip.MagicCookie) {
		return nil, ErrBadRequest
	}
	if onResponse == nil {
		onResponse = func(*sip.Message, error) {}
	}
	branch, method := v.Branch(), req.Method()
	key := clientKey(branch, method)
	c := &ClientTx{
		// branch and method are cut from key, not from req: they live
		// as long as the transaction, req's bytes only until the final.
		l: l, key: key, branch: key[:len(branch)], method: key[len(branch)+1:],
		invite:   method == "INVITE",
		reliable: dst.Proto.Reliable(),
		req:      req,
		wire:     req.Bytes(),
		dst:      dst,
		state:    Trying,

		onResponse: onResponse,
	}
	if c.invite {
		c.state = Calling
	}
	return c, nil
}

// startTimers arms A or E (UDP only) and B or F (§17.1.1.2, §17.1.2.2).
// The caller holds c.mu.
func (c *ClientTx) startTimers() {
	if !c.reliable {
		c.interval = c.l.cfg.T1
		c.l.startTimer(c, &c.retx, &c.seq, timerRetransmit, c.interval)
	}
	c.l.startTimer(c, &c.main, &c.seq, timerTimeout, 64*c.l.cfg.T1)
}

// Request returns the request as the TU passed it, or nil once a final
// response has arrived or the transaction has ended: the transaction lets
// go of it then, so that the 32 s it may linger (Timers D, K, M) do not
// keep the message in memory.
func (c *ClientTx) Request() *sip.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.req
}

// settle drops the request once nothing will resend it or answer for
// it: after a final response or the end. The transaction is no longer in
// flight then. The caller holds c.mu.
func (c *ClientTx) settle() {
	if c.req != nil {
		c.l.inflight.Add(-1)
	}
	c.req, c.wire = nil, nil
}

// Method returns the request's method.
func (c *ClientTx) Method() string { return c.method }

// Branch returns the branch of the request's top Via.
func (c *ClientTx) Branch() string { return c.branch }

// Key returns the key responses are matched by (§17.1.3).
func (c *ClientTx) Key() string { return c.key }

// Target returns where the request went.
func (c *ClientTx) Target() transport.Target { return c.dst }

// State returns the current state.
func (c *ClientTx) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stateLocked()
}

// Terminate ends the transaction at once: no more retransmissions,
// timers or responses. A proxy uses it when it gives up on a branch.
func (c *ClientTx) Terminate() {
	c.mu.Lock()
	ended := c.endLocked()
	c.mu.Unlock()
	if ended {
		c.l.removeClient(c)
	}
}

// endLocked moves to Terminated; the caller holds c.mu and, when it
// returns true, calls removeClient after unlocking.
func (c *ClientTx) endLocked() bool {
	if c.stateLocked() == Terminated {
		return false
	}
	c.unpark()
	c.state = Terminated
	c.retx.stop()
	c.main.stop()
	c.ack = nil
	c.settle()
	return true
}

// reaction is what a response makes the transaction do once unlocked.
type reaction struct {
	deliver bool   // pass the response to the TU
	ack     []byte // send this ACK
	end     bool   // terminate (reliable transports: D and K are zero)
}

// receive handles a response matched to this transaction. It reports
// false when the transaction has ended, so the layer treats the
// response as stray.
func (c *ClientTx) receive(in *transport.Incoming) bool {
	resp := in.Msg
	code := resp.StatusCode()
	c.mu.Lock()
	if c.stateLocked() == Terminated {
		c.mu.Unlock()
		return false
	}
	if !c.parked.IsZero() {
		// Parked while this response was on its way: its record answers.
		c.mu.Unlock()
		if !c.l.absorbResponse(in, c.key) {
			return false
		}
		in.Release()
		return true
	}
	var r reaction
	if c.invite {
		r = c.inviteResponse(code, resp)
	} else {
		r = c.nonInviteResponse(code)
	}
	c.mu.Unlock()
	if r.ack != nil {
		if err := c.l.send(c.dst, r.ack); err != nil {
			// The TU has its final response already; there is no one
			// left to tell (§17.1.1.2 Completed, transport error).
			c.l.log.Debug("transaction: sending ACK failed", "key", c.key, "err", err)
			r.end = true
		}
	}
	if r.end {
		c.Terminate()
	}
	if r.deliver {
		c.onResponse(resp, nil) // the TU's now: it may keep it
	} else {
		in.Release() // absorbed: a retransmission, or nothing for the TU
	}
	return true
}

// inviteResponse is the INVITE client state machine (§17.1.1.2, figure
// 5, with RFC 6026 §8.4's Accepted). The caller holds c.mu.
func (c *ClientTx) inviteResponse(code int, resp *sip.Message) reaction {
	switch c.state {
	case Calling, Proceeding:
		// Any response ends the retransmissions, and Timer B applies in
		// Calling only: once a provisional arrives, how long to wait is
		// the TU's choice (a proxy's Timer C, §16.8).
		c.retx.stop()
		c.main.stop()
		switch {
		case code < 200:
			c.state = Proceeding
			return reaction{deliver: true}
		case code < 300:
			c.state = Accepted
			c.settle()
			c.l.startTimer(c, &c.main, &c.seq, timerLinger, 64*c.l.cfg.T1) // Timer M
			return reaction{deliver: true}
		}
		c.state = Completed
		c.ack = c.buildACK(resp)
		c.settle()
		if c.reliable {
			return reaction{deliver: true, ack: c.ack, end: true}
		}
		ack := c.ack
		if !c.park() {
			c.l.startTimer(c, &c.main, &c.seq, timerLinger, c.l.cfg.TimerD)
		}
		return reaction{deliver: true, ack: ack}
	case Completed:
		if code >= 300 { // a retransmitted final response: ACK it again
			return reaction{ack: c.ack}
		}
	case Accepted:
		if code/100 == 2 { // RFC 6026 §8.4: further 2xx go to the TU
			return reaction{deliver: true}
		}
	}
	return reaction{}
}

// nonInviteResponse is the non-INVITE client state machine (§17.1.2.2,
// figure 6). The caller holds c.mu.
func (c *ClientTx) nonInviteResponse(code int) reaction {
	if c.state != Trying && c.state != Proceeding {
		return reaction{} // Completed absorbs retransmitted finals
	}
	if code < 200 {
		c.state = Proceeding // Timer E keeps running, now every T2
		return reaction{deliver: true}
	}
	c.state = Completed
	c.retx.stop()
	c.main.stop()
	c.settle()
	if c.reliable {
		return reaction{deliver: true, end: true}
	}
	if !c.park() {
		c.l.startTimer(c, &c.main, &c.seq, timerLinger, c.l.cfg.T4) // Timer K
	}
	return reaction{deliver: true}
}

// buildACK makes the ACK for a non-2xx final response as §17.1.1.3 says:
// Request-URI, Call-ID, From, CSeq number and the single top Via of the
// request, the To of the response, and the request's Route headers. It
// parses a private copy of the request, since the TU may be reading its
// own. The caller holds c.mu.
func (c *ClientTx) buildACK(resp *sip.Message) []byte {
	req, err := sip.Limits{}.Parse(c.wire)
	if err != nil {
		return nil
	}
	v, _ := req.TopVia()
	cseq, _ := req.CSeq()
	b := sip.NewRequestBuilder("ACK", req.RequestURI()).
		Header("Via", v.String()).
		Copy(req, sip.HRoute).
		Header("Max-Forwards", "70").
		Copy(req, sip.HFrom).
		Header("To", resp.Header("To")).
		Copy(req, sip.HCallID).
		Header("CSeq", strconv.FormatUint(uint64(cseq.Seq), 10)+" ACK")
	ack, err := b.Message("", nil)
	if err != nil {
		return nil
	}
	return ack.Bytes()
}

// onTimer runs an expiry on the clock's goroutine.
func (c *ClientTx) onTimer(kind timerKind, id uint32) {
	c.mu.Lock()
	slot := slotFor(kind, &c.retx, &c.main)
	if slot.id != id {
		c.mu.Unlock() // stopped after it fell due
		return
	}
	slot.t, slot.id = nil, 0
	switch kind {
	case timerRetransmit:
		c.retransmit()
	case timerTimeout:
		c.failLocked(ErrTimeout) // Timer B or F
	default:
		ended := c.endLocked() // Timers D, K and M
		c.mu.Unlock()
		if ended {
			c.l.removeClient(c)
		}
	}
}

// retransmit resends the request on Timer A or E and rearms it: A doubles
// for as long as the INVITE is Calling (§17.1.1.2); E doubles up to T2
// in Trying and stays at T2 in Proceeding (§17.1.2.2). The caller holds
// c.mu; retransmit releases it.
func (c *ClientTx) retransmit() {
	switch {
	case c.invite && c.state == Calling:
		c.interval *= 2
	case !c.invite && c.state == Trying:
		c.interval = min(2*c.interval, c.l.cfg.T2)
	case !c.invite && c.state == Proceeding:
		c.interval = c.l.cfg.T2
	default:
		c.mu.Unlock()
		return
	}
	c.l.startTimer(c, &c.retx, &c.seq, timerRetransmit, c.interval)
	wire := c.wire
	c.mu.Unlock()
	if err := c.l.send(c.dst, wire); err != nil {
		c.mu.Lock()
		c.failLocked(err)
	}
}

// failLocked ends a transaction whose TU has no final response yet and
// hands it a local 408 or 503. The caller holds c.mu; failLocked
// releases it.
func (c *ClientTx) failLocked(err error) {
	pending := c.state == Calling || c.state == Trying || c.state == Proceeding
	wire := c.wire
	if !pending || !c.endLocked() {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.l.removeClient(c)
	code := 503
	if errors.Is(err, ErrTimeout) {
		code = 408
	}
	c.l.log.Debug("transaction: client transaction failed", "key", c.key, "err", err)
	c.onResponse(c.localResponse(wire, code), err)
}

// localResponse makes the 408 or 503 a failed transaction hands its TU,
// from a private copy of the request (§8.2.6.2 fields: Via, From, To
// with a tag, Call-ID, CSeq).
func (c *ClientTx) localResponse(wire []byte, code int) *sip.Message {
	req, err := sip.Limits{}.Parse(wire)
	if err != nil {
		resp, _ := sip.NewResponseBuilder(code, "").Message("", nil)
		return resp
	}
	return sip.NewResponse(req, code, "", c.l.tag)
}
