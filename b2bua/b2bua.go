package b2bua

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// DefaultPassHeaders are the headers that cross from one leg to the other
// when Config.PassHeaders is nil: the caller's asserted identity and
// privacy wishes (RFC 3325), what the message is about, and the option
// tags and capabilities the two ends negotiate end to end (100rel, INFO
// packages). User-Agent and Server stay behind: they name the equipment
// on the far side, which is what topology hiding is for.
var DefaultPassHeaders = []string{
	"P-Asserted-Identity", "P-Preferred-Identity", "Privacy", "Subject", "Priority",
	"Supported", "Require", "Allow", "Accept", "Content-Disposition",
	"Info-Package", "Recv-Info", "Reason",
}

// Config is what a B2BUA is built from. Outbound and Sender are needed;
// the rest has working zero values.
type Config struct {
	// Outbound sends the requests of both legs.
	Outbound *outbound.Service
	// Sender sends the ACKs of 2xx responses, which are no transaction
	// (§17.1.1.3) and so bypass the outbound service.
	Sender transport.Sender
	// Clock runs the 2xx retransmissions; nil is clock.Default().
	Clock clock.Clock
	// T1 and T2 pace the retransmission of a 2xx to an INVITE until its
	// ACK comes (§13.3.1.4): T1 doubling up to T2, 64*T1 in all.
	// 0 means 500 ms and 4 s.
	T1, T2 time.Duration
	// RingTimeout bounds how long a call may go unanswered, as Timer C
	// does for a proxy (§16.6 step 11): then the callee's phones are
	// cancelled and the caller gets 408. 0 is 181 s.
	RingTimeout time.Duration
	// PassHeaders names the headers copied from one leg to the other,
	// case-insensitively; nil is DefaultPassHeaders.
	PassHeaders []string
	// PassXHeaders copies every header whose name starts with "X-" too.
	PassXHeaders bool
	// Router, when set, chooses the plan of an initial INVITE; a call it
	// routes is taken by the B2BUA whatever All says.
	Router Router
	// Inbound, when set, names the trunk an initial INVITE came from;
	// the Located stage takes those although All is off, and the record
	// names the trunk.
	Inbound func(in *transport.Incoming) (trunk string, ok bool)
	// Routing, when set, says for the record (and the calls list) of a
	// call no Router plan took what its caller dialled, which route took
	// it and, when it is not the To's, the callee: src is where the call
	// came from, ruri its Request-URI as the caller sent it (before a DID
	// or a local route rewrote it), to its To. A trunk's call to a DID is
	// dialled as the DID, to the user the DID rings; a call to local
	// users is routed cdr.RouteLocal. A transfer's new party, no plan's,
	// is asked with ruri and to its Refer-To and no src. nil keeps the
	// Request-URI's user as it arrived, no route and the To.
	Routing func(src netip.Addr, ruri, to sip.URI) Origin
	// Trunks, when set, returns the account of the named trunk: its
	// challenges are answered and its B legs' From set from it.
	Trunks func(name string) (TrunkAccount, bool)
	// All takes every initial INVITE the proxy would relay (mode: b2bua);
	// its B leg goes to the targets the location stage found.
	All bool
	// Admit, when set, is asked before a new call's B leg starts; an
	// error that is a *sip.Error refuses the call with its status (a call
	// limit's 486 or 503), any other error with 500.
	Admit func(ctx context.Context, c *Call) error
	// OnAnswer, when set, runs once when the call is answered (the 2xx
	// went to the caller), on the call's queue.
	OnAnswer func(c *Call)
	// Watch, when set, is told of every call's steps: Started as its
	// INVITE is taken (on the goroutine that took it, before the call
	// answers anything), the others on the call's queue, where Snapshot
	// and Record may be read. The observer follows B2BUA calls by it
	// instead of from the wire.
	Watch func(c *Call, step Step)
	// OnChange, when set, runs on the call's queue when what its
	// Snapshot gives for ending it from elsewhere changed since the
	// answer or the last OnChange: a leg replaced (a transfer), a leg's
	// remote target refreshed (re-INVITE, UPDATE), or a leg's CSeq
	// SnapshotSeqStep past the last. Events that change none of these
	// (media re-offers to the same Contact, INFO, session refreshes) do
	// not run it.
	OnChange func(c *Call)
	// OnEnd, when set, runs once when a call Admit let through ends, on
	// the call's queue: what a limit counting calls releases.
	OnEnd func(c *Call)
	// Record, when set, receives the call detail record of every call.
	Record func(cdr.Record)
	// Journal, when set, receives the record so far of a call in
	// progress, at its first ringing and at its answer, on the call's
	// queue: what a restart after a crash recovers as interrupted.
	Journal func(cdr.Record)
	// Durable, when set, runs fn (without blocking) once every record
	// handed to Record before it is committed; the 200 to a BYE that
	// ends a call waits for it, so a phone told the call is over has its
	// record on disk.
	Durable func(fn func())
	// Node names this server in the records.
	Node string
	// Body, when set, rewrites a body on its way from one leg to the
	// other: the seam where media anchoring would replace the SDP's
	// addresses. nil passes every body unchanged.
	Body func(c *Call, from Side, contentType string, body []byte) (string, []byte)
	// Control is the call control in force at start (session timers,
	// maximum duration); SetControl changes it.
	Control Control
	// Limits, when set, counts concurrent calls per user, domain and
	// trunk and refuses a call over a limit (limits.go).
	Limits *calllimit.Limiter
	// Vouched, when set, tells whether an INVITE's sender proved who it
	// is (proxy.Request.Vouched); one that did not may not take a call
	// over with Replaces. Nil vouches for everyone, as with passwords off.
	Vouched func(r *proxy.Request) bool
	// Accountable, when set, tells whether someone answers for a
	// request's sender (proxy.Request.Accountable): only then does a
	// transfer go out through the dial plan's gateways, at the office's
	// cost. The caller's INVITE is asked, and a callee's REFER unless
	// Passwords holds. Nil answers for everyone.
	Accountable func(r *proxy.Request) bool
	// Passwords, when set, reports whether the auth stage asks for
	// passwords (auth.enabled): then a callee of ours proved one on
	// registering, and its transfers need nothing more.
	Passwords func() bool
	// Locate, when set, finds a transfer's target (refer.go); without it
	// a REFER is answered 501.
	Locate Locator
	// Agent, when set, returns what Parley calls itself on its legs
	// (server_header): the Server of its responses and the User-Agent
	// of its requests; "" sends neither. A func, so that a reload
	// applies at once.
	Agent func() string
	// Lifetime bounds the DNS lookups of the calls' requests: the
	// server's. nil never ends.
	Lifetime context.Context
	Log      *slog.Logger
}

