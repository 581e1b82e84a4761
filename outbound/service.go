// Package outbound sends requests: "send this request to this URI". It
// finds where the URI's requests go (RFC 3263: NAPTR, SRV, A/AAAA) off
// the transport's reading goroutines, picks the transport, runs the
// request in a client transaction and, when a destination answers 503,
// times out or cannot be reached, tries the next one (RFC 3263 §4.3).
// The proxy's relay sends every branch through it; anything that
// originates requests (NOTIFY, B2BUA legs, REGISTER to a provider,
// OPTIONS to a gateway) can use Do.
package outbound

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// Transport is what the service needs of the transport layer: which
// listener sends to a destination (its address goes in Via), and which
// protocol suits a request of a size (§18.1.1).
type Transport interface {
	ListenerFor(p transport.Proto, dst netip.Addr) *transport.ListenerInfo
	ChooseProto(dst transport.Target, size int) transport.Proto
}

// ClientTx is a client transaction started for one destination.
type ClientTx interface {
	// Terminate ends the transaction without waiting for its timers.
	Terminate()
}

// Transactions starts client transactions. The transaction layer
// implements it; tests use a fake. onResponse gets every response, and a
// locally made 408 (timeout) or 503 (transport failure) when no answer
// will come.
type Transactions interface {
	Request(req *sip.Message, dst transport.Target, onResponse func(resp *sip.Message)) (ClientTx, error)
}

// Resolver finds the destinations of a URI (RFC 3263) and the address of
// a host. *DNS is the real one; tests give a fake.
type Resolver interface {
	Resolve(ctx context.Context, u *sip.URI) ([]transport.Target, error)
	ResolveHost(ctx context.Context, host string) (netip.Addr, error)
}

// Errors a flight fails with when no destination took the request.
var (
	// ErrUnreachable means every destination failed before a response:
	// no listener for its protocol, or a transport error.
	ErrUnreachable = errors.New("outbound: no destination could be reached")
	// ErrBusy means too many DNS lookups were in progress to start one more.
	ErrBusy = errors.New("outbound: too many DNS lookups in progress")
	// errNoListener means no listener can send to a destination.
	errNoListener = errors.New("outbound: no listener for the destination's transport")
)

// Config is what the service is built from.
type Config struct {
	Transport    Transport
	Transactions Transactions
	// Resolver is nil for DNS with the system's configuration.
	Resolver Resolver
	// MaxLookups bounds the DNS lookups in progress, each on a goroutine
	// of its own; a request that would start one more fails with ErrBusy
	// rather than wait. 0 is 256.
	MaxLookups int
	Log        *slog.Logger
}

// Service sends requests. It is safe for concurrent use.
type Service struct {
	tp      Transport
	txs     Transactions
	res     Resolver
	lookups chan struct{} // a slot per DNS lookup in progress
	log     *slog.Logger
}

