// Package registrar processes REGISTER requests as RFC 3261 §10.3 says,
// with Path (RFC 3327) and the NAT facts a binding needs, on top of a
// location.Store. It builds responses; sending them is its caller's job.
package registrar

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/parley-sip/parley/gruu"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// Policy is what an operator chooses about registrations, globally or per
// domain.
type Policy struct {
	DefaultExpires time.Duration
	MinExpires     time.Duration
	MaxExpires     time.Duration
	// RaiseToMin raises a too-short expiry to MinExpires instead of
	// answering 423 Interval Too Brief.
	RaiseToMin bool
	// MaxContacts bounds the bindings of one AOR; 0 is no bound.
	MaxContacts int
	// ReplaceOldest makes one binding too many replace the oldest instead
	// of being refused with 503.
	ReplaceOldest bool
	// FlowTimer is the Flow-Timer of a 200 that makes an outbound flow
	// binding (RFC 5626 §4.4): how often the phone pings its flow. 0
	// lets Parley choose by transport.
	FlowTimer time.Duration
}

// DefaultPolicy is one hour by default, one minute at least, one day at most.
var DefaultPolicy = Policy{
	DefaultExpires: time.Hour,
	MinExpires:     time.Minute,
	MaxExpires:     24 * time.Hour,
	MaxContacts:    10,
}

// Registrar answers REGISTER requests.
type Registrar struct {
	Store location.Store
	// Serves reports whether this server is responsible for a domain
	// (§10.3 step 1); nil serves every domain.
	Serves func(domain string) bool
	// ForUs reports whether a Request-URI names this server itself (one of
	// its addresses or names) rather than a domain: the domain is then the
	// To's, as for a desk phone configured with the server's IP address as
	// its registrar. nil treats every Request-URI as a domain.
	ForUs func(u *sip.URI) bool
	// PolicyFor returns the policy of a domain; nil uses DefaultPolicy.
	PolicyFor func(domain string) Policy
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// OnChange, when not nil, is told of every binding a REGISTER added,
	// refreshed or removed, after the store has it: presence, the
	// registration event package and offline messages follow
	// registrations through it. It runs on the request's goroutine, so
	// it must not block.
	OnChange func(Change)
	// Logger gets the registration events (added and removed at info,
	// refreshed at debug); nil uses slog.Default.
	Logger *slog.Logger
	// GRUU seals the temporary GRUUs of 200 responses (RFC 5627); nil
	// gives public GRUUs only.
	GRUU *gruu.Issuer
	// NodePath, when not nil, returns a Path entry naming this node and
	// the flow a REGISTER came on; it becomes the route of the bindings
	// of a REGISTER that carries no Path. In a cluster the flow lives on
	// this node only, so the other nodes must reach the phone through it
	// (RFC 3327). The response does not echo it: the phone never asked.
	NodePath func(in *transport.Incoming) string
}

// RetryAfter is the Retry-After, in seconds, of the 503 a REGISTER gets
// when the store cannot take it: phones that know another server try it
// meanwhile (RFC 3261 §21.5.4), and the rest come back when a database
// restart is likely over.
const RetryAfter = "5"

// Handle processes one REGISTER and returns the response to send. It never
// returns nil. toTag is put on the response's To header.
func (r *Registrar) Handle(ctx context.Context, in *transport.Incoming, toTag string) *sip.Message {
	req := in.Msg
	res, err := r.process(ctx, in)
	if err != nil {
		var se *statusError
		if errors.As(err, &se) {
			return sip.NewResponse(req, se.code, se.reason, toTag, se.extra...)
		}
		// The store logs its outage once; a line per refused REGISTER
		// would be thousands a second under load.
		r.logger().Debug("registrar: store failed", "error", err)
		return sip.NewResponse(req, 503, "Location Store Unavailable", toTag, "Retry-After", RetryAfter)
	}
	return r.okResponse(req, res, toTag)
}

// statusError is a refusal with the status and extra headers to answer with.
type statusError struct {
	code   int
	reason string
	extra  []string
}

func (e *statusError) Error() string { return strconv.Itoa(e.code) + " " + e.reason }

func refuse(code int, reason string, extra ...string) error {
	return &statusError{code: code, reason: reason, extra: extra}
}

// result is what a successful REGISTER leaves: the AOR's bindings now.
type result struct {
	bindings  []location.Binding
	now       time.Time
	path      bool // the request carried Path, so the response echoes it
	aor       string
	domain    string // the AOR's, which temporary GRUUs name
	asks      asks
	outbound  bool          // a flow binding was made: Require: outbound
	flowTimer time.Duration // its Flow-Timer
}

// process is §10.3. Step 2, Require, is its caller's: the proxy answers
// 420 for every request the server answers itself (§8.2.2.3), REGISTER
// included.
func (r *Registrar) process(ctx context.Context, in *transport.Incoming) (result, error) {
	req := in.Msg
	now := r.now()
	ruri, err := req.RequestURIParsed()
	if err != nil {
		return result{}, refuse(400, "Malformed Request-URI")
	}
	to, err := req.To()
	if err != nil {
		return result{}, refuse(400, "Malformed To")
	}
	domain := ruri.Host
	if r.ForUs != nil && r.ForUs(&ruri) {
		domain = to.URI.Host
	}
	if !r.serves(domain) { // step 1
		return result{}, refuse(403, "Domain Not Served Here")
	}
	if !to.URI.IsSIP() || !r.serves(to.URI.Host) {
		return result{}, refuse(404, "Not Found")
	}
	if _, err := req.Paths(); err != nil {
		return result{}, refuse(400, "Malformed Path") // each becomes a Route
	}
	aor := to.URI.AOR() // step 5
	policy := r.policy(to.URI.Host)
	a := readAsks(req)
	changes, err := r.readContacts(in, aor, a, policy, now)
	if err != nil {
		return result{}, err
	}
	res := result{now: now, aor: aor, domain: strings.ToLower(to.URI.Host), asks: a}
	if changes == nil { // a query (§10.2.3)
		res.bindings, err = r.Store.Lookup(ctx, aor, now)
		return res, err
	}
	callID, _ := req.CallID()
	cseq, _ := req.CSeq()
	logging := r.logging(ctx)
	watching := logging || r.OnChange != nil
	var before []string
	bs, err := r.Store.Update(ctx, aor, now, func(cur []location.Binding) ([]location.Binding, error) {
		if watching {
			before = contactsOf(cur)
		}
		return apply(cur, changes, callID, cseq.Seq, policy, now)
	})
	if err != nil {
		return result{}, err
	}
	if watching {
		refreshes := r.OnChange != nil || r.logger().Enabled(ctx, refreshLevel)
		d := diffBindings(before, bs, changes, refreshes)
		if logging {
			r.logDiff(ctx, aor, in, d, now)
		}
		r.report(aor, d)
	}
	res.bindings, res.path = bs, req.HasHeader("Path")
	if res.outbound = usesOutbound(changes); res.outbound {
		res.flowTimer = flowTimer(policy, phoneProto(req, in.Proto))
	}
	return res, nil
}

func (r *Registrar) serves(domain string) bool {
	return r.Serves == nil || r.Serves(strings.ToLower(domain))
}

func (r *Registrar) policy(domain string) Policy {
	if r.PolicyFor == nil {
		return DefaultPolicy
	}
	return r.PolicyFor(strings.ToLower(domain))
}

func (r *Registrar) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

func (r *Registrar) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}
