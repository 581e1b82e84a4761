package transaction

import (
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// Core is the transaction user: the proxy core above the layer. Its
// methods are called on the goroutine that delivered the message (a
// transport reader) with no lock held, and must not block for long.
type Core interface {
	// ServeRequest receives each request that started a new server
	// transaction: every method but ACK, CANCEL included (the Core
	// answers it and uses FindInviteForCancel, §9.2, §16.10).
	ServeRequest(tx *ServerTx, in *transport.Incoming)
	// ServeACK receives an ACK that matches no server transaction, or
	// one in RFC 6026's Accepted state: the ACK for a 2xx, which has a
	// branch of its own, is end to end (§13.2.2.4, §17.2.3), and which a
	// proxy forwards statelessly. The ACK for a non-2xx final response is
	// absorbed by its INVITE server transaction and never comes here.
	ServeACK(in *transport.Incoming)
	// ServeStrayResponse receives a response that matches no live client
	// transaction (§17.1.3, §16.7 "responses with no matching context"),
	// such as a 2xx retransmission after Timer M ended the transaction; a
	// proxy forwards a 2xx statelessly and drops the rest.
	ServeStrayResponse(in *transport.Incoming)
}

// Layer is the transaction layer: it matches messages to transactions,
// creates server transactions for new requests and client transactions
// for the requests the Core sends, and runs their timers. It implements
// transport.Handler and is safe for concurrent use.
type Layer struct {
	cfg    Config
	clock  clock.Clock
	log    *slog.Logger
	sender transport.Sender
	core   Core

	servers   *table[*ServerTx]
	clients   *table[*ClientTx]
	linger    *lingerStore // server transactions waiting out Timer J or L, off the heap
	confirmed *lingerStore // INVITE server transactions waiting out Timer I
	completed *retxStore   // INVITE server transactions in Completed over UDP: Timers G and H
	clientK   *lingerStore // non-INVITE client transactions waiting out Timer K
	clientD   *lingerStore // INVITE client transactions waiting out Timer D
	targets   targetCodec  // where clientD's ACKs go, without pointers
	inflight  atomic.Int64 // transactions awaiting a final response, for the bound
	tag       string       // To tag of responses the layer makes itself

	serverCreated, serverTerminated atomic.Uint64
	clientCreated, clientTerminated atomic.Uint64
	rejected                        atomic.Uint64
	overloaded                      atomic.Bool // logs the edges, not every 503
	retryAfter                      string
}

// Stats counts transactions.
type Stats struct {
	ServerActive, ClientActive      int64  // live now, lingering ones included
	InFlight                        int64  // live and still without a final response: what MaxTransactions bounds
	ServerCreated, ServerTerminated uint64 // since New
	ClientCreated, ClientTerminated uint64
	Rejected                        uint64 // requests answered 503 past MaxTransactions, MaxInFlight or MemoryFull
	// Lingering counts the completed server and client transactions
	// kept in the pointer-free stores (included in ServerActive and
	// ClientActive), and LingerBytes the memory those stores hold.
	Lingering, LingerBytes int64
}

// New returns a layer that sends through sender and hands requests and
// stray messages to core.
func New(cfg Config, sender transport.Sender, core Core) *Layer {
	cfg = cfg.withDefaults()
	l := &Layer{
		cfg:        cfg,
		clock:      cfg.Clock,
		log:        cfg.Logger,
		sender:     sender,
		core:       core,
		servers:    newTable[*ServerTx](),
		clients:    newTable[*ClientTx](),
		tag:        randomToken(5),
		retryAfter: strconv.Itoa(int((cfg.RetryAfter + time.Second - 1) / time.Second)),
	}
	if !cfg.heapLinger {
		ended := func(n int) { l.serverTerminated.Add(uint64(n)) }
		l.linger = newLingerStore(cfg.Clock, 64*cfg.T1, ended)
		l.confirmed = newLingerStore(cfg.Clock, cfg.T4, ended)
		l.completed = newRetxStore(cfg.Clock, cfg.T1, cfg.T2, ended, l.retransmit)
		// An ACKed record moves to confirmed with its tag hashes.
		l.completed.seed = l.confirmed.seed
		clientEnded := func(n int) { l.clientTerminated.Add(uint64(n)) }
		l.clientK = newLingerStore(cfg.Clock, cfg.T4, clientEnded)
		l.clientD = newLingerStore(cfg.Clock, cfg.TimerD, clientEnded)
	}
	return l
}

// Stats returns the layer's counters.
func (l *Layer) Stats() Stats {
	st := Stats{
		ServerTerminated: l.serverTerminated.Load(),
		ClientTerminated: l.clientTerminated.Load(),
		Rejected:         l.rejected.Load(),
		InFlight:         l.inflight.Load(),
	}
	// Terminated is read first, so a transaction that ends meanwhile
	// cannot make Active negative.
	st.ServerCreated = l.serverCreated.Load()
	st.ClientCreated = l.clientCreated.Load()
	st.ServerActive = int64(st.ServerCreated - st.ServerTerminated)
	st.ClientActive = int64(st.ClientCreated - st.ClientTerminated)
	if l.linger != nil {
		for _, s := range []*lingerStore{l.linger, l.confirmed, l.completed.lingerStore, l.clientK, l.clientD} {
			st.Lingering += s.count.Load()
			st.LingerBytes += s.bytes.Load()
		}
	}
	return st
}

// HandleMessage takes every message the transport reads.
func (l *Layer) HandleMessage(in *transport.Incoming) {
	if in == nil || in.Msg == nil {
		return
	}
	if in.Msg.IsRequest() {
		l.handleRequest(in)
	} else {
		l.handleResponse(in)
	}
}

// handleRequest matches a request to a server transaction (§17.2.3) or
// starts one.
func (l *Layer) handleRequest(in *transport.Incoming) {
	method := in.Msg.Method()
	k, err := serverKey(in.Msg, method)
	if err != nil {
		// Without a Via (and, for RFC 2543 clients, the dialog headers)
		// there is nothing to match on and nowhere to answer.
		l.log.Debug("transaction: request dropped", "method", method, "source", in.Source, "err", err)
		in.Release()
		return
	}
	if tx := l.servers.get(k.key); tx != nil && !tx.supersededBy(k, method) {
		tx.receive(in, k)
		return
	}
	if l.absorb(in, k, method) {
		in.Release()
		return
	}
	if method == "ACK" {
		l.core.ServeACK(in)
		return
	}
	if !in.Msg.Answerable() {
		// Nothing for a response to copy (§8.2.6.2), so no transaction:
		// not even a 100 Trying goes out for a request that will get no
		// final response.
		l.log.Debug("transaction: unanswerable request dropped", "method", method, "source", in.Source)
		in.Release()
		return
	}
	l.startServer(in, k)
}

// startServer creates the server transaction for a new request and hands
// it to the Core.
func (l *Layer) startServer(in *transport.Incoming, k matchKey) {
	var invite *ServerTx
	if in.Msg.Method() == "CANCEL" {
		// A CANCEL for a live INVITE is admitted past the bound: it ends
		// work already in flight.
		invite = l.FindInviteForCancel(in.Msg)
	}
	if invite == nil {
		if ok, reason := l.admit(); !ok {
			l.reject(in, reason)
			return
		}
	}
	if invite != nil {
		l.inflight.Add(1)
	}
	tx := newServerTx(l, in, k)
	if other, ok := l.servers.insert(k.key, tx); !ok {
		// Another reader made it first: this copy is a retransmission.
		l.inflight.Add(-1)
		other.receive(in, k)
		return
	}
	l.serverCreated.Add(1)
	if !tx.start() {
		return // the 100 Trying could not be sent: nowhere to answer
	}
	if invite != nil {
		invite.cancel()
	}
	l.core.ServeRequest(tx, in)
}

// admit counts a new transaction unless a bound is reached: the
// transactions in flight (MaxInFlight), or every live transaction,
// lingering ones included (MaxTransactions), or the live heap near the
// memory limit (MemoryFull). reason is the 503's reason
// phrase when it refuses.
func (l *Layer) admit() (ok bool, reason string) {
	n := l.inflight.Add(1)
	switch {
	case l.cfg.MaxInFlight >= 0 && n > int64(l.cfg.MaxInFlight):
		reason = reasonInFlight
	case l.cfg.MaxTransactions >= 0 && l.live() >= int64(l.cfg.MaxTransactions):
		reason = reasonTotal
	case l.cfg.MemoryFull != nil && l.cfg.MemoryFull():
		reason = reasonMemory
	default:
		if l.overloaded.Load() && l.overloaded.CompareAndSwap(true, false) {
			l.log.Info("transaction: below the bounds again, admitting new requests", "in_flight", n, "live", l.live())
		}
		return true, ""
	}
	l.inflight.Add(-1)
	if l.overloaded.CompareAndSwap(false, true) {
		l.log.Warn("transaction: bound reached, answering new requests 503", "reason", reason,
			"max_in_flight", l.cfg.MaxInFlight, "max_transactions", l.cfg.MaxTransactions)
	}
	return false, reason
}

// The reason phrases of the 503 past each bound, so that a peer's log
// says which one it met.
const (
	reasonInFlight = "Too Many Requests In Progress"
	reasonTotal    = "Too Many Transactions"
	reasonMemory   = "Too Much Memory In Use"
)

// live counts the server and client transactions alive now, lingering
// ones included; terminated is read first so that the count cannot go
// below zero.
func (l *Layer) live() int64 {
	st := l.serverTerminated.Load() + l.clientTerminated.Load()
	return int64(l.serverCreated.Load() + l.clientCreated.Load() - st)
}

// reject answers a request statelessly with 503 and Retry-After: the
// server is overloaded (§21.5.4) and keeps no state for it, nor the
// request.
func (l *Layer) reject(in *transport.Incoming, reason string) {
	l.rejected.Add(1)
	in.Release()
	if !in.Msg.Answerable() {
		return
	}
	resp := sip.NewResponse(in.Msg, 503, reason, l.tag, "Retry-After", l.retryAfter)
	if err := l.sender.Send(transport.ResponseTarget(in), resp.Bytes()); err != nil {
		l.log.Debug("transaction: sending 503 failed", "err", err)
	}
}

// absorb answers a retransmitted request whose transaction waits in a
// linger store: with the final response again, to where this copy came
// from, as §17.2.2's Completed state does; or without an answer, for an
// INVITE in Accepted (Timer L, RFC 6026 §7.1) or Confirmed (Timer I,
// §17.2.1), where an ACK is absorbed too. An ACK for a transaction in
// Accepted is not absorbed: it goes to the Core. absorb reports false
// when no record matches, or when an RFC 2543 client's request with the
// same key but other bytes supersedes the record (see supersededBy).
func (l *Layer) absorb(in *transport.Incoming, k matchKey, method string) bool {
	if method == "ACK" {
		return l.ackCompleted(k) || l.absorbIn(l.confirmed, in, k, true)
	}
	return l.absorbIn(l.linger, in, k, false) || l.absorbIn(l.completedStore(), in, k, false) ||
		l.absorbIn(l.confirmed, in, k, false)
}

func (l *Layer) absorbIn(s *lingerStore, in *transport.Incoming, k matchKey, ack bool) bool {
	if s == nil || s.count.Load() == 0 {
		return false
	}
	var rec lingerRecord
	if !s.lookup(k.key, &rec) {
		return false
	}
	switch {
	case ack:
		// An RFC 2543 ACK with another To tag acknowledges some other
		// response (§17.2.3): the Core's.
		return !rec.rfc2543 || !rec.hasRes || rec.resTag == s.tagHash(k.toTag)
	case rec.rfc2543 && rec.sum != k.sum:
		s.remove(k.key)
		return false
	case rec.rfc2543 && rec.tag != s.tagHash(k.toTag):
		l.log.Debug("transaction: RFC 2543 request with a different To tag dropped", "key", k.key)
		return true
	case len(rec.resp) == 0:
		return true // Accepted or Confirmed: nothing to resend
	}
	dst, resp := transport.ResponseTarget(in), rec.resp
	if s == l.completedStore() {
		// §17.2.1 resends to where the final response went, as Timer G does.
		var ok bool
		if dst, resp, ok = l.targets.decode(rec.resp); !ok {
			return true
		}
	}
	if err := l.sender.Send(dst, resp); err != nil {
		l.log.Debug("transaction: resending a final response failed", "err", err)
	}
	return true
}

// handleResponse hands a response to its client transaction (§17.1.3)
// or, when none is live, to the Core.
func (l *Layer) handleResponse(in *transport.Incoming) {
	key, err := responseKey(in.Msg)
	if err != nil {
		l.log.Debug("transaction: response dropped", "source", in.Source, "err", err)
		in.Release()
		return
	}
	if c := l.clients.get(key); c != nil && c.receive(in) {
		return
	}
	if l.absorbResponse(in, key) {
		in.Release()
		return
	}
	l.core.ServeStrayResponse(in)
}

// FindInviteForCancel returns the INVITE server transaction that a CANCEL
// request cancels, or nil. It matches as §9.2 says: by the CANCEL's own
// branch and sent-by with method INVITE, or for a branch without the
// magic cookie by the RFC 2543 fields, whose To tag must then equal the
// INVITE's. An INVITE that has its final response over UDP is no longer
// found: it waits in a linger store (Accepted, Completed, Confirmed), and
// a CANCEL could not change it anyway (§9.2).
func (l *Layer) FindInviteForCancel(cancel *sip.Message) *ServerTx {
	k, err := serverKey(cancel, "INVITE")
	if err != nil {
		return nil
	}
	tx := l.servers.get(k.key)
	if tx == nil || (k.rfc2543 && k.toTag != tx.reqToTag) {
		return nil
	}
	return tx
}

// send hands b to the transport, wrapping its error in ErrTransport.
func (l *Layer) send(dst transport.Target, b []byte) error {
	if err := l.sender.Send(dst, b); err != nil {
		return fmt.Errorf("%w: %w", ErrTransport, err)
	}
	return nil
}

func (l *Layer) removeServer(tx *ServerTx) {
	if l.servers.remove(tx.key, tx) {
		l.serverTerminated.Add(1)
	}
}

func (l *Layer) removeClient(c *ClientTx) {
	if l.clients.remove(c.key, c) {
		l.clientTerminated.Add(1)
	}
}

// timerKind names what an expiry does; kinds share two slots per
// transaction (see timerSlot).
type timerKind uint8

const (
	timerRetransmit timerKind = iota // A, E, G: in the retransmit slot
	timerTimeout                     // B, F, H
	timerLinger                      // D, I, J, K, L, M: end of a wait state
	timerTrying                      // the delayed 100 Trying
)

// timerSlot holds one pending timer. A transaction needs at most two at
// once: a retransmission timer (A, E, G) and a timeout or linger timer
// (B, F, H or D, I, J, K, L, M). id lets an expiry that was already on
// its way when the timer was stopped recognise itself as stale.
type timerSlot struct {
	t  clock.Timer
	id uint32
}

func (s *timerSlot) stop() {
	if s.t != nil {
		s.t.Stop()
		s.t = nil
	}
	s.id = 0
}

// timed is a transaction whose timers call back into it.
type timed interface {
	onTimer(kind timerKind, id uint32)
}

// startTimer (re)arms slot to call tx.onTimer(kind, id) after d. The
// caller holds tx's lock; seq is tx's timer counter.
func (l *Layer) startTimer(tx timed, slot *timerSlot, seq *uint32, kind timerKind, d time.Duration) {
	slot.stop()
	*seq++
	id := *seq
	slot.id = id
	slot.t = l.clock.AfterFunc(d, func() { tx.onTimer(kind, id) })
}

// slotFor returns which slot a timer kind lives in.
func slotFor(kind timerKind, retx, main *timerSlot) *timerSlot {
	if kind == timerRetransmit {
		return retx
	}
	return main
}
