package b2bua

// journal hands the call in progress to Config.Journal: at its first
// ringing and at its answer, so that a kill -9 leaves a row that the
// next start turns into an interrupted record. Run on the call's queue.
//
// The ringing row is kept although a call bills from its answer: an
// attempt cut off by a crash still gets its one record (issue 16's
// "calls in progress are closed with a record that says so"), and under
// load it costs little, since the writer folds a call's ringing and
// answer rows, and a record and its rows, that share a commit into one
// write (cdr.batchPlan).
func (c *Call) journal() {
	if c.b.cfg.Journal != nil {
		c.b.cfg.Journal(c.Record())
	}
}

// afterRecord runs fn on the call's queue once the record that end
// handed over is durable (Config.Durable), or at once without one: a
// BYE's 200 tells the phone the call is over and billed, so it follows
// the record to the disk rather than preceding it.
func (c *Call) afterRecord(fn func()) {
	if c.b.cfg.Durable == nil {
		fn()
		return
	}
	c.b.cfg.Durable(func() { c.Post(fn) })
}
