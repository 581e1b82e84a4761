// Package cdr holds call detail records: one Record per call, the Store
// interface with its engines (SQLite, PostgreSQL, memory) and the Writer
// that commits records in groups off the path that produced them. It
// knows nothing of SIP messages: the proxy's call tracker (package
// observe) and later the B2BUA each build a Record from what they know of
// a call. Every engine passes the conformance suite in cdr/storetest.
package cdr

import (
	"context"
	"errors"
	"math"
	"time"
)

// Disposition says how a call ended, in the words billing systems use.
type Disposition string

// Dispositions.
const (
	Answered    Disposition = "answered"    // a 2xx reached the caller
	Busy        Disposition = "busy"        // 486, 600 or 603: the callee refused
	NoAnswer    Disposition = "no-answer"   // 480 or 408: nobody picked up in time
	Cancelled   Disposition = "cancelled"   // 487: the caller gave up before an answer
	Failed      Disposition = "failed"      // any other final failure (404, 5xx, …)
	Interrupted Disposition = "interrupted" // the server stopped while the call was up
	// Expired: answered, then ended by the B2BUA because a phone stopped
	// refreshing its session timer (RFC 4028): it vanished mid-call. Its
	// billable seconds count as an answered call's do.
	Expired Disposition = "expired"
	// EndedByTakeover: answered, then ended by another node of a cluster
	// after the node that held the call stopped beating (package
	// cluster/takeover). Its end is when the survivor hung up, an upper
	// bound on the talk time: the media ran phone to phone meanwhile.
	EndedByTakeover Disposition = "ended-by-takeover"
)

// Dispositions lists the dispositions, for validating filters.
var Dispositions = []Disposition{Answered, Busy, NoAnswer, Cancelled, Failed, Interrupted, Expired, EndedByTakeover}

// DispositionOf maps an INVITE's final status to a disposition; answered
// wins over the status, since a call that was answered is billed however
// its dialog ended.
func DispositionOf(answered bool, status int) Disposition {
	switch {
	case answered:
		return Answered
	case status == 486 || status == 600 || status == 603:
		return Busy
	case status == 480 || status == 408:
		return NoAnswer
	case status == 487:
		return Cancelled
	}
	return Failed
}

// Party names who ended a call.
type Party string

// Parties that end calls.
const (
	Caller Party = "caller" // a BYE from the caller, or its CANCEL
	Callee Party = "callee" // a BYE from the callee, or its refusal (4xx, 6xx)
	System Party = "system" // a timeout, an error, or the server stopping
	// NodeFailure: the node that held the call died, and a surviving
	// node of its cluster sent both BYEs.
	NodeFailure Party = "node-failure"
)

// Reasons a call ended with, as both the proxy's records and the
// B2BUA's write them: one vocabulary in the reason column, whichever path
// the call took. A call refused before its answer has the refusal's reason
// phrase instead; the other reasons name their cause (a session timer, a
// transfer, the administrator).
const (
	// ReasonHungUp: a BYE from the caller or the callee ended the call;
	// hung_up_by says which.
	ReasonHungUp = "hung up"
	// ReasonHungUpEarly: the caller or the callee sent BYE in an early
	// dialog (RFC 3261 §15), before the answer; the status is 487.
	ReasonHungUpEarly = "hung up before the answer"
	// ReasonServerStopped: the server stopped (SIGTERM) while the call
	// was up; the disposition is interrupted.
	ReasonServerStopped = "server stopped"
)

// RouteLocal is the route of a call to a local user that no dial plan
// route took: a phone calling a colleague, or a trunk's call to one of its
// DIDs (whose trunk names the gateway). A call a route took carries the
// route's name; a call relayed to another domain has none.
const RouteLocal = "local"

// Record is one call. Times are UTC to the microsecond (what both SQL
// engines keep); zero means "did not happen" (a call never answered has a
// zero Answered).
type Record struct {
	ID          int64       `json:"id"`                  // the store's, in order of writing; 0 before
	Node        string      `json:"node"`                // the server that handled the call
	CallID      string      `json:"call_id"`             // the A leg's (caller's) Call-ID
	BCallID     string      `json:"b_call_id,omitempty"` // the B leg's Call-ID; empty for a proxied call
	Caller      string      `json:"caller"`              // the From address
	Callee      string      `json:"callee"`              // the To address
	Dialled     string      `json:"dialled"`             // the user part of the Request-URI the caller sent; a trunk's call, the DID
	Trunk       string      `json:"trunk,omitempty"`     // the trunk the call used; empty for none
	Route       string      `json:"route,omitempty"`     // the dial plan route that took it, RouteLocal, or empty (relayed elsewhere)
	Source      string      `json:"source"`              // where the caller's INVITE came from
	Setup       time.Time   `json:"setup"`               // the caller's first INVITE arrived
	Ringing     time.Time   `json:"ringing,omitzero"`    // the first provisional response above 100 went to the caller
	Answered    time.Time   `json:"answered,omitzero"`   // the 2xx went to the caller
	End         time.Time   `json:"end"`                 // the call ended
	Disposition Disposition `json:"disposition"`
	HungUpBy    Party       `json:"hung_up_by"`
	Status      int         `json:"status"`           // the INVITE's final status (0 if none came)
	Reason      string      `json:"reason,omitempty"` // the reason phrase or why the call ended
	// AnsweredBy is the phone that answered in the callee's place, a
	// pickup's (its From address); empty when the callee's phone did.
	AnsweredBy string `json:"answered_by,omitempty"`
	// TransferredBy is the party who transferred the call to the callee:
	// the record continues a call whose earlier record ended with the
	// transfer (the same CallID).
	TransferredBy string `json:"transferred_by,omitempty"`
}

// Duration is the whole call, from setup to end.
func (r *Record) Duration() time.Duration { return max(r.End.Sub(r.Setup), 0) }

// Billable is the talk time in whole seconds, rounded up as per-second
// billing does: a call answered for 2.1 s bills 3 s. An unanswered call
// bills 0.
func (r *Record) Billable() int64 {
	if r.Answered.IsZero() {
		return 0
	}
	return int64(math.Ceil(max(r.End.Sub(r.Answered), 0).Seconds()))
}

// Query selects records. Empty fields do not filter. Caller and Callee
// match case-insensitive substrings; Since and Until bound Setup (Since
// included, Until excluded). Results come oldest first after the record
// with ID After, or newest first before the record with ID Before when
// Newest is set (0: from the start or the end), at most Limit of them.
type Query struct {
	Caller, Callee string
	Disposition    Disposition
	Since, Until   time.Time
	Newest         bool
	After, Before  int64
	Limit          int // 0 means DefaultLimit; more than MaxLimit is MaxLimit
}

// Paging bounds.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

func (q Query) limit() int {
	switch {
	case q.Limit <= 0:
		return DefaultLimit
	case q.Limit > MaxLimit:
		return MaxLimit
	}
	return q.Limit
}

// Store keeps records. Implementations are safe for concurrent use.
type Store interface {
	// Add stores the records in one transaction: when it returns nil
	// they are durable. A record already stored (the same Node, CallID
	// and Setup) is kept once, so a batch retried after an ambiguous
	// failure does not double a call.
	Add(ctx context.Context, recs []Record) error
	// List returns the records q selects.
	List(ctx context.Context, q Query) ([]Record, error)
	// Close releases the store.
	Close() error
}

// ErrClosed is returned by a closed store.
var ErrClosed = errors.New("cdr: store closed")
