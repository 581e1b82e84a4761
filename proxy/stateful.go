package proxy

import (
	"sort"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// responseContext is §16's response context: the branches of one
// forwarded request and what has come back on them.
type responseContext struct {
	p      *Proxy
	r      *Request // nil once settled
	tx     ServerTx // where responses go upstream
	invite bool
	key    string

	// Events (responses, timers, CANCEL) run one at a time through post,
	// so the state below needs no lock.
	events outbound.Queue

	groups     [][]Target // target groups not yet tried (serial forking)
	branches   []*branch
	best       *sip.Message // best final response so far (§16.7 step 6)
	auth       []string     // challenges of every 401/407, merged (§16.7 step 7)
	final      bool         // a final response went upstream
	forgetting bool         // removal from the CANCEL index is scheduled
	cancelled  bool         // upstream cancelled, or a 2xx/6xx ended the search
}

// branch is one target of a response context, on its way to the
// target's destinations through the outbound service.
type branch struct {
	rc          *responseContext
	flight      outbound.Flight
	provisional bool
	done        bool
	starting    bool // inside Start: a failure now is the target's, not an event
	cancelAsked bool // CANCEL wanted before any provisional came (§9.1)
	timedOut    bool // Timer C fired once and the branch was cancelled
	direct      bool // sent on the flow a phone registered from: responses come from the phone itself
	failover    bool // the target's Failover: only 5xx, 408 and transport errors try the next
	flow        bool // sent on outbound flows: reaching none is 430 Flow Failed (RFC 5626 §5.3)
	timerC      clock.Timer
}

// forwardStateful forwards to the target set with a response context.
func (p *Proxy) forwardStateful(r *Request) {
	rc := &responseContext{p: p, r: r, tx: r.Tx, invite: r.Msg.Method() == "INVITE", groups: p.forkGroups(r.Targets)}
	p.pending.Add(1)
	if rc.invite {
		rc.key = cancelKey(r.Msg)
		p.contexts.Store(rc.key, rc)
	}
	rc.post(func() {
		rc.startNextGroup()
		rc.finishIfDone()
		rc.settleIfDone()
	})
}

// post runs fn after every event posted before it, on the goroutine that
// finds the queue idle.
func (rc *responseContext) post(fn func()) { rc.events.Post(fn) }

// forkGroups orders the target set (§16.6): highest q first; each group
// is tried in parallel and the next group only when one fails.
func (p *Proxy) forkGroups(ts []Target) [][]Target {
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].Q > ts[j].Q })
	switch {
	case len(ts) == 1 || p.config().Fork == ForkParallel && !ts[0].Failover:
		return [][]Target{ts}
	case p.config().Fork == ForkSerial || ts[0].Failover:
		out := make([][]Target, len(ts))
		for i := range ts {
			out[i] = ts[i : i+1]
		}
		return out
	}
	var out [][]Target
	for i := 0; i < len(ts); {
		j := i + 1
		for j < len(ts) && ts[j].Q == ts[i].Q {
			j++
		}
		out = append(out, ts[i:j])
		i = j
	}
	return out
}

// startNextGroup starts branches for the next group of targets that gets
// at least one branch under way. Called with rc.mu held.
func (rc *responseContext) startNextGroup() {
	for len(rc.groups) > 0 && !rc.cancelled && !rc.final {
		group := rc.groups[0]
		rc.groups = rc.groups[1:]
		started := 0
		for _, t := range group {
			if rc.startBranch(t) {
				started++
			}
		}
		if started > 0 {
			return
		}
	}
}

// startBranch sends the request to one target. A target that cannot be
// reached counts as a 503 from it, as §16.7 step 4 (transport errors)
// and RFC 3263 failover suggest.
func (rc *responseContext) startBranch(t Target) bool {
	req, err := rc.p.targetRequest(rc.r, t)
	if err != nil {
		rc.p.log.Debug("proxy: cannot forward", "target", t.URI, "error", err)
		rc.consider(rc.localResponse(rc.r.Msg, 503, "Destination Unreachable"))
		return false
	}
	b := &branch{rc: rc, direct: t.Dest.Proto != "", failover: t.Failover, flow: t.flow, starting: true}
	rc.branches = append(rc.branches, b)
	rc.p.out.Start(rc.r.Context(), &b.flight, req, b)
	b.starting = false
	return !b.done
}

// Post queues the branch's events with the rest of its context's.
func (b *branch) Post(fn func()) { b.rc.post(fn) }

// Stamp finishes the request for one destination, and starts the
// attempt's Timer C.
func (b *branch) Stamp(base *sip.Message, dst transport.Target, out *transport.ListenerInfo, last bool) (*sip.Message, error) {
	rc := b.rc
	m := rc.p.stampBranch(rc.r, base, out, rc.p.newBranch(rc.r.Msg), last)
	b.provisional = false
	if rc.invite {
		rc.armTimerC(b)
	}
	return m, nil
}

