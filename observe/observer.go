package observe

import (
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Config configures an Observer.
type Config struct {
	// CaptureMessages and CaptureBytes bound the ring of recent messages
	// by count and by bytes of text; a zero in either keeps none.
	CaptureMessages int
	CaptureBytes    int // see CaptureMessages
	// MaxCalls bounds the active calls tracked; 0 means 10000.
	MaxCalls int
	// Sources read other layers' counters for /metrics.
	Sources Sources
	// Export, when set, is called on the worker goroutine with every
	// captured message, in capture order (the HEP exporter). It must not
	// keep m.
	Export func(m *Message)
	// QueueSize is how many captured messages may wait for the worker;
	// past it, messages skip the worker and are counted. 0 means 8192.
	QueueSize int
	// OnCall, when set, is called on the worker goroutine when a call
	// starts, is answered and ends, with the call as it is then (the
	// status, reason and times that a call log needs). It must not block
	// for long.
	OnCall func(change CallChange, c Call)
	// Owned, when set, is the layer that holds some calls itself (the
	// B2BUA): the tracker lets go of those (Disown), their owner reports
	// their steps (Report), and Calls, Stats and /metrics count them
	// from Owned beside the tracked ones.
	Owned OwnedCalls
	// CallsOnly says nothing reads the capture: no ring, no export, no
	// /metrics, no live stream; only the call tracker (OnCall, Calls)
	// matters. Capture then drops, before copying it, every message that
	// cannot change a call, and counts and times nothing. A ring
	// (CaptureMessages) or an Export turns it off.
	CallsOnly bool
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now; tests set it.
	Now func() time.Time
}

// OwnedCalls lists the calls a layer holds itself, for Config.Owned.
type OwnedCalls interface {
	// Calls returns the calls in progress.
	Calls() []Call
	// Count returns how many are being set up and how many answered,
	// cheaply: /metrics asks on every scrape.
	Count() (setup, answered int)
}

// Observer captures messages and serves what is derived from them. Its
// methods are safe for concurrent use.
type Observer struct {
	cfg     Config
	metrics *Metrics
	calls   *tracker
	events  *hub
	latency *latency // the worker's alone

	mu   sync.Mutex // orders seq, ring and queue: see Capture
	seq  uint64
	ring *ring

	work    chan item
	wake    *time.Timer // fires the worker for what queued: see nudge
	idle    atomic.Bool // the worker waits with wake unarmed
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
	started atomic.Bool
}

// gather is how long captured messages wait for the worker once the first
// of them is queued. Waking it per message costs a goroutine handoff and
// often a thread wake for each of the 28 or so messages of a call, more
// than the worker's own work at moderate rates; a few milliseconds late
// changes no figure, as every message carries its capture time.
const gather = 2 * time.Millisecond

// item is a queued message, or a flush marker (done set).
type item struct {
	m    Message
	done chan struct{}
	own  *ownedStep // a call's owner took it, or reports a step of it
}

// ownedStep is Disown's or Report's request: with no change, the call
// with callID leaves the tracker; with one, c's step is announced.
type ownedStep struct {
	callID string
	change CallChange
	c      Call
}

// New returns an Observer; Start runs its worker.
func New(cfg Config) *Observer {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 8192
	}
	ringSize := cfg.CaptureMessages
	if cfg.CaptureBytes <= 0 {
		ringSize = 0
	}
	// Whoever reads the ring or the export reads every message.
	cfg.CallsOnly = cfg.CallsOnly && ringSize == 0 && cfg.Export == nil
	o := &Observer{
		cfg:     cfg,
		calls:   newTracker(cfg.MaxCalls),
		events:  newHub(),
		latency: newLatency(),
		ring:    newRing(ringSize, cfg.CaptureBytes),
		work:    make(chan item, cfg.QueueSize),
		wake:    time.NewTimer(time.Hour),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	o.wake.Stop()
	o.metrics = newMetrics(cfg.Sources, o.countCalls)
	return o
}

// Metrics returns the observer's metrics.
func (o *Observer) Metrics() *Metrics { return o.metrics }

// Capture records one message Parley received (from peer) or is about to
// send (to peer) on its local address. data is copied, so the caller keeps
// it. Called on the transport's goroutines for every message, it costs one
// copy of the bytes, a header scan and a short critical section; in mode
// CallsOnly, a header scan, and for a message that can change a call a
// copy of what the scan found, not of the bytes.
func (o *Observer) Capture(dir Direction, proto string, local, peer netip.AddrPort, data []byte) {
	m := Message{Dir: dir, Proto: proto, Local: local, Peer: peer}
	if o.cfg.CallsOnly {
		// Only the call tracker reads what is queued, and it reads the
		// summary alone: the summary's strings, which point into the
		// caller's data, are copied (one small allocation), the text
		// is not.
		text := unsafe.String(unsafe.SliceData(data), len(data))
		if line, _ := cutLine(text); !mayChangeCallLine(dir, line) {
			return
		}
		s := Scan(text)
		if !mayChangeCall(dir, &s) {
			return
		}
		m.Summary = s.compact()
	} else {
		m.Text = string(data)
		m.Summary = Scan(m.Text)
		o.metrics.count(dir, &m.Summary)
	}
	// One lock over numbering, the ring and the queue keeps all three in
	// the same order, so the worker sees a response after the request it
	// answers even when they were captured on different goroutines.
	o.mu.Lock()
	o.seq++
	m.Seq, m.Time = o.seq, o.cfg.Now()
	o.ring.add(&m)
	select {
	case o.work <- item{m: m}:
	default:
		o.metrics.captureDropped.Add(1)
	}
	o.mu.Unlock()
	o.nudge(gather)
}

// nudge arms the worker's wake-up in d unless it is armed already or the
// worker is busy: only the first message queued after the worker went
// idle pays for a timer, and the worker then takes everything queued.
func (o *Observer) nudge(d time.Duration) {
	if o.idle.Load() && o.idle.CompareAndSwap(true, false) {
		o.wake.Reset(d)
	}
}

// Start runs the worker until Close. A second Start does nothing.
func (o *Observer) Start() {
	if !o.started.Swap(true) {
		go o.run()
	}
}

// Close stops the worker after it has handled what is queued; without a
// Start it only marks the observer closed. Capture may still be called;
// what it queues is not handled.
func (o *Observer) Close() {
	o.once.Do(func() {
		close(o.quit)
		if !o.started.Swap(true) {
			close(o.done) // no worker will
		}
	})
	<-o.done
}

// Flush waits until the worker has handled every message captured before
// the call, so that a test or an API reader sees their effects. It returns
// at once if the worker is not running.
func (o *Observer) Flush() {
	if !o.started.Load() {
		return
	}
	done := make(chan struct{})
	select {
	case o.work <- item{done: done}:
	case <-o.done:
		return
	}
	o.nudge(0)
	select {
	case <-done:
	case <-o.done:
	}
}

// Disown tells the observer that the call with callID is held by its
// owner (Config.Owned) from now on: after every message captured before
// it, the tracker forgets the call without a notice and does not follow
// that Call-ID again, which saves a held call the tracker's copy of its
// dialogs. The owner reports the call's steps from then on (Report).
func (o *Observer) Disown(callID string) { o.queue(&ownedStep{callID: callID}) }

// Report announces a step of an owned call as the tracker would for one
// it follows (Config.OnCall, the live stream), in order with the captured
// messages; a CallFinished one joins the recently ended calls.
func (o *Observer) Report(change CallChange, c Call) {
	o.queue(&ownedStep{callID: c.CallID, change: change, c: c})
}

func (o *Observer) queue(s *ownedStep) {
	if !o.started.Load() {
		return
	}
	o.mu.Lock() // in order with Capture's messages
	defer o.mu.Unlock()
	select {
	case o.work <- item{own: s}:
	default:
		o.metrics.captureDropped.Add(1)
	}
	o.nudge(gather)
}

func (o *Observer) run() {
	defer close(o.done)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	var it item // one for the loop: a fresh one per message would escape to the heap
	for {
		o.drain(&it)
		o.idle.Store(true)
		// A message queued after the drain but before idle was set
		// found the worker busy and armed nothing: take it now.
		if len(o.work) > 0 && o.idle.CompareAndSwap(true, false) {
			continue
		}
		select {
		case <-o.wake.C:
		case <-tick.C:
			o.sweep()
		case <-o.quit:
			o.drain(&it)
			return
		}
	}
}

// drain handles what is queued, without waiting for more.
func (o *Observer) drain(it *item) {
	for {
		select {
		case *it = <-o.work:
			o.handle(it)
		default:
			return
		}
	}
}

func (o *Observer) handle(it *item) {
	if it.done != nil {
		close(it.done)
		return
	}
	if s := it.own; s != nil {
		it.own = nil
		o.announce(o.calls.owned(s))
		return
	}
	m := &it.m
	if !o.cfg.CallsOnly { // else nobody reads the histogram
		if d, ok := o.latency.observe(m); ok {
			o.metrics.latency.Observe(d.Seconds())
		}
	}
	notices := o.calls.observe(m)
	if o.events.active() {
		info := m.Info()
		o.events.publish(Event{Kind: EventMessage, Message: &info})
	}
	o.announce(notices)
	if o.cfg.Export != nil {
		o.cfg.Export(m)
	}
}

// announce hands the call changes to live views and to OnCall.
func (o *Observer) announce(notices []notice) {
	for i := range notices {
		n := &notices[i]
		if o.events.active() {
			c := n.call // the tracker reuses notices: see resetNotices
			o.events.publish(Event{Kind: EventCall, Call: &c})
		}
		if n.change != 0 && o.cfg.OnCall != nil {
			o.cfg.OnCall(n.change, n.call)
		}
	}
}

func (o *Observer) sweep() {
	now := o.cfg.Now()
	o.latency.sweep(now)
	o.announce(o.calls.sweep(now))
}

// Messages returns up to limit captured messages with Seq > after, oldest
// first; limit <= 0 means every one held.
func (o *Observer) Messages(after uint64, limit int) []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ring.since(after, limit)
}

