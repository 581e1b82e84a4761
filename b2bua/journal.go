package b2bua

// journal hands the call in progress to Config.Journal at its answer
// (and at a pickup's or a transfer's, which change who is billed), so
// that a kill -9 leaves a row that the next start turns into an
// interrupted record. Run on the call's queue.
//
// Not at the first ringing: the guarantee is that no billable call is
// lost, and a call is billable from its answer, whose time the recovered
// record bills from (a row written at the ringing alone could not). A
// call still ringing at a kill -9 bills nothing, and its caller sees the
// failure itself (no final answer); its record would say "interrupted,
// never answered", an attempt counted, for which every call paid a
// second journal row, a third of the writer's statements. The journal
// never covered a call before its first provisional either; the line is
// now where the dialog is confirmed.
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