// B2BUA holds the calls and their dialogs. It is safe for concurrent use.
type B2BUA struct {
	cfg    Config
	ctl    control         // the call control in force (timer.go)
	pass   map[string]bool // lower-case header names that cross
	table  *dialog.Table
	clock  clock.Clock
	log    *slog.Logger
	mu     sync.Mutex
	calls  map[string]*Call        // by Call.ID
	legs   map[*dialog.Dialog]*Leg // every dialog of every call: the table finds it by its ID
	setups map[string]*Call        // calls whose A INVITE is unanswered, by cancelKey
	owned  map[string]bool         // A-leg Call-IDs of calls now and recently held
	recent []string                // ended calls' A-leg Call-IDs, oldest first
}

// recentOwned bounds how many ended calls Owns still knows.
const recentOwned = 4096

// New builds a B2BUA.
func New(cfg Config) *B2BUA {
	if cfg.Clock == nil {
		cfg.Clock = clock.Default()
	}
	if cfg.T1 <= 0 {
		cfg.T1 = 500 * time.Millisecond
	}
	if cfg.T2 <= 0 {
		cfg.T2 = 4 * time.Second
	}
	if cfg.RingTimeout <= 0 {
		cfg.RingTimeout = 181 * time.Second
	}
	if cfg.Lifetime == nil {
		cfg.Lifetime = context.Background()
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.PassHeaders == nil {
		cfg.PassHeaders = DefaultPassHeaders
	}
	b := &B2BUA{cfg: cfg, pass: map[string]bool{}, clock: cfg.Clock, log: cfg.Log,
		calls: map[string]*Call{}, legs: map[*dialog.Dialog]*Leg{}, setups: map[string]*Call{}, owned: map[string]bool{}}
	for _, h := range cfg.PassHeaders {
		b.pass[strings.ToLower(h)] = true
	}
	b.SetControl(cfg.Control)
	// The B2BUA ends early dialogs itself (a final answer on the A leg
	// closes every branch), so no linger timer runs in the table.
	b.table = dialog.NewTable(dialog.Config{Clock: cfg.Clock, Linger: -1})
	return b
}

// Owns reports whether callID is the A leg of a call the B2BUA holds or
// held recently: the proxy's call tracker sees that leg on the wire and
// must not write a second record for it.
func (b *B2BUA) Owns(callID string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.owned[callID]
}

// Calls returns a snapshot of every call in progress, oldest first. It
// waits for each call's queue, so it must not be called from one (an
// OnEnd, a Post).
func (b *B2BUA) Calls() []CallInfo {
	b.mu.Lock()
	calls := make([]*Call, 0, len(b.calls))
	for _, c := range b.calls {
		calls = append(calls, c)
	}
	b.mu.Unlock()
	out := make([]CallInfo, 0, len(calls))
	for _, c := range calls {
		out = append(out, c.Info())
	}
	sortInfos(out)
	return out
}

// Call returns the call with id, or nil.
func (b *B2BUA) Call(id string) *Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[id]
}