// CallMessages returns the held messages of one Call-ID, oldest first:
// the rungs of its ladder.
func (o *Observer) CallMessages(callID string) []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ring.byCallID(callID)
}

// Calls returns the active calls (oldest first) and the recently ended
// ones (most recent first).
func (o *Observer) Calls() (active, recent []Call) {
	active, recent = o.calls.snapshot()
	if o.cfg.Owned != nil {
		active = append(active, o.cfg.Owned.Calls()...)
		slices.SortStableFunc(active, func(a, b Call) int { return a.Start.Compare(b.Start) })
	}
	return active, recent
}

// countCalls counts the calls being set up and the answered ones, the
// owned ones included.
func (o *Observer) countCalls() (setup, answered int) {
	setup, answered = o.calls.count()
	if o.cfg.Owned != nil {
		s, a := o.cfg.Owned.Count()
		setup, answered = setup+s, answered+a
	}
	return setup, answered
}

// Subscribe returns a channel of live events, with room for buffer of
// them, and a function that ends the subscription.
func (o *Observer) Subscribe(buffer int) (<-chan Event, func()) {
	return o.events.subscribe(buffer)
}

// Stats describe the capture.
type Stats struct {
	Captured        uint64 `json:"captured"`         // messages captured since start
	Held            int    `json:"held"`             // messages in the ring now
	HeldBytes       int    `json:"held_bytes"`       // their text's size
	Evicted         uint64 `json:"evicted"`          // pushed out of the ring, or too big for it
	CaptureMessages int    `json:"capture_messages"` // the ring's bound in messages
	CaptureBytes    int    `json:"capture_bytes"`    // and in bytes
	Dropped         uint64 `json:"dropped"`          // not handled by the worker: queue full
	ActiveCalls     int    `json:"active_calls"`     // calls answered and not ended
	SetupCalls      int    `json:"setup_calls"`      // calls being set up
}

// Stats returns the capture's counters.
func (o *Observer) Stats() Stats {
	o.mu.Lock()
	st := Stats{
		Captured: o.seq, Held: o.ring.n, HeldBytes: o.ring.bytes, Evicted: o.ring.evicted,
		CaptureMessages: len(o.ring.buf), CaptureBytes: o.ring.maxBytes,
	}
	o.mu.Unlock()
	st.Dropped = o.metrics.captureDropped.Load()
	st.SetupCalls, st.ActiveCalls = o.countCalls()
	return st
}
