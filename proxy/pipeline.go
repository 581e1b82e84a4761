package proxy

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Stage is one step of request processing. It either answers the request
// (Respond), drops it (Drop), forwards it, or calls next to hand it on.
// next is called, if at all, before Serve returns and on Serve's own
// goroutine: a stage that finishes a request elsewhere (a queue, a
// goroutine) answers or forwards it from there itself. The proxy relies
// on it to release a request forwarded statelessly once the chain returns.
// A stage of a feature package (presence, a B2BUA, a dial plan) is a
// Stage like the proxy's own, placed in the list the chain is built from.
type Stage interface {
	// Name names the stage in logs and in /metrics; unique in a chain.
	Name() string
	Serve(r *Request, next func())
}

// StageFunc makes a Stage from a name and a function.
type StageFunc struct {
	StageName string
	Fn        func(r *Request, next func())
}

// Name returns the stage's name.
func (s StageFunc) Name() string { return s.StageName }

// Serve calls the function.
func (s StageFunc) Serve(r *Request, next func()) { s.Fn(r, next) }

// Insert returns stages with s placed before the stage named before, or
// an error naming the stage it did not find or the name s repeats.
func Insert(stages []Stage, before string, s Stage) ([]Stage, error) {
	at := -1
	for i, st := range stages {
		if st.Name() == s.Name() {
			return nil, fmt.Errorf("proxy: a stage named %q is already in the chain", s.Name())
		}
		if st.Name() == before {
			at = i
		}
	}
	if at < 0 {
		return nil, fmt.Errorf("proxy: no stage named %q to insert %q before", before, s.Name())
	}
	out := make([]Stage, 0, len(stages)+1)
	out = append(out, stages[:at]...)
	out = append(out, s)
	return append(out, stages[at:]...), nil
}

// Outcome is how a stage let go of a request.
type Outcome int

// Outcomes, as /metrics labels them.
const (
	OutcomeNext      Outcome = iota // handed on to the next stage
	OutcomeAnswered                 // answered here (or an ACK absorbed)
	OutcomeDropped                  // dropped unanswered
	OutcomeForwarded                // sent on, or still on its way (DNS, a durable commit)
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"next", "answered", "dropped", "forwarded"}

// String returns the outcome's label.
func (o Outcome) String() string { return outcomeNames[o] }

// StageBuckets are the upper bounds of the stage latency histogram: a
// stage's own time, from being called to handing on or returning.
var StageBuckets = [...]time.Duration{
	time.Microsecond, 5 * time.Microsecond, 10 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, time.Second,
}

// stageCounters are one stage's counters: atomic adds on the request
// path, read and summed only when /metrics is scraped.
type stageCounters struct {
	outcomes [numOutcomes]atomic.Uint64
	buckets  [len(StageBuckets) + 1]atomic.Uint64 // not cumulative; the last is +Inf
	sum      atomic.Int64                         // nanoseconds
}

func (c *stageCounters) record(o Outcome, d time.Duration) {
	c.outcomes[o].Add(1)
	i := 0
	for i < len(StageBuckets) && d > StageBuckets[i] {
		i++
	}
	c.buckets[i].Add(1)
	c.sum.Add(int64(d))
}

// StageStats are one stage's counters since start.
type StageStats struct {
	Name string
	// Outcomes counts requests by how the stage let go of them, indexed
	// by Outcome.
	Outcomes [numOutcomes]uint64
	// Buckets[i] counts requests the stage kept at most StageBuckets[i]
	// (cumulative, as Prometheus wants them); Count is every request.
	Buckets [len(StageBuckets)]uint64
	Count   uint64
	Sum     time.Duration
}

// chain is the stages a request runs through, in order, with their
// counters.
type chain struct {
	stages   []Stage
	counters []stageCounters
}

func newChain(stages []Stage) *chain {
	return &chain{stages: stages, counters: make([]stageCounters, len(stages))}
}

// StageStats returns every stage's counters, in chain order.
func (p *Proxy) StageStats() []StageStats {
	c := p.chain
	out := make([]StageStats, len(c.stages))
	for i, st := range c.stages {
		s := &out[i]
		s.Name = st.Name()
		for o := range s.Outcomes {
			s.Outcomes[o] = c.counters[i].outcomes[o].Load()
		}
		var cum uint64
		for b := range c.counters[i].buckets {
			cum += c.counters[i].buckets[b].Load()
			if b < len(s.Buckets) {
				s.Buckets[b] = cum
			}
		}
		s.Count = cum
		s.Sum = time.Duration(c.counters[i].sum.Load())
	}
	return out
}

// run serves the request from the stage at r.pos. A stage that hands on
// is counted when it calls next; one that does not, when it returns.
func (r *Request) run() {
	c := r.chain
	i := r.pos
	if i >= len(c.stages) || r.answered {
		return
	}
	r.entered = time.Now()
	c.stages[i].Serve(r, r.next)
	if r.pos == i {
		c.counters[i].record(r.outcome(), time.Since(r.entered))
	}
}

// advance is next: it counts the current stage as handed on and runs the
// one after it.
func (r *Request) advance() {
	i := r.pos
	if i >= len(r.chain.stages) {
		return
	}
	r.chain.counters[i].record(OutcomeNext, time.Since(r.entered))
	r.pos++
	r.run()
}

func (r *Request) outcome() Outcome {
	switch {
	case r.dropped:
		return OutcomeDropped
	case r.answered:
		return OutcomeAnswered
	}
	return OutcomeForwarded
}
