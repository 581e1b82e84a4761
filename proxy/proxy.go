// Package proxy is the RFC 3261 §16 proxy core: request validation, route
// processing, target determination through a chain of stages, forwarding
// with forking, and the response context that picks the best response.
// It runs stateful on top of transactions, or stateless (§16.11).
package proxy

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/flowtoken"
	"github.com/parley-sip/parley/gruu"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/registrar"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// ServerTx is the server transaction a request arrived in; responses to
// the request go through it so that retransmissions are handled.
type ServerTx interface {
	Respond(resp *sip.Message) error
}

// ClientTx is a client transaction the proxy started for one branch.
type ClientTx = outbound.ClientTx

// Transactions starts client transactions: the outbound service's, which
// the proxy uses too for the CANCELs of its branches.
type Transactions = outbound.Transactions

// Transport is what the proxy needs of the transport layer: sending, and
// which listener (address for Via and Record-Route) serves a destination.
// Its Send must not keep msg after it returns: stateless sends come from
// pooled buffers (wirebuf.go).
type Transport interface {
	transport.Sender
	ListenerFor(p transport.Proto, dst netip.Addr) *transport.ListenerInfo
	Listeners() []*transport.ListenerInfo
	ChooseProto(dst transport.Target, size int) transport.Proto
}

// ForkMode says how the proxy tries several contacts of one AOR.
type ForkMode int

// Fork modes. Auto is serial in q order when the contacts carry
// different q values (§16.6, "q-value" ordering), else parallel.
const (
	ForkAuto ForkMode = iota
	ForkParallel
	ForkSerial
)

// Config is the proxy's behaviour.
type Config struct {
	// Domains reports whether a domain is ours (its users are found in the
	// location service); nil makes every domain ours.
	Domains func(domain string) bool
	// Names reports whether a host is another name of this server (the
	// machine's host name, the configured aliases) beside its listen
	// addresses and localhost; nil knows no other.
	Names func(host string) bool
	// RecordRoute keeps the proxy on the path of dialogs it forwards.
	RecordRoute bool
	Fork        ForkMode
	// TimerC bounds how long an INVITE branch may stay provisional (§16.6 step 11).
	TimerC time.Duration
	// Stateless forwards without transactions (§16.11).
	Stateless bool
	// ServerHeader, when not empty, is sent in Server of local responses.
	ServerHeader string
	// Secret salts stateless branches, so that they cannot be predicted.
	Secret string
	// UDPFlowTimeout is how long a UDP outbound flow may go without a
	// STUN keepalive, once it has had one, before it counts as failed
	// (RFC 5626 §4.4.2): the Flow-Timer and a grace period. Zero never
	// judges a UDP flow by its keepalives.
	UDPFlowTimeout time.Duration
	// Clock runs Timer C; nil is the process's timing wheel. Tests use a
	// fake to make timers deterministic.
	Clock clock.Clock
	// Auth, when not nil, makes the auth stage demand digest credentials
	// as AuthPolicy says.
	Auth       *auth.Authenticator
	AuthPolicy auth.Policies
	// Users, when not nil, tells known subscribers from unknown users.
	Users Users
	// Trusted, when not nil, names sources the auth stage lets through
	// without credentials: gateways and other nodes that cannot answer a
	// challenge (security.trusted_skip_auth).
	Trusted func(src netip.Addr) bool
	// OpenRelay, when it returns true, forwards requests between any two
	// domains (proxy.relay: open). nil or false forwards only requests
	// from or to one of Domains, or from a RelayTrusted source, and
	// answers the rest 403 Relaying Denied. It is a func so that a
	// reload takes effect at once.
	OpenRelay func() bool
	// AllowEvents, when not nil, returns the event packages the server
	// itself serves (RFC 6665 §8.2.2), for the Allow-Events of its answer
	// to OPTIONS; "" sends none. Built once, like Stages.
	AllowEvents func() string
	// RelayTrusted, when not nil, names sources that may relay between
	// any domains: gateways, other nodes, an SBC (security.trusted).
	RelayTrusted func(src netip.Addr) bool
	// RegisterWorkers, when above 0, handles that many REGISTERs at once
	// off the reading goroutine: what a store that commits to disk needs
	// to group its commits. 0 handles each where it arrives.
	RegisterWorkers int
	// Stages are the request route, in order; nil is DefaultStages().
	Stages []Stage
	// Lifetime is the server's: when it ends every request's context
	// does. nil never ends.
	Lifetime context.Context
	// RequestTimeout bounds a request's context (0 is 32 s, 64*T1: no
	// client waits longer for an answer).
	RequestTimeout time.Duration
	// Outbound sends the branches; nil builds one on the proxy's
	// transport and transactions with the system's DNS.
	Outbound *outbound.Service
	// GRUU opens the temporary GRUUs the registrar issued (RFC 5627); nil
	// routes public GRUUs only, and answers a temporary one 404.
	GRUU *gruu.Issuer
	// FlowTokens signs the flow tokens of Record-Route (RFC 5626 §5.3);
	// nil record-routes without them.
	FlowTokens *flowtoken.Signer
}