// Hangup ends the call with id as the operator asks: BYE on both legs of
// an answered call, CANCEL and a final answer to the caller for one still
// ringing. It reports whether the call existed.
func (b *B2BUA) Hangup(id string) bool {
	c := b.Call(id)
	if c == nil {
		return false
	}
	c.Hangup(cdr.System, "hung up by the administrator")
	return true
}

// Counts returns how many calls are being set up and how many are
// answered, without waiting for any call's queue.
func (b *B2BUA) Counts() (setup, answered int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.setups), len(b.calls) - len(b.setups)
}

// Len returns the number of calls in progress.
func (b *B2BUA) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.calls)
}

func (b *B2BUA) add(c *Call, key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls[c.id] = c
	b.setups[key] = c
	b.owned[c.aCallID] = true
}

func (b *B2BUA) addLeg(l *Leg) {
	b.mu.Lock()
	b.legs[l.d] = l
	b.mu.Unlock()
}

// setupDone forgets an answered call's CANCEL key, in the setups and in
// the call: the key's 90-odd bytes are not kept for the call's life.
func (c *Call) setupDone() {
	b := c.b
	b.mu.Lock()
	delete(b.setups, c.su.key)
	b.mu.Unlock()
	c.su.key = ""
}

// remove forgets an ended call and its dialogs; its A Call-ID stays in
// the owned set among the recentOwned last.
func (b *B2BUA) remove(c *Call, legs []*Leg) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.calls, c.id)
	if c.su != nil && c.su.key != "" { // "" once answered (setupDone)
		delete(b.setups, c.su.key)
	}
	for _, l := range legs {
		delete(b.legs, l.d)
	}
	b.recent = append(b.recent, c.aCallID)
	if len(b.recent) > recentOwned {
		delete(b.owned, b.recent[0])
		b.recent = b.recent[1:]
	}
	b.disown(c, legs)
}

// disown starts forgetting the Call-IDs of an ended call's legs that own
// marked, as the A leg's is: among the recentOwned last. Run under b.mu.
func (b *B2BUA) disown(c *Call, legs []*Leg) {
	for _, l := range legs {
		if cid := l.d.ID().CallID; cid != c.aCallID && b.owned[cid] {
			b.recent = append(b.recent, cid)
		}
	}
	for len(b.recent) > recentOwned {
		delete(b.owned, b.recent[0])
		b.recent = b.recent[1:]
	}
}

// own marks callID as the B2BUA's, as Owns reports: the INVITE of a
// phone that took a leg of a call (a pickup, a leg replaced) is a leg
// of that call, whose record is the call's. It is forgotten as the A
// leg's is, after the call ends (remove).
func (b *B2BUA) own(callID string) {
	b.mu.Lock()
	b.owned[callID] = true
	b.mu.Unlock()
}

// leg finds the leg an incoming in-dialog request belongs to.
func (b *B2BUA) leg(req *sip.Message) *Leg {
	d := b.table.Match(req)
	if d == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.legs[d]
}

// setup finds the call an A-leg CANCEL is for.
func (b *B2BUA) setup(key string) *Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.setups[key]
}

// newID returns a random identifier: Call-IDs and call ids that say
// nothing of this host.
func newID() string {
	var r [12]byte
	_, _ = rand.Read(r[:])
	return hex.EncodeToString(r[:])
}

// Stop ends every call as the server stops, so that no phone is left
// in a call nobody holds: BYE on both legs of an answered call, CANCEL
// towards the callee and 503 to the caller of one still ringing. Each
// call's record says interrupted, ended by the system. It returns once
// every call has ended (the BYEs are sent, not answered); like Calls, it
// must not be called from a call's queue.
func (b *B2BUA) Stop() {
	b.mu.Lock()
	calls := make([]*Call, 0, len(b.calls))
	for _, c := range b.calls {
		calls = append(calls, c)
	}
	b.mu.Unlock()
	for _, c := range calls {
		done := make(chan struct{})
		c.Post(func() {
			defer close(done)
			c.interrupted = true
			switch c.state {
			case stateSetup:
				c.fail(503, "Server Stopping", cdr.System)
			case stateAnswered:
				c.bye(c.a)
				c.bye(c.bl)
				c.end(cdr.System, cdr.ReasonServerStopped)
			}
		})
		<-done
	}
}