// Response takes what the outbound service passes on: a response of the
// branch's destination, or the news that none could be reached.
func (b *branch) Response(resp *sip.Message, err error) {
	rc := b.rc
	if err != nil {
		rc.p.log.Debug("proxy: cannot forward", "error", err)
		b.done = true
		b.stopTimerC()
		if b.flow {
			rc.consider(rc.localResponse(rc.r.Msg, 430, "Flow Failed"))
		} else {
			rc.consider(rc.localResponse(rc.r.Msg, 503, "Destination Unreachable"))
		}
		if b.starting {
			return // startBranch goes on to the target's siblings
		}
		if rc.allDone() {
			rc.startNextGroup()
		}
		rc.finishIfDone()
		rc.settleIfDone()
		return
	}
	rc.onResponse(b, resp)
	rc.settleIfDone()
}

// localResponse makes a response as if a branch had sent it. Should it
// be the one sent upstream, the proxy answers as a UAS and so tags To
// (§8.2.6.2); the tag is the same for every local response of the request.
func (rc *responseContext) localResponse(req *sip.Message, code int, reason string) *sip.Message {
	return sip.NewResponse(req, code, reason, rc.p.toTag(rc.r.Msg))
}

// onResponse is §16.7 for one response on branch b.
func (rc *responseContext) onResponse(b *branch, resp *sip.Message) {
	code := resp.StatusCode()
	if b.direct && code > 100 && code < 300 && rc.p.config().RecordRoute && rc.dialogCreating() {
		_, dst := b.flight.Sent()
		aliasContact(resp, dst)
	}
	switch {
	case code < 200:
		rc.onProvisional(b, resp)
	case code < 300:
		rc.onSuccess(b, resp)
	default:
		if !b.done {
			b.done = true
			b.stopTimerC()
			rc.consider(resp)
			if code >= 600 || b.failover && !failsOver(code) {
				rc.endSearch()
			}
			if rc.allDone() {
				rc.startNextGroup()
			}
		}
		rc.finishIfDone()
	}
}

func (rc *responseContext) onProvisional(b *branch, resp *sip.Message) {
	b.provisional = true
	if b.cancelAsked {
		b.cancelAsked = false
		rc.sendCancel(b)
	}
	if resp.StatusCode() == 100 || rc.final {
		return // §16.7 step 5: 100 is hop-by-hop
	}
	if b.timerC != nil && !b.timedOut {
		rc.armTimerC(b) // §16.7 step 2: a provisional restarts Timer C
	}
	rc.upstream(resp)
}

func (rc *responseContext) onSuccess(b *branch, resp *sip.Message) {
	if !b.done {
		b.done = true
		b.stopTimerC()
	}
	if rc.final && !rc.invite {
		return // only an INVITE's 2xx go upstream after a final (§16.7 step 5)
	}
	// Every 2xx goes upstream at once, even several (§16.7 step 5), and
	// the other branches of an INVITE are cancelled (§16.7 step 10).
	rc.finish()
	rc.groups = nil
	if rc.invite {
		rc.endSearch()
	}
	rc.forgetLater()
	rc.upstream(resp)
}

// failsOver reports whether a final response from one of ordered
// alternatives lets the next be tried: the gateway is broken, busy or
// silent (5xx, 408), not the call refused (4xx, 6xx).
func failsOver(code int) bool { return code >= 500 && code < 600 || code == 408 }

// consider keeps the better of resp and the best so far (§16.7 step 6)
// and collects challenges (step 7).
func (rc *responseContext) consider(resp *sip.Message) {
	code := resp.StatusCode()
	if code == 401 || code == 407 {
		// Whole header lines: a challenge holds commas of its own.
		resp.EachHeader(func(name, value string) bool {
			if id := sip.HeaderIDOf(name); id == sip.HWWWAuthenticate || id == sip.HProxyAuthenticate {
				rc.auth = append(rc.auth, id.String(), value)
			}
			return true
		})
	}
	if rc.best == nil || better(code, rc.best.StatusCode()) {
		rc.best = resp
	}
}

// better reports whether status a beats b: 6xx first, then the lowest
// class, preferring 401, 407, 415, 420 and 484 within 4xx.
func better(a, b int) bool {
	if (a >= 600) != (b >= 600) {
		return a >= 600
	}
	if a/100 != b/100 {
		return a/100 < b/100
	}
	return preferred(a) && !preferred(b)
}

func preferred(code int) bool {
	switch code {
	case 401, 407, 415, 420, 484:
		return true
	}
	return false
}

// endSearch cancels every unfinished branch and drops untried groups.
func (rc *responseContext) endSearch() {
	rc.groups = nil
	rc.cancelled = true
	for _, b := range rc.branches {
		if !b.done {
			rc.cancelBranch(b)
		}
	}
}

// cancelBranch sends CANCEL now, or once a provisional response shows
// the request arrived (§9.1).
func (rc *responseContext) cancelBranch(b *branch) {
	if !rc.invite {
		return
	}
	if b.provisional {
		rc.sendCancel(b)
	} else {
		b.cancelAsked = true
	}
}