// Proxy is the proxy core. It implements the three entry points the
// transaction layer calls (through an adapter in the server package).
type Proxy struct {
	cfg       atomic.Pointer[Config] // swapped whole by Reconfigure
	tp        Transport
	txs       Transactions
	store     location.Store
	registrar *registrar.Registrar
	out       *outbound.Service
	log       *slog.Logger
	chain     *chain
	lifetime  lifetime
	now       func() time.Time
	contexts  sync.Map // cancelKey → *responseContext of INVITEs in progress
	pending   atomic.Int64

	registering chan struct{} // REGISTERs in progress, when cfg.RegisterWorkers > 0
}

// Pending returns how many forwarded requests still wait for their final
// response, and REGISTERs for their commit: what a graceful shutdown lets
// finish.
func (p *Proxy) Pending() int { return int(p.pending.Load()) + len(p.registering) }

// New builds a proxy. txs may be nil when cfg.Stateless.
func New(cfg Config, tp Transport, txs Transactions, store location.Store, reg *registrar.Registrar, log *slog.Logger) *Proxy {
	if log == nil {
		log = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Default()
	}
	p := &Proxy{tp: tp, txs: txs, store: store, registrar: reg, log: log, out: cfg.Outbound, now: time.Now}
	if p.out == nil {
		p.out = outbound.New(outbound.Config{Transport: tp, Transactions: txs, Log: log})
	}
	stages := cfg.Stages
	if stages == nil {
		stages = DefaultStages()
	}
	p.chain = newChain(stages)
	p.lifetime.init(cfg.Lifetime, cfg.RequestTimeout)
	p.setConfig(cfg)
	if cfg.RegisterWorkers > 0 {
		p.registering = make(chan struct{}, cfg.RegisterWorkers)
	}
	return p
}

// Reconfigure applies a reloaded policy (domains, record-route, forking,
// Timer C, Server header, authentication, trusted sources) to requests
// that arrive from now on. What the proxy's running state was built
// around stays as New set it: Stateless, Secret (stateless branches
// already sent must still match), Clock, Users, RegisterWorkers, and the
// stage chain, the requests' lifetime and the outbound service.
func (p *Proxy) Reconfigure(cfg Config) {
	old := p.config()
	cfg.Stateless, cfg.Secret, cfg.Clock = old.Stateless, old.Secret, old.Clock
	cfg.Users, cfg.RegisterWorkers = old.Users, old.RegisterWorkers
	cfg.Stages, cfg.Lifetime, cfg.RequestTimeout, cfg.Outbound = old.Stages, old.Lifetime, old.RequestTimeout, old.Outbound
	cfg.AllowEvents = old.AllowEvents
	// The keys of GRUUs and flow tokens come from the data directory's
	// secret, fixed at start: what phones and dialogs hold must still open.
	cfg.GRUU, cfg.FlowTokens = old.GRUU, old.FlowTokens
	p.setConfig(cfg)
}

func (p *Proxy) setConfig(cfg Config) {
	if cfg.TimerC <= 0 {
		cfg.TimerC = 181 * time.Second // §16.6 step 11: more than 3 minutes
	}
	p.cfg.Store(&cfg)
}

// config is the policy in force; a request may see a reload between two
// stages, which no stage depends on.
func (p *Proxy) config() *Config { return p.cfg.Load() }

// ServeRequest runs a new request (any method but ACK) through the stages.
// tx is nil in stateless mode.
func (p *Proxy) ServeRequest(tx ServerTx, in *transport.Incoming) {
	p.serve(p.newRequest(tx, in, false))
}

// ServeACK routes an ACK that belongs to no INVITE server transaction: the
// ACK for a 2xx, which is end-to-end and forwarded statelessly (§16.11,
// §17.2.3).
func (p *Proxy) ServeACK(in *transport.Incoming) {
	p.serve(p.newRequest(nil, in, true))
}

// serve runs r through the stages and releases it to the transport when
// its forward ended there and then (Request.ended): stages call next on
// the goroutine they were called on, before they return, so when run
// returns nothing that saw the request still runs. Anything else is kept:
// a stage of another package may have handed it to a queue or a
// goroutine.
func (p *Proxy) serve(r *Request) {
	r.run()
	if r.ended {
		r.In.Release()
	}
}

// ServeStrayResponse forwards a response that matched no client
// transaction (§16.7 "statelessly"; with RFC 6026, 2xx retransmissions):
// if the top Via is ours it is removed and the response sent on to the
// next Via's address. Nothing keeps the response: it is released to the
// transport.
func (p *Proxy) ServeStrayResponse(in *transport.Incoming) {
	defer in.Release()
	resp := in.Msg
	top, err := resp.TopVia()
	if err != nil || !p.isOurVia(top) {
		p.log.Debug("proxy: dropping stray response", "status", resp.StatusCode())
		return
	}
	resp.PopVia()
	if _, err := resp.TopVia(); err != nil {
		return // it was for us alone
	}
	if p.config().Stateless {
		aliasWebPhone(resp, in)
	}
	dst, err := p.viaTarget(resp)
	if err != nil {
		p.log.Debug("proxy: stray response with unusable Via", "error", err)
		return
	}
	if err := p.sendWire(dst, resp); err != nil {
		p.log.Debug("proxy: forwarding stray response failed", "error", err)
	}
}