// New builds a service from cfg.
func New(cfg Config) *Service {
	if cfg.Resolver == nil {
		cfg.Resolver = NewDNS()
	}
	if cfg.MaxLookups <= 0 {
		cfg.MaxLookups = 256
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Service{tp: cfg.Transport, txs: cfg.Transactions, res: cfg.Resolver,
		lookups: make(chan struct{}, cfg.MaxLookups), log: cfg.Log}
}

// Resolver returns the service's resolver.
func (s *Service) Resolver() Resolver { return s.res }

// Request is a request to send and where it goes.
type Request struct {
	// Msg is the request, owned by the service from now on. Unless Dest
	// is set it goes where its top Route says, else its Request-URI.
	Msg *sip.Message
	// Route, when not empty, is put in front of Msg's Route headers: a
	// preloaded route set (a provider's outbound proxy, a binding's Path).
	Route []string
	// Dest, when its Proto is set, is the only destination: the flow a
	// phone registered on. No DNS is asked.
	Dest transport.Target
	// Also lists further flows to the same phone (RFC 5626: the other
	// reg-ids of its instance), tried in order when Dest cannot be
	// reached or answers 503, 408 or 430.
	Also []transport.Target
	// Quiet logs an unreachable destination at debug, not warn: for a
	// caller that reports failures itself, once per change (a gateway's
	// health ping every 30 s would otherwise warn each time).
	Quiet bool
}

// Destinations returns where req goes, in the order to try them, when
// that needs no DNS: a Dest, or an IP address in the next hop's URI.
// ok is false when it needs DNS; then call Lookup, which does not block.
func (s *Service) Destinations(ctx context.Context, req *Request) (dsts []transport.Target, ok bool, err error) {
	if req.Dest.Proto != "" {
		return []transport.Target{req.Dest}, true, nil
	}
	prepareRoute(req)
	u, err := nextHop(req.Msg)
	if err != nil {
		return nil, true, err
	}
	if !literal(&u) {
		return nil, false, nil
	}
	dsts, err = s.res.Resolve(ctx, &u)
	return s.chooseProtos(req.Msg, &u, dsts), true, err
}

// Lookup resolves where req goes on a goroutine of its own, so that a
// slow name server holds up no transport reader, and calls then from
// that goroutine. It fails at once with ErrBusy when MaxLookups lookups
// are already in progress.
func (s *Service) Lookup(ctx context.Context, req Request, then func(dsts []transport.Target, err error)) {
	prepareRoute(&req)
	u, err := nextHop(req.Msg)
	if err != nil {
		then(nil, err)
		return
	}
	select {
	case s.lookups <- struct{}{}:
	default:
		then(nil, ErrBusy)
		return
	}
	go func() {
		defer func() { <-s.lookups }()
		dsts, err := s.res.Resolve(ctx, &u)
		then(s.chooseProtos(req.Msg, &u, dsts), err)
	}()
}

// prepareRoute puts the request's route set in front of its Route
// headers, once.
func prepareRoute(req *Request) {
	for i := len(req.Route) - 1; i >= 0; i-- {
		req.Msg.PrependHeader("Route", req.Route[i])
	}
	req.Route = nil
}

// nextHop is the URI a request goes to (§16.6 step 7, §8.1.2): its top
// Route, else its Request-URI.
func nextHop(m *sip.Message) (sip.URI, error) {
	if routes, _ := m.Routes(); len(routes) > 0 {
		return routes[0].URI, nil
	}
	return m.RequestURIParsed()
}

// chooseProtos lets the transport pick the protocol of destinations the
// URI did not pin (§18.1.1: a large request goes over TCP). A
// destination moved to TCP keeps its UDP self right after it: §18.1.1
// retries over UDP when that TCP connection is refused, and a phone
// registered over UDP often does not listen on TCP at all. dsts is
// returned as is when nothing moves.
func (s *Service) chooseProtos(m *sip.Message, u *sip.URI, dsts []transport.Target) []transport.Target {
	if _, pinned := URIProto(u); pinned {
		return dsts
	}
	size := m.Len() + 300 // room for our Via and Record-Route
	var out []transport.Target
	for i, d := range dsts {
		proto := s.tp.ChooseProto(d, size)
		if proto == d.Proto {
			if out != nil {
				out = append(out, d)
			}
			continue
		}
		if out == nil {
			out = append(make([]transport.Target, 0, len(dsts)+1), dsts[:i]...)
		}
		moved := d
		moved.Proto = proto
		out = append(out, moved, d)
	}
	if out == nil {
		return dsts
	}
	return out
}

// ListenerFor returns the listener a request to dst leaves from: the one
// dst names, else the transport's choice; nil when none can send there.
func (s *Service) ListenerFor(dst transport.Target) *transport.ListenerInfo {
	if dst.Listener != nil && dst.Listener.Proto == dst.Proto {
		return dst.Listener
	}
	return s.tp.ListenerFor(dst.Proto, dst.Addr.Addr())
}

// FromLayer gives the transaction layer as Transactions: a transport
// failure reaches onResponse as the layer's local 503, like any answer.
func FromLayer(l *transaction.Layer) Transactions { return layer{l} }

type layer struct{ l *transaction.Layer }

func (t layer) Request(req *sip.Message, dst transport.Target, onResponse func(*sip.Message)) (ClientTx, error) {
	tx, err := t.l.Request(req, dst, func(resp *sip.Message, _ error) { onResponse(resp) })
	if err != nil {
		return nil, err
	}
	return tx, nil
}