func (rc *responseContext) allDone() bool {
	for _, b := range rc.branches {
		if !b.done {
			return false
		}
	}
	return true
}

// finishIfDone sends the best response upstream when no branch is
// pending and no group is left.
func (rc *responseContext) finishIfDone() {
	if rc.final || !rc.allDone() || len(rc.groups) > 0 && !rc.cancelled {
		return
	}
	rc.finish()
	rc.forgetLater()
	best := rc.best
	if best == nil {
		best = rc.localResponse(rc.r.Msg, 408, "Request Timeout")
	}
	if best.StatusCode() == 503 {
		best.SetStatus(500, rc.unavailableReason(best)) // §16.7 step 6
	}
	if code := best.StatusCode(); code == 401 || code == 407 {
		best.RemoveHeader("WWW-Authenticate")
		best.RemoveHeader("Proxy-Authenticate")
		for i := 0; i+1 < len(rc.auth); i += 2 {
			best.AddHeader(rc.auth[i], rc.auth[i+1])
		}
	}
	rc.upstream(best)
}

// unavailableReason is the reason phrase of the 500 that stands for the
// best response, a 503 (§16.7 step 6). A 503 of our own means no branch
// could be reached at all (a domain that does not resolve, a transport
// error, §16.9), and its phrase says so: a caller who mistyped a domain
// should not read "Server Internal Error" as a fault of the proxy. A
// downstream server's phrase is about that server, so it is not passed on.
func (rc *responseContext) unavailableReason(best *sip.Message) string {
	if best.ToTag() == rc.p.toTag(rc.r.Msg) {
		return best.Reason()
	}
	return "Server Internal Error"
}

// upstream forwards a response through the server transaction, without
// our Via (§16.7 step 3, step 9).
func (rc *responseContext) upstream(resp *sip.Message) {
	if top, err := resp.TopVia(); err == nil && rc.p.isOurVia(top) {
		resp.PopVia()
	}
	if err := rc.tx.Respond(resp); err != nil {
		rc.p.log.Debug("proxy: forwarding response failed", "error", err)
	}
}

// armTimerC (re)starts the branch's Timer C (§16.6 step 11).
func (rc *responseContext) armTimerC(b *branch) {
	b.stopTimerC()
	b.timerC = rc.p.config().Clock.AfterFunc(rc.p.config().TimerC, func() { rc.post(func() { rc.onTimerC(b) }) })
}

func (b *branch) stopTimerC() {
	if b.timerC != nil {
		b.timerC.Stop()
	}
}

// onTimerC is §16.8: a branch that rang too long is cancelled; one that
// never answered is treated as a 408.
func (rc *responseContext) onTimerC(b *branch) {
	if b.done {
		return
	}
	if b.provisional && !b.timedOut {
		// §16.8: CANCEL, and give the branch one more Timer C to end.
		b.timedOut = true
		rc.sendCancel(b)
		rc.armTimerC(b)
		return
	}
	sent, _ := b.flight.Sent()
	b.flight.Timeout(rc.localResponse(sent, 408, "Request Timeout"))
}

// settleIfDone lets go of the requests once the final response is sent
// and no branch is pending. The context lives on while its INVITE client
// transactions linger (Timer M, 32 s, to pass on further 2xx) and in the
// CANCEL index for as long; what it needs for that is the server
// transaction and a few flags, not the messages.
func (rc *responseContext) settleIfDone() {
	if rc.r == nil || !rc.final || !rc.allDone() {
		return
	}
	rc.r, rc.best, rc.auth, rc.groups = nil, nil, nil, nil
	for _, b := range rc.branches {
		b.flight.Release()
		b.cancelAsked = false
	}
}

// dialogCreating reports whether the request creates a dialog, so that
// its responses may carry a Contact that needs an alias.
func (rc *responseContext) dialogCreating() bool {
	if rc.invite {
		return true
	}
	return rc.r != nil && dialogCreating[rc.r.Msg.Method()]
}

// cancel is what an upstream CANCEL does (§16.10).
func (rc *responseContext) cancel() {
	rc.post(rc.endSearch)
}

// finish marks the final response sent, once.
func (rc *responseContext) finish() {
	if !rc.final {
		rc.final = true
		rc.p.pending.Add(-1)
	}
}

// lingerAfterFinal is how long a finished INVITE's context still answers
// a CANCEL that crossed its final response: the INVITE server transaction
// lives that long at most (Timer H / L, 64*T1).
const lingerAfterFinal = 32 * time.Second

// forgetLater removes the context from the CANCEL index once no CANCEL
// can still match its INVITE.
func (rc *responseContext) forgetLater() {
	if rc.key == "" || rc.forgetting {
		return
	}
	rc.forgetting = true
	rc.p.config().Clock.AfterFunc(lingerAfterFinal, func() { rc.p.contexts.CompareAndDelete(rc.key, rc) })
}
